// Fair share between tenants, through the API as a client sees it: an admin sets weights and
// quotas (PUT /tenants/{name}); tenants flood a small cluster from their own keys; the task
// history says who started when, GET /tenants and /metrics what each holds, and status_reason
// and the events why a task waits.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, runCli, spawnJarvis, startJarvis, type JarvisProcess } from './support/jarvis.ts';
import { TEST_IMAGE } from './support/env.ts';
import { removeLeftovers } from './support/leftovers.ts';

// Redis keys and task containers of this file's processes; first, so that it runs after the
// other after-hooks, once those processes are stopped.
afterAll(removeLeftovers);

const ADMIN = 'fair-share-admin-key-0123456789abcdef';
const TOKEN = 'fair-share-registration-token';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

function client(url: string, key: string) {
  const h = api(url);
  const auth = { authorization: `Bearer ${key}` };
  return {
    key,
    get: (p: string) => h.call('GET', p, undefined, auth),
    post: (p: string, b?: unknown) => h.call('POST', p, b, auth),
    put: (p: string, b?: unknown) => h.call('PUT', p, b, auth),
    async waitForTask(id: string, pred: (t: Json) => boolean, ms = 60_000): Promise<Json> {
      const until = Date.now() + ms;
      for (;;) {
        const r = await h.call('GET', `/tasks/${id}`, undefined, auth);
        if (r.status === 200 && pred(r.body)) return r.body;
        if (Date.now() > until) throw new Error(`task ${id} never reached the expected state; last: ${JSON.stringify(r.body)}`);
        await new Promise((res) => setTimeout(res, 100));
      }
    },
  };
}
type Client = ReturnType<typeof client>;

async function cluster(worker: string[], env: Record<string, string> = {}): Promise<{ server: JarvisProcess & { prefix: string }; stop(): Promise<void>; as(key: string): Client }> {
  const server = await startJarvis({ command: 'server', databaseUrl: null, env: { JARVIS_ADMIN_KEY: ADMIN, JARVIS_REGISTRATION_TOKEN: TOKEN, ...env } });
  const w = spawnJarvis(['worker', ...worker], {
    ...(process.env as Record<string, string>),
    JARVIS_REDIS_PREFIX: server.prefix,
    JARVIS_API_URL: server.url,
    JARVIS_REGISTRATION_TOKEN: TOKEN,
    JARVIS_WORKER_NAME: `fair-${server.prefix}`,
  });
  try {
    await w.waitFor(/worker: registered/, 30_000);
  } catch (err) {
    // Not returned, so the caller's afterAll cannot stop them.
    await w.shutdown(3_000);
    await server.shutdown(3_000);
    throw err;
  }
  return {
    server,
    as: (key: string) => client(server.url, key),
    async stop() {
      await w.stop();
      await server.stop();
    },
  };
}

async function keyFor(admin: Client, tenant: string, role = 'submitter'): Promise<string> {
  const r = await admin.post('/auth/keys', { name: `${tenant}-${role}`, role, tenant });
  expect(r.status).toBe(201);
  return r.body.key;
}

const sim = (ms: number, resources: Record<string, number> = {}) => ({ image: 'sim', resources: { cpu: 1, memory_mb: 64, ...resources }, labels: { 'jarvis.sim/duration_ms': String(ms) } });

async function submitMany(h: Client, n: number, body: (i: number) => unknown): Promise<string[]> {
  const r = await h.post('/tasks/batch', { tasks: Array.from({ length: n }, (_, i) => body(i)) });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.items.map((t: Json) => t.id);
}

async function allDone(h: Client, ids: string[], ms = 120_000): Promise<Json[]> {
  return Promise.all(ids.map((id) => h.waitForTask(id, (t) => ['succeeded', 'failed', 'timed_out', 'cancelled'].includes(t.status), ms)));
}

