// A tenant policy set by an admin in the config reaches the container: tenant "default" may use
// the host's network here, so its task sees the host's interfaces (not only "lo", as with
// network "none"); without the policy the same task is refused at submit, naming the rule.
// The image allow-list (image_prefixes) as configured now, wherever a run is made: an admin
// narrows it and restarts the server, and a schedule made under the old policy, its ticks and
// triggers, a task's retry and a workflow's retry are refused with the rule named, and what was
// accepted before but not yet placed fails, saying why, instead of running; a prefix
// matches on a boundary ("registry.local" never admits "registry.local.evil.io/x").
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/database.ts';
import { api, startJarvis, tempDir, uniquePrefix } from './support/jarvis.ts';
import { TEST_IMAGE } from './support/env.ts';
import { removeLeftovers } from './support/leftovers.ts';

// Redis keys and task containers of this file's processes; first, so that it runs after the
// other after-hooks, once those processes are stopped.
afterAll(removeLeftovers);

describe('tenant policy: host network', () => {
  const running: Array<{ stop(): Promise<unknown> }> = [];
  afterAll(async () => {
    for (const p of running) await p.stop();
  });

  it('runs a host-network task of a tenant allowed it, with the host network', async () => {
    const file = join(tempDir(), 'policy.yaml');
    writeFileSync(file, 'tenants:\n  policies:\n    default: {allow_host_network: true}\n');
    const jarvis = await startJarvis({ databaseUrl: null, env: { JARVIS_CONFIG: file } });
    running.push(jarvis);
    const http = api(jarvis.url);
    const t = await http.post('/tasks', { image: TEST_IMAGE, command: 'ls /sys/class/net', network: 'host' });
    expect(t.status).toBe(201);
    const done = await http.waitForTask(t.body.id, (x) => ['succeeded', 'failed'].includes(x.status));
    expect(done.status, JSON.stringify(done)).toBe('succeeded');
    const out = (await http.get(`/tasks/${t.body.id}/logs`)).body.logs as string;
    expect(out.split('\n').filter(Boolean).some((n) => n !== 'lo')).toBe(true);
  });

  it('refuses the same task without the policy', async () => {
    const jarvis = await startJarvis({ databaseUrl: null });
    running.push(jarvis);
    const r = await api(jarvis.url).post('/tasks', { image: TEST_IMAGE, command: 'true', network: 'host' });
    expect(r.status).toBe(403);
    expect(r.body.detail).toContain('tenants.policies.default.allow_host_network');
  });
});

const ADMIN = 'tenant-policy-admin-key-0123456789abcdef';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A config file whose only setting is tenant alpha's image allow-list (none: any image). */
function policyFile(prefixes: string[] | null): string {
  const file = join(tempDir(), 'policy.yaml');
  const alpha = prefixes ? `    alpha:\n      image_prefixes: [${prefixes.map((p) => JSON.stringify(p)).join(', ')}]\n` : '';
  writeFileSync(file, `tenants:\n  policies:\n${alpha || '    "*": {}\n'}`);
  return file;
}

