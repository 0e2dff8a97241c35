// The control plane killed with SIGKILL in the middle of a workflow and restarted: the worker
// keeps running and reporting through Redis, the new control plane picks up where the old one
// stopped, and every task runs to success exactly once — no child released twice, none forgotten.
import { afterAll, afterEach, expect, it } from 'vitest';
import { createTestDatabase } from './support/database.ts';
import { TEST_IMAGE } from './support/env.ts';
import { api, spawnJarvis, startJarvis, uniquePrefix } from './support/jarvis.ts';
import { freePort } from './support/services.ts';
import { removeLeftovers } from './support/leftovers.ts';

// Redis keys and task containers of this file's processes; first, so that it runs after the
// other after-hooks, once those processes are stopped.
afterAll(removeLeftovers);

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

it('finishes a workflow exactly once across a control-plane SIGKILL', async () => {
  const db = await createTestDatabase();
  cleanups.push(() => db.drop());
  const prefix = uniquePrefix();
  const port = String(await freePort());
  const serverEnv = { PORT: port, JARVIS_HEARTBEAT_SECONDS: '1' };
  const first = await startJarvis({ command: 'server', databaseUrl: db.url, prefix, env: serverEnv });
  cleanups.push(() => first.stop('SIGKILL'));
  const worker = spawnJarvis(['worker', '--max-tasks', '4'], {
    ...(process.env as Record<string, string>),
    JARVIS_REDIS_PREFIX: prefix,
    JARVIS_API_URL: first.url,
    JARVIS_WORKER_NAME: `w-${prefix}`,
    JARVIS_HEARTBEAT_SECONDS: '1',
  });
  cleanups.push(() => worker.stop());
  await worker.waitFor(/worker: registered/, 30_000);
  const http = api(first.url);

  // Three chains of four steps, then one task that needs the end of every chain.
  const tasks = [];
  for (const chain of ['a', 'b', 'c']) {
    for (let step = 1; step <= 4; step++) {
      tasks.push({
        key: `${chain}${step}`,
        image: TEST_IMAGE,
        command: `sleep 0.3; echo ${chain}${step}`,
        depends_on: step > 1 ? [`${chain}${step - 1}`] : [],
        resources: { cpu: 0.1, memory_mb: 32 },
      });
    }
  }
  tasks.push({ key: 'end', image: TEST_IMAGE, command: 'echo end', depends_on: ['a4', 'b4', 'c4'], resources: { cpu: 0.1, memory_mb: 32 } });
  const r = await http.post('/workflows', { name: 'crash', tasks });
  expect(r.status).toBe(201);
  const id = r.body.id;

  // Kill the control plane once a few tasks are done and others are running.
  for (const until = Date.now() + 60_000; ; ) {
    const wf = (await http.get(`/workflows/${id}`)).body;
    const succeeded = wf.tasks.filter((t: { status: string }) => t.status === 'succeeded').length;
    if (succeeded >= 3) break;
    if (Date.now() > until) {
      const statuses = wf.tasks.map((t: { workflow_key: string; status: string }) => `${t.workflow_key}:${t.status}`).join(' ');
      throw new Error(`waited 60 s for 3 of the workflow's tasks to succeed; they are ${statuses}\n--- server:\n${first.output().slice(-3000)}`);
    }
    await new Promise((res) => setTimeout(res, 50));
  }
  await first.stop('SIGKILL');
  await new Promise((res) => setTimeout(res, 1500)); // the worker goes on, reporting into Redis

  const second = await startJarvis({ command: 'server', databaseUrl: db.url, prefix, env: serverEnv });
  cleanups.push(() => second.stop());
  const until = Date.now() + 90_000;
  let wf = (await http.get(`/workflows/${id}`)).body;
  while (wf.status === 'running' && Date.now() < until) {
    await new Promise((res) => setTimeout(res, 200));
    wf = (await http.get(`/workflows/${id}`)).body;
  }
  expect(wf.status).toBe('succeeded');
  expect(wf.tasks).toHaveLength(13);
  for (const t of wf.tasks) {
    expect(t, t.workflow_key).toMatchObject({ status: 'succeeded', attempts: 1 });
    const events = (await http.get(`/tasks/${t.id}/events`)).body.items.map((e: { status: string }) => e.status);
    // Stored, released once, started once, finished once.
    expect(events, t.workflow_key).toEqual(['pending', 'queued', 'scheduled', 'running', 'succeeded']);
    expect((await http.get(`/tasks/${t.id}/logs`)).body.logs).toBe(`${t.workflow_key}\n`);
  }
  const end = wf.tasks.find((t: { workflow_key: string }) => t.workflow_key === 'end');
  for (const t of wf.tasks) if (t !== end) expect(Date.parse(end.started_at)).toBeGreaterThanOrEqual(Date.parse(t.finished_at));
}, 150_000);