describe('two tenants flooding a two-slot worker with real containers', () => {
  let c: Awaited<ReturnType<typeof cluster>>;
  beforeAll(async () => {
    c = await cluster(['--executor', 'docker', '--cpu', '2', '--memory-mb', '2048', '--max-tasks', '2']);
  }, 90_000);
  afterAll(async () => c?.stop());

  it('takes turns: the second tenant starts as soon as a slot frees, and the first is told it is over its share', async () => {
    const admin = c.as(ADMIN);
    const alpha = c.as(await keyFor(admin, 'alpha'));
    const beta = c.as(await keyFor(admin, 'beta'));
    const task = (name: string) => ({ image: TEST_IMAGE, name, command: ['sleep', '1'], resources: { cpu: 1, memory_mb: 64 } });
    const a = await submitMany(alpha, 8, (i) => task(`a${i}`));
    await alpha.waitForTask(a[0], (t) => t.status === 'running');
    const b = await submitMany(beta, 8, (i) => task(`b${i}`));
    const done = [...(await allDone(alpha, a)), ...(await allDone(beta, b))];
    expect(done.every((t) => t.status === 'succeeded')).toBe(true);
    const order = done.sort((x, y) => Date.parse(x.started_at) - Date.parse(y.started_at)).map((t) => t.tenant[0]);
    // alpha held both slots when beta arrived: the next slot that frees is beta's, and from then
    // on neither tenant gets more than one start ahead of the other while both wait.
    const afterBeta = order.slice(order.indexOf('b'));
    expect(order.indexOf('b'), order.join('')).toBeLessThanOrEqual(3);
    let lead = 0;
    for (const who of afterBeta.slice(0, 12)) {
      lead += who === 'a' ? 1 : -1;
      expect(Math.abs(lead), order.join('')).toBeLessThanOrEqual(2);
    }
    // The wait was explained in words: some alpha task was held back by fair share.
    const events = await Promise.all(a.map(async (id) => (await alpha.get(`/tasks/${id}/events`)).body.items as Json[]));
    const reasons = events.flat().map((e) => String(e.reason));
    expect(reasons.some((r) => /^held back by fair share: tenant alpha holds 100% of the cluster's (cpu|task slots).*over its entitled 50% \(weight 1\) by 50%; 1 other tenant with work holds less and goes first/.test(r)), reasons.join('\n')).toBe(true);
  }, 180_000);
});

describe('weights, quotas and reasons on simulated nodes', () => {
  let c: Awaited<ReturnType<typeof cluster>>;
  let admin: Client;
  beforeAll(async () => {
    c = await cluster(['--executor', 'simulated', '--cpu', '4', '--memory-mb', '4096', '--max-tasks', '4']);
    admin = c.as(ADMIN);
  }, 90_000);
  afterAll(async () => c?.stop());

  it('an admin sets weight and quota; the answer shows usage, demand and shares', async () => {
    const put = await admin.put('/tenants/heavy', { weight: 3, quota: { cpu: 3.5, max_running: 10 } });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    expect(put.body).toMatchObject({
      name: 'heavy',
      weight: 3,
      quota: { cpu: 3.5, memory_mb: null, gpu: null, max_running: 10 },
      configured: true,
      usage: { cpu: 0, memory_mb: 0, gpu: 0, running: 0 },
      pending: { tasks: 0, cpu: 0, memory_mb: 0, gpu: 0 },
      dominant_share: 0,
      entitled_share: 1,
    });
    const unset = await admin.get('/tenants/nobody');
    expect(unset.body).toMatchObject({ name: 'nobody', weight: 1, configured: false, quota: { cpu: null, memory_mb: null, gpu: null, max_running: null } });
    const list = await admin.get('/tenants');
    expect(list.body.items.map((t: Json) => t.name)).toContain('heavy');
  });

  it('jarvis tenants shows and sets them through the API', async () => {
    const env = { JARVIS_API_URL: c.server.url, JARVIS_API_KEY: ADMIN };
    const set = await runCli(['tenants', 'set', 'gpu-team', '--weight', '2', '--gpu', '4', '--max-running', '8'], env);
    expect(set.stderr).toBe('');
    expect(set.stdout).toMatch(/^TENANT\s+WEIGHT\s+RUNNING\s+CPU\s+MEMORY_MB\s+GPU\s+QUEUED\s+SHARE\s+ENTITLED\ngpu-team\s+2\s+0\/8\s+0\/-\s+0\/-\s+0\/4\s+0\s+0% cpu\s+[\d.]+%\n$/);
    // A field not given keeps its value; "none" removes a limit.
    await runCli(['tenants', 'set', 'gpu-team', '--gpu', 'none'], env);
    expect((await admin.get('/tenants/gpu-team')).body).toMatchObject({ weight: 2, quota: { gpu: null, max_running: 8 } });
    const list = await runCli(['tenants'], env);
    expect(list.stdout).toMatch(/^gpu-team\s+2\s+0\/8/m);
    const bad = await runCli(['tenants', 'set', 'gpu-team', '--weight', '0'], env);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('--weight must be a number > 0');
    const viewer = await runCli(['tenants', 'set', 'gpu-team', '--weight', '3'], { ...env, JARVIS_API_KEY: await keyFor(admin, 'gpu-team', 'viewer') });
    expect(viewer.stderr).toMatch(/PUT \/tenants\/gpu-team answered 403/);
  });

  it('refuses bad settings with FastAPI 422s, and other roles and tenants as the rules say', async () => {
    for (const body of [{ weight: 0 }, { weight: -1 }, { weight: 'x' }, { quota: { cpu: -1 } }, { quota: { gpu: 1.5 } }, { quota: { nope: 1 } }, { extra: 1 }]) {
      const r = await admin.put('/tenants/heavy', body);
      expect(r.status, JSON.stringify(body)).toBe(422);
      expect(r.body.detail[0].loc[0]).toBe('body');
    }
    expect((await admin.put('/tenants/Bad Name', { weight: 1 })).status).toBe(422);
    const viewer = c.as(await keyFor(admin, 'light', 'viewer'));
    const operator = c.as(await keyFor(admin, 'light', 'operator'));
    expect((await viewer.put('/tenants/light', { weight: 5 })).status).toBe(403);
    expect((await operator.put('/tenants/light', { weight: 5 })).status).toBe(403);
    expect((await viewer.get('/tenants/light')).status).toBe(200);
    expect((await viewer.get('/tenants/heavy')).status).toBe(404);
    expect((await viewer.get('/tenants')).body.items.map((t: Json) => t.name)).toEqual(['light']);
    expect((await operator.get('/tenants/heavy')).status).toBe(200);
    expect((await api(c.server.url).get('/tenants')).status).toBe(401);
    expect((await admin.get('/tenants/heavy')).body.weight).toBe(3);
  });

  it('shares a full cluster 3:1 by weight, never past a quota, and says why each waits', async () => {
    await admin.put('/tenants/heavy', { weight: 3 });
    await admin.put('/tenants/light', { weight: 1 });
    await admin.put('/tenants/capped', { weight: 10, quota: { max_running: 1 } });
    const heavy = c.as(await keyFor(admin, 'heavy'));
    const light = c.as(await keyFor(admin, 'light'));
    const capped = c.as(await keyFor(admin, 'capped'));
    const h = await submitMany(heavy, 40, () => sim(300));
    const l = await submitMany(light, 40, () => sim(300));
    const k = await submitMany(capped, 4, () => sim(400));
    // While all three wait, sample what each holds.
    const samples: Record<string, number[]> = { heavy: [], light: [], capped: [] };
    let cappedReason = '';
    for (let i = 0; i < 25; i++) {
      const t = (await admin.get('/tenants')).body.items as Json[];
      const by = Object.fromEntries(t.map((x) => [x.name, x]));
      if (by.heavy?.pending.tasks > 0 && by.light?.pending.tasks > 0) {
        for (const n of ['heavy', 'light', 'capped']) samples[n].push(by[n]?.usage.running ?? 0);
      }
      expect(by.capped?.usage.running ?? 0).toBeLessThanOrEqual(1);
      if (!cappedReason) {
        const queued = (await capped.get(`/tasks?status=queued`)).body.items as Json[];
        cappedReason = queued.find((x) => x.status_reason?.startsWith('tenant capped'))?.status_reason ?? '';
      }
      await new Promise((r) => setTimeout(r, 150));
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
    expect(samples.heavy.length).toBeGreaterThan(5);
    // Four slots; capped holds at most one; heavy and light split the rest 3:1 (weights), within a task.
    const rest = mean(samples.heavy) + mean(samples.light);
    expect(mean(samples.heavy) / rest, JSON.stringify(samples)).toBeGreaterThan(0.6);
    expect(mean(samples.heavy) / rest, JSON.stringify(samples)).toBeLessThan(0.9);
    expect(mean(samples.light), JSON.stringify(samples)).toBeGreaterThan(0.3);
    expect(cappedReason).toBe('tenant capped at quota: running 1/1');
    const done = await allDone(capped, k);
    // The quota held: no two of capped's tasks ran at the same time.
    const spans = done.map((t) => [Date.parse(t.started_at), Date.parse(t.finished_at)]).sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < spans.length; i++) expect(spans[i][0]).toBeGreaterThanOrEqual(spans[i - 1][1] - 5);
    const history = (await Promise.all(k.map(async (id) => (await capped.get(`/tasks/${id}/events`)).body.items as Json[]))).flat();
    expect(history.map((e) => e.reason)).toContain('tenant capped at quota: running 1/1');
    await allDone(heavy, h);
    await allDone(light, l);
  }, 180_000);

  it('a task asking more than the whole quota waits with a reason that says so', async () => {
    await admin.put('/tenants/tiny', { quota: { cpu: 1 } });
    const tiny = c.as(await keyFor(admin, 'tiny'));
    const [id] = await submitMany(tiny, 1, () => sim(10, { cpu: 2 }));
    const t = await tiny.waitForTask(id, (x) => x.status_reason?.startsWith('tenant tiny at quota'), 15_000);
    expect(t.status).toBe('queued');
    expect(t.status_reason).toBe('tenant tiny at quota: this task asks more than the whole quota (cpu 2 > 1); it waits until an admin raises it (PUT /tenants/tiny)');
    // Raised: nothing wakes the scheduler for a quota, but its failsafe sees the tenants changed
    // (dispatcher.lookAgainIfRoomChanged) and places the task within a second or two, well before
    // the failsafe's every-10-s look that does not check for changes.
    const raisedAt = Date.now();
    await admin.put('/tenants/tiny', { quota: { cpu: 2 } });
    const done = await tiny.waitForTask(id, (x) => x.status === 'succeeded', 15_000);
    expect(new Date(done.scheduled_at).getTime() - raisedAt).toBeLessThan(5_000);
  });

  it('exports per-tenant usage, shares and pending demand by shape', async () => {
    const light = c.as(await keyFor(admin, 'light'));
    const ids = await submitMany(light, 30, () => sim(400, { cpu: 2, memory_mb: 512 }));
    const text: string = await (await fetch(`${c.server.url}/metrics`)).text();
    expect(text).toMatch(/^jarvis_tenant_weight\{tenant="light"\} 1$/m);
    expect(text).toMatch(/^jarvis_tenant_entitled_share\{tenant="light"\} [\d.]+$/m);
    expect(text).toMatch(/^jarvis_tenant_dominant_share\{tenant="light"\} [\d.]+$/m);
    expect(text).toMatch(/^jarvis_tenant_usage\{tenant="light",resource="cpu"\} [\d.]+$/m);
    expect(text).toMatch(/^jarvis_tenant_pending_tasks\{tenant="light",cpu="le_2",memory_mb="le_1024",gpu="le_0"\} \d+$/m);
    expect(text).toMatch(/^jarvis_tenant_pending_demand\{tenant="light",resource="memory_mb"\} \d+$/m);
    await allDone(light, ids);
  }, 120_000);
});

describe('a task bigger than any slot that frees, against a tenant with a backlog of small ones', () => {
  let c: Awaited<ReturnType<typeof cluster>>;
  beforeAll(async () => {
    // Room is kept for a task once it has waited 2 s (the default's 30 s would outlast alpha's backlog).
    c = await cluster(['--executor', 'simulated', '--cpu', '4', '--memory-mb', '4096', '--max-tasks', '4'], { JARVIS_KEEP_ROOM_AFTER_SECONDS: '2' });
  }, 90_000);
  afterAll(async () => c?.stop());

  it("starts beta's 4-CPU task once it has waited 2 s and alpha's tasks running then end, while alpha still has a backlog, and says room is kept for it", async () => {
    const admin = c.as(ADMIN);
    const alpha = c.as(await keyFor(admin, 'alpha'));
    const beta = c.as(await keyFor(admin, 'beta'));
    // 60 one-CPU tasks of 0.4–0.9 s, staggered so that the four slots free one at a time:
    // about 10 s of backlog on four CPUs.
    const a = await submitMany(alpha, 60, (i) => sim(400 + ((i * 137) % 500)));
    for (const until = Date.now() + 15_000; ; ) {
      if ((await admin.get('/tenants/alpha')).body.usage?.running === 4) break;
      if (Date.now() > until) throw new Error('alpha never held the four CPUs');
      await new Promise((r) => setTimeout(r, 50));
    }
    const [big] = await submitMany(beta, 1, () => sim(200, { cpu: 4 }));
    // For its first 2 s it waits for room, as any task, and alpha's tasks take the CPUs that free.
    const young = await beta.waitForTask(big, (t) => /^no node fits: /.test(t.status_reason ?? ''), 5_000);
    expect(young.status_reason).toMatch(/; tasks that fit take the room it cannot use until it has waited 2 s \(scheduler\.keep_room_after_seconds\), then room is kept for it if it still goes first$/);
    // Before session 32: each freed CPU went to alpha's next task (beta's did not fit in one), so
    // beta started only once alpha's backlog was gone, ~10 s later. Now the node is kept for it.
    const done = await beta.waitForTask(big, (t) => t.status === 'succeeded', 30_000);
    const waited = Date.parse(done.started_at) - Date.parse(done.created_at);
    const alphaTasks = await Promise.all(a.map(async (id) => (await alpha.get(`/tasks/${id}`)).body as Json));
    const startedAfter = alphaTasks.filter((t) => t.status === 'queued' || (t.started_at && Date.parse(t.started_at) >= Date.parse(done.finished_at))).length;
    expect(startedAfter, `alpha's tasks still waiting when beta's ended (beta waited ${waited} ms)`).toBeGreaterThanOrEqual(20);
    // 2 s, then at most the four running tasks' time (0.9 s), plus reports and batches.
    expect(waited).toBeGreaterThanOrEqual(2_000);
    expect(waited).toBeLessThan(6_000);
    const events = (await beta.get(`/tasks/${big}/events`)).body.items as Json[];
    const reasons = events.map((e) => String(e.reason));
    expect(
      reasons.some((r) => /^waiting for room kept for it on node fair-\S+: it lacks [\d.]+ CPU there until (the task|enough of the \d tasks) placed on it end; no other task is placed in that room meanwhile$/.test(r)),
      reasons.join('\n'),
    ).toBe(true);
    await allDone(alpha, a);
  }, 120_000);
});