describe('the image allow-list, narrowed after the work was accepted', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let server: Awaited<ReturnType<typeof startJarvis>> | null = null;
  const prefix = uniquePrefix();
  const start = async (prefixes: string[] | null) => {
    await server?.stop();
    server = await startJarvis({ command: 'server', databaseUrl: db.url, prefix, env: { JARVIS_ADMIN_KEY: ADMIN, JARVIS_CONFIG: policyFile(prefixes) } });
  };
  const as = (key: string) => (method: string, path: string, body?: unknown) => api(server!.url).call(method, path, body, { authorization: `Bearer ${key}` });

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  it('refuses the runs and retries the policy of the day refuses, saying why; prefixes match on a boundary', async () => {
    // Under a loose policy (any image): a schedule of each kind, a task and a workflow, cancelled.
    await start(null);
    const alice = (await as(ADMIN)('POST', '/auth/keys', { name: 'alice', role: 'submitter', tenant: 'alpha' })).body.key as string;
    const call = as(alice);
    const task = { image: 'busybox:1.36', command: 'true' };
    const nightly = await call('POST', '/schedules', { name: 'nightly', cron: '0 2 * * *', task });
    expect(nightly.status).toBe(201);
    const flow = await call('POST', '/schedules', { name: 'flow', cron: '0 2 * * *', workflow: { tasks: [{ key: 'extract', ...task }] } });
    expect(flow.status).toBe(201);
    // Every second, paused until the policy is narrowed: a task (ticked with others in one
    // transaction) and a workflow (one by one).
    const often = await call('POST', '/schedules', { name: 'often', cron: '* * * * * *', paused: true, task });
    expect(often.status).toBe(201);
    const oftenFlow = await call('POST', '/schedules', { name: 'often-flow', cron: '* * * * * *', paused: true, workflow: { tasks: [{ key: 'extract', ...task }] } });
    expect(oftenFlow.status).toBe(201);
    const t = (await call('POST', '/tasks', task)).body;
    expect((await call('POST', `/tasks/${t.id}/cancel`)).status).toBe(200);
    const wf = (await call('POST', '/workflows', { tasks: [{ key: 'extract', ...task }] })).body;
    expect((await call('POST', `/workflows/${wf.id}/cancel`)).status).toBe(200);
    // And a task and a workflow left unfinished (no worker: queued, running).
    const waiting = (await call('POST', '/tasks', task)).body;
    const going = (await call('POST', '/workflows', { tasks: [{ key: 'extract', ...task }] })).body;
    expect((await call('POST', `/schedules/${nightly.body.id}/trigger`)).status).toBe(201); // allowed today

    // The admin narrows alpha's images to its registry and restarts the server.
    await start(['registry.local']);
    const refusal = 'image "busybox:1.36" is not allowed for tenant alpha: images must start with "registry.local", a prefix not ending in "/", ":" or "@" followed by one of them or by nothing (tenants.policies.alpha.image_prefixes)';
    // Before: the trigger made a run of the banned image (201), and so did each tick.
    const trig = await call('POST', `/schedules/${nightly.body.id}/trigger`);
    expect(trig.status).toBe(403);
    expect(trig.body).toEqual({ detail: refusal });
    expect((await call('GET', `/schedules/${nightly.body.id}`)).body.last_error).toBe(`a run triggered by hand was refused: ${refusal}`);
    const trigFlow = await call('POST', `/schedules/${flow.body.id}/trigger`);
    expect(trigFlow.status).toBe(403);
    expect(trigFlow.body.detail).toBe(`task "extract": ${refusal}`);
    expect((await call('GET', `/workflows?schedule_id=${flow.body.id}`)).body.total).toBe(0);
    expect((await call('GET', `/tasks?schedule_id=${nightly.body.id}`)).body.total).toBe(1); // yesterday's only, below

    // What was accepted before and not yet placed fails instead of running the banned image
    // (before: it ran once a node came): the task left queued, the workflow's task, and the
    // scheduled run triggered yesterday.
    const placedNot = `${refusal}; checked again before placing it, the policy having changed since the task was accepted`;
    const yesterday = (await call('GET', `/tasks?schedule_id=${nightly.body.id}`)).body.items[0];
    for (const id of [waiting.id, going.tasks[0].id, yesterday.id]) {
      let x = (await call('GET', `/tasks/${id}`)).body;
      for (const until = Date.now() + 15_000; x.status === 'queued' && Date.now() < until; ) {
        await sleep(100);
        x = (await call('GET', `/tasks/${id}`)).body;
      }
      expect(x.status, JSON.stringify(x)).toBe('failed');
      expect(x.error).toBe(placedNot);
    }
    expect((await call('GET', `/workflows/${going.id}`)).body.status).toBe('failed');

    // The ticker: each tick is handled without a run, and last_error says why.
    for (const [sched, what] of [[often.body.id, ''], [oftenFlow.body.id, 'task "extract": ']]) {
      expect((await call('PATCH', `/schedules/${sched}`, { paused: false })).status).toBe(200);
      let s = (await call('GET', `/schedules/${sched}`)).body;
      for (const until = Date.now() + 15_000; !s.last_error && Date.now() < until; ) {
        await sleep(200);
        s = (await call('GET', `/schedules/${sched}`)).body;
      }
      expect(s.last_error).toMatch(/^the run of \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z was refused: /);
      expect(s.last_error.replace(/^the run of \S+ was refused: /, '')).toBe(`${what}${refusal}`);
      const ticked = Date.parse(s.last_tick_at);
      await sleep(2_500);
      s = (await call('GET', `/schedules/${sched}`)).body;
      expect(Date.parse(s.last_tick_at)).toBeGreaterThan(ticked); // handled, not tried again and again
      expect((await call('GET', `/tasks?schedule_id=${sched}`)).body.total).toBe(0);
      expect((await call('GET', `/workflows?schedule_id=${sched}`)).body.total).toBe(0);
      await call('PATCH', `/schedules/${sched}`, { paused: true });
    }

    // Retries: a 403 naming the rule, as a submit of the same task gets; nothing changes.
    const retry = await call('POST', `/tasks/${t.id}/retry`);
    expect(retry.status).toBe(403);
    expect(retry.body).toEqual({ detail: refusal });
    expect((await call('POST', '/tasks', task)).body).toEqual({ detail: refusal });
    expect((await call('GET', `/tasks/${t.id}`)).body.status).toBe('cancelled');
    const wfRetry = await call('POST', `/workflows/${wf.id}/retry`);
    expect(wfRetry.status).toBe(403);
    expect(wfRetry.body.detail).toBe(`task "extract": ${refusal}`);
    expect((await call('GET', `/workflows/${wf.id}`)).body.status).toBe('cancelled');
    // Work that cannot be retried is a conflict whatever its image (before: 403 for the task).
    const allowed = { image: 'registry.local/team/app:1', command: 'true' };
    const queued = (await call('POST', '/tasks', allowed)).body;
    const early = await call('POST', `/tasks/${queued.id}/retry`);
    expect(early.status).toBe(409);
    expect(early.body.detail).toBe('Task is queued; only failed, timed_out or cancelled tasks can be retried');
    const runningFlow = (await call('POST', '/workflows', { tasks: [{ key: 'extract', ...allowed }] })).body;
    const earlyFlow = await call('POST', `/workflows/${runningFlow.id}/retry`);
    expect(earlyFlow.status).toBe(409);
    expect(earlyFlow.body.detail).toMatch(/^Workflow is still running/);

    // The prefix "registry.local" admits its own images, on a boundary only.
    for (const image of ['registry.local/team/app:1', 'registry.local:5000/app']) {
      expect((await call('POST', '/tasks', { image, command: 'true' })).status, image).toBe(201);
    }
    // The last is Docker Hub's library/registry.local, as the engine reads a name with no "/".
    for (const image of ['registry.local.evil.io/x', 'registry.localhost/x', 'registry.local@sha256:' + 'a'.repeat(64)]) {
      const r = await call('POST', '/tasks', { image, command: 'true' });
      expect(r.status, image).toBe(403);
      expect(r.body.detail).toMatch(new RegExp(`^image "${image.replace(/\./g, '\\.')}" is not allowed for tenant alpha`));
      expect((await call('POST', '/schedules', { name: 'evil', cron: '0 2 * * *', task: { image } })).status).toBe(403);
    }
  }, 120_000);
});
