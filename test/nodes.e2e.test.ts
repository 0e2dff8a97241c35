// Nodes through the API: registration with a token, drain/resume/delete, and batch submission,
// with simulated workers (same queues and reports as real ones, no containers).
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisNames } from '../src/scheduler/queues.ts';
import { REDIS_URL } from './support/env.ts';
import { api, spawnJarvis, spawnSimulatedNodes, startJarvis, type JarvisProcess } from './support/jarvis.ts';
import { removeLeftovers } from './support/leftovers.ts';
import { cuttableProxy } from './support/proxies.ts';

// Redis keys and task containers of this file's processes; first, so that it runs after the
// other after-hooks, once those processes are stopped.
afterAll(removeLeftovers);

const TOKEN = 'let-me-in';
let server: JarvisProcess & { prefix: string };
let worker: ReturnType<typeof spawnJarvis>;
let http: ReturnType<typeof api>;

beforeAll(async () => {
  server = await startJarvis({ command: 'server', databaseUrl: null, env: { JARVIS_REGISTRATION_TOKEN: TOKEN } });
  http = api(server.url);
  worker = spawnJarvis(['worker', '--executor', 'simulated', '--name', 'sim-1', '--cpu', '4', '--memory-mb', '4096', '--max-tasks', '10'], {
    ...(process.env as Record<string, string>),
    JARVIS_REDIS_PREFIX: server.prefix,
    JARVIS_API_URL: server.url,
    JARVIS_REGISTRATION_TOKEN: TOKEN,
    JARVIS_HEARTBEAT_SECONDS: '1',
  });
  await worker.waitFor(/worker: registered/, 30_000);
});
afterAll(async () => {
  await worker?.stop();
  await server?.stop();
});

const sim = (ms: number, extra: Record<string, unknown> = {}) => ({ image: 'sim', labels: { 'jarvis.sim/duration_ms': String(ms) }, ...extra });

describe('nodes', () => {
  it('refuses registration without the token, and accepts it with', async () => {
    const body = { name: 'manual', hostname: 'h', capacity: { cpu: 1, memory_mb: 512, max_tasks: 1 } };
    const no = await http.post('/nodes/register', body);
    expect(no.status).toBe(401);
    expect(no.body.detail).toMatch(/registration token is required/);
    expect((await http.post('/nodes/register', body, { authorization: 'Bearer wrong' })).status).toBe(401);
    const yes = await http.post('/nodes/register', body, { authorization: `Bearer ${TOKEN}` });
    expect(yes.status).toBe(201);
    expect(yes.body).toMatchObject({ name: 'manual', status: 'available', capacity: { cpu: 1, memory_mb: 512, gpu: 0, max_tasks: 1 } });
    expect(yes.body.token).toMatch(/^[0-9a-f]{48}$/);
    // Heartbeats are the node's own: its token is required (the registration token is not it).
    const beat = { cpu_percent: 1, memory_used_mb: 10, running_task_ids: [], engine: 'ok' };
    const anon = await http.post(`/nodes/${yes.body.id}/heartbeat`, beat);
    expect(anon.status).toBe(401);
    expect(anon.body.detail).toMatch(/node's token is required/);
    expect((await http.post(`/nodes/${yes.body.id}/heartbeat`, beat, { authorization: `Bearer ${TOKEN}` })).status).toBe(401);
    const own = await http.post(`/nodes/${yes.body.id}/heartbeat`, beat, { authorization: `Bearer ${yes.body.token}` });
    expect(own.status).toBe(200);
    expect(own.body).toMatchObject({ id: yes.body.id, cpu_percent: 1, memory_used_mb: 10 });
    // What it says it runs: listed by GET /nodes/{id}, counted by the metrics.
    const running = ['t-1', 't-2', 't-3'];
    expect((await http.post(`/nodes/${yes.body.id}/heartbeat`, { ...beat, running_task_ids: running }, { authorization: `Bearer ${yes.body.token}` })).status).toBe(200);
    expect((await http.get(`/nodes/${yes.body.id}`)).body.running_tasks).toEqual(running);
    const metrics = await fetch(`${server.url}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/^jarvis_node_tasks_running\{node="manual"\} 3$/m);
    // Never heartbeats: after the configured silence it is no longer offered work. Remove it.
    expect((await http.call('DELETE', `/nodes/${yes.body.id}`)).status).toBe(204);
    expect((await http.get(`/nodes/${yes.body.id}`)).status).toBe(404);
  });

  it('places nothing on a draining node, says so, and places again once resumed', async () => {
    const node = (await http.get('/nodes')).body.items.find((n: { name: string }) => n.name === 'sim-1');
    const drained = await http.post(`/nodes/${node.id}/drain`);
    expect(drained.status).toBe(200);
    expect(drained.body.status).toBe('draining');
    const t = await http.post('/tasks', sim(10));
    const waiting = await http.waitForTask(t.body.id, (x) => /draining/.test(x.status_reason ?? ''));
    expect(waiting.status).toBe('queued');
    expect(waiting.status_reason).toBe('no node fits: 1 node, 1 draining');
    // Heartbeats keep it draining.
    await new Promise((r) => setTimeout(r, 1500));
    expect((await http.get(`/nodes/${node.id}`)).body.status).toBe('draining');
    expect((await http.post(`/nodes/${node.id}/resume`)).body.status).toBe('available');
    expect((await http.waitForTask(t.body.id, (x) => x.status === 'succeeded')).node_id).toBe(node.id);
  });

  it('places a waiting task on a node that came back through its own heartbeat (no other event)', async () => {
    // Played over HTTP: a node whose engine was unreachable (unhealthy) says it is back. Nothing
    // wakes the scheduler for that; its failsafe sees the nodes changed and places the task.
    const reg = await http.post('/nodes/register', { name: 'revived', hostname: 'h', capacity: { cpu: 1, memory_mb: 512, max_tasks: 1 }, labels: { pool: 'revived' } }, { authorization: `Bearer ${TOKEN}` });
    expect(reg.status).toBe(201);
    const beat = (engine: string) => http.post(`/nodes/${reg.body.id}/heartbeat`, { cpu_percent: 1, memory_used_mb: 10, running_task_ids: [], engine }, { authorization: `Bearer ${reg.body.token}` });
    expect((await beat('unreachable')).body.status).toBe('unhealthy');
    const t = await http.post('/tasks', sim(10, { node_selector: { pool: 'revived' } }));
    const waiting = await http.waitForTask(t.body.id, (x) => /unhealthy/.test(x.status_reason ?? ''));
    expect(waiting.status).toBe('queued');
    await new Promise((r) => setTimeout(r, 1500)); // past a failsafe look that found nothing changed
    const backAt = Date.now();
    expect((await beat('ok')).body.status).toBe('available');
    const placed = await http.waitForTask(t.body.id, (x) => x.status === 'scheduled', 15_000);
    expect(placed.node_id).toBe(reg.body.id);
    expect(new Date(placed.scheduled_at).getTime() - backAt).toBeLessThan(5_000);
    expect((await http.post(`/tasks/${t.body.id}/cancel`)).status).toBe(200);
    await http.waitForTask(t.body.id, (x) => x.status === 'cancelled');
    // Out of the way of the other tests' tasks. Its inbox in Redis goes with it.
    const redis = new Redis(REDIS_URL);
    try {
      const inbox = redisNames(server.prefix).nodeInbox(reg.body.id);
      expect(await redis.exists(inbox)).toBe(1);
      expect((await http.call('DELETE', `/nodes/${reg.body.id}`)).status).toBe(204);
      expect(await redis.exists(inbox)).toBe(0);
    } finally {
      redis.disconnect();
    }
  });

  it('refuses to delete a node that has tasks placed on it', async () => {
    const node = (await http.get('/nodes')).body.items.find((n: { name: string }) => n.name === 'sim-1');
    const t = await http.post('/tasks', sim(60_000));
    await http.waitForTask(t.body.id, (x) => x.status === 'running');
    const del = await http.call('DELETE', `/nodes/${node.id}`);
    expect(del.status).toBe(409);
    expect(del.body.detail).toMatch(/has 1 task\(s\) placed on it: drain it/);
    expect((await http.get(`/nodes/${node.id}`)).body.allocated).toMatchObject({ tasks: 1, cpu: 1, memory_mb: 256 });
    await http.post(`/tasks/${t.body.id}/cancel`);
    expect((await http.get(`/nodes/${node.id}`)).body.allocated).toMatchObject({ tasks: 0, cpu: 0, memory_mb: 0 });
  });
});

describe('POST /tasks/batch', () => {
  it('accepts a batch in order', async () => {
    const r = await http.post('/tasks/batch', { tasks: [sim(1, { name: 'one' }), sim(1, { name: 'two', priority: 'high' }), sim(1, { name: 'three' })] });
    expect(r.status).toBe(201);
    expect(r.body.items.map((t: { name: string }) => t.name)).toEqual(['one', 'two', 'three']);
    for (const t of r.body.items) expect((await http.waitForTask(t.id, (x) => x.status === 'succeeded')).attempts).toBe(1);
  });

  it('stores nothing when one entry is invalid, pointing at it', async () => {
    const before = (await http.get('/tasks?limit=1')).body.total;
    const r = await http.post('/tasks/batch', { tasks: [sim(1), { labels: {} }, sim(1)] });
    expect(r.status).toBe(422);
    expect(r.body.detail).toEqual([{ type: 'missing', loc: ['body', 'tasks', 1, 'image'], msg: 'Field required', input: { labels: {} } }]);
    expect((await http.get('/tasks?limit=1')).body.total).toBe(before);
  });

  it('retries a failed task on request (a new attempt), and refuses to retry a running one', async () => {
    const t = await http.post('/tasks', { image: 'sim', labels: { 'jarvis.sim/exit_code': '1' } });
    await http.waitForTask(t.body.id, (x) => x.status === 'failed');
    const again = await http.post(`/tasks/${t.body.id}/retry`);
    expect(again.status).toBe(200);
    expect(again.body.status).toBe('queued');
    const done = await http.waitForTask(t.body.id, (x) => x.status === 'failed' && x.attempts === 2);
    expect(done.exit_code).toBe(1);
    const long = await http.post('/tasks', sim(60_000));
    await http.waitForTask(long.body.id, (x) => x.status === 'running');
    const refused = await http.post(`/tasks/${long.body.id}/retry`);
    expect(refused.status).toBe(409);
    expect(refused.body.detail).toBe('Task is running; only failed, timed_out or cancelled tasks can be retried');
    await http.post(`/tasks/${long.body.id}/cancel`);
  });
});

describe('placement strategies, with many simulated nodes in one process', () => {
  for (const strategy of ['binpack', 'spread'] as const) {
    it(`${strategy}: ${strategy === 'binpack' ? 'fills one node before the next' : 'puts each task on the emptiest node'}`, async () => {
      const s = await startJarvis({ command: 'server', databaseUrl: null, env: { JARVIS_SCHEDULER_STRATEGY: strategy } });
      const w = spawnSimulatedNodes(s, 'multi', 3, { cpu: 4, memoryMb: 4096, maxTasks: 8 });
      try {
        await w.waitFor(/worker: simulated nodes registered/, 30_000);
        const h = api(s.url);
        const nodes = (await h.get('/nodes')).body.items;
        expect(nodes.map((n: { name: string }) => n.name).sort()).toEqual(['multi-1', 'multi-2', 'multi-3']);
        const ids: string[] = [];
        for (let i = 0; i < 3; i++) {
          const t = await h.post('/tasks', sim(30_000, { resources: { cpu: 1, memory_mb: 256 } }));
          ids.push(t.body.id);
          await h.waitForTask(t.body.id, (x) => x.status === 'running');
        }
        const placedOn = new Set<string>();
        for (const id of ids) placedOn.add((await h.get(`/tasks/${id}`)).body.node_id);
        expect(placedOn.size).toBe(strategy === 'binpack' ? 1 : 3);
        for (const id of ids) await h.post(`/tasks/${id}/cancel`);
      } finally {
        await w.stop();
        await s.stop();
      }
    });
  }
});

describe('heartbeat period', () => {
  it('grows with the cluster so all nodes together stay within nodes.max_heartbeats_per_second, and nodes stay available', async () => {
    // Base period 0.5 s, at most 2 heartbeats a second: 4 nodes beat every 2 s, not every 0.5 s.
    const s = await startJarvis({ command: 'server', databaseUrl: null, env: { JARVIS_MAX_HEARTBEATS_PER_SECOND: '2', JARVIS_HEARTBEAT_SECONDS: '0.5' } });
    const w = spawnJarvis(['worker', '--executor', 'simulated', '--nodes', '4', '--name', 'beat', '--cpu', '1', '--memory-mb', '1024', '--max-tasks', '1'], {
      ...(process.env as Record<string, string>),
      JARVIS_REDIS_PREFIX: s.prefix,
      JARVIS_API_URL: s.url,
      JARVIS_HEARTBEAT_SECONDS: '0.5',
    });
    try {
      await w.waitFor(/worker: simulated nodes registered/, 30_000);
      const h = api(s.url);
      // A node's own heartbeat is told the period.
      const reg = await h.post('/nodes/register', { name: 'manual', hostname: 'h', capacity: { cpu: 1, memory_mb: 512, max_tasks: 1 } });
      const beat = await h.post(`/nodes/${reg.body.id}/heartbeat`, { running_task_ids: [] }, { authorization: `Bearer ${reg.body.token}` });
      expect(beat.status).toBe(200);
      expect(Number(beat.headers.get('x-jarvis-heartbeat-seconds'))).toBeGreaterThanOrEqual(2);
      // Over 6 s (12 base periods), each simulated node beats about 3 times, and none goes unhealthy.
      await new Promise((r) => setTimeout(r, 2_500)); // every node has had an answer with the longer period
      const seen = new Map<string, Set<string>>();
      const until = Date.now() + 6_000;
      while (Date.now() < until) {
        const nodes = (await h.get('/nodes')).body.items as Array<{ id: string; name: string; status: string; last_heartbeat_at: string }>;
        for (const n of nodes.filter((x) => x.name.startsWith('beat-'))) {
          expect(n.status, `${n.name} stayed available`).toBe('available');
          seen.set(n.id, (seen.get(n.id) ?? new Set()).add(n.last_heartbeat_at));
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(seen.size).toBe(4);
      for (const beats of seen.values()) {
        expect(beats.size).toBeGreaterThanOrEqual(2);
        expect(beats.size).toBeLessThanOrEqual(5);
      }
    } finally {
      await w.stop();
      await s.stop();
    }
  }, 60_000);
});

describe('a worker that stops cleanly', () => {
  it('says so: its node takes nothing more, and the next task runs on the node that is there', async () => {
    const own = await startJarvis({ command: 'server', databaseUrl: null });
    const workerNamed = (name: string) =>
      spawnJarvis(['worker', '--executor', 'simulated', '--name', name], { ...(process.env as Record<string, string>), JARVIS_REDIS_PREFIX: own.prefix, JARVIS_API_URL: own.url });
    const first = workerNamed('leaves');
    let second: ReturnType<typeof spawnJarvis> | undefined;
    try {
      await first.waitFor(/"msg":"worker: running"/, 30_000);
      const http = api(own.url);
      await first.stop();
      // Before, it stayed available until its heartbeats had been missed for nodes.offline_seconds,
      // and took the next task first (it registered first): that task waited as long.
      expect((await http.get('/nodes')).body.items.map((n: { name: string; status: string }) => [n.name, n.status])).toEqual([['leaves', 'unhealthy']]);
      second = workerNamed('stays');
      await second.waitFor(/worker: registered/, 30_000);
      const t = await http.post('/tasks', sim(1));
      const done = await http.waitForTask(t.body.id, (x) => x.status === 'succeeded', 10_000);
      const nodes = (await http.get('/nodes')).body.items as Array<{ id: string; name: string }>;
      expect(nodes.find((n) => n.id === done.node_id)?.name).toBe('stays');
      expect(done.attempts).toBe(1);
    } finally {
      await second?.stop();
      await first.stop();
      await own.stop();
    }
  });

  it('finishes a task longer than nodes.offline_seconds once, taking nothing new meanwhile', async () => {
    // Before, a stopping worker sent no heartbeat while its tasks ended: its node went offline
    // after offline_seconds and a task still running there was placed again (it ran twice).
    const own = await startJarvis({ command: 'server', databaseUrl: null, env: { JARVIS_OFFLINE_SECONDS: '3', JARVIS_HEARTBEAT_SECONDS: '1' } });
    const worker = spawnJarvis(['worker', '--executor', 'simulated', '--name', 'slow'], {
      ...(process.env as Record<string, string>),
      JARVIS_REDIS_PREFIX: own.prefix,
      JARVIS_API_URL: own.url,
      JARVIS_HEARTBEAT_SECONDS: '1',
    });
    try {
      await worker.waitFor(/"msg":"worker: running"/, 30_000);
      const http = api(own.url);
      // 15 s: still running after the wait for "unhealthy" (up to 5 s) and offline_seconds (5 s)
      // below, with room for a slow machine (7 s was not).
      const long = await http.post('/tasks', sim(15_000));
      await http.waitForTask(long.body.id, (x) => x.status === 'running', 10_000);
      const stopped = worker.stop();
      await waitUntil(async () => (await http.get('/nodes')).body.items[0]?.status === 'unhealthy', 5_000);
      const later = await http.post('/tasks', sim(1));
      await new Promise((r) => setTimeout(r, 5_000)); // past offline_seconds, the long task still running
      expect((await http.get('/nodes')).body.items[0].status).toBe('unhealthy');
      expect((await http.get(`/tasks/${long.body.id}`)).body).toMatchObject({ status: 'running', attempts: 1 });
      expect((await http.get(`/tasks/${later.body.id}`)).body).toMatchObject({ status: 'queued', attempts: 0 });
      expect(await stopped).toBe(0);
      const done = await http.waitForTask(long.body.id, (x) => x.status === 'succeeded', 5_000);
      expect(done.attempts).toBe(1);
      expect(worker.output().match(new RegExp(`"task_id":"${long.body.id}"[^\n]*"msg":"worker: attempt finished"`, 'g'))).toHaveLength(1);
    } finally {
      await worker.stop();
      await own.stop();
    }
  }, 60_000);

  it('gives back at once what its node was handed and had not taken; the node never runs it', async () => {
    const own = await startJarvis({ command: 'server', databaseUrl: null });
    const http = api(own.url);
    // A node that registers and never reads its inbox: what is placed there stays untaken.
    const node = (await http.post('/nodes/register', { name: 'gone', hostname: 'h', capacity: { cpu: 2, memory_mb: 1024, max_tasks: 4 } })).body;
    const beat = (extra: Record<string, unknown>) => http.post(`/nodes/${node.id}/heartbeat`, { running_task_ids: [], engine: 'ok', ...extra }, { authorization: `Bearer ${node.token}` });
    let worker: ReturnType<typeof spawnJarvis> | undefined;
    try {
      const t = await http.post('/tasks', sim(1));
      await http.waitForTask(t.body.id, (x) => x.status === 'scheduled', 10_000);
      expect((await beat({ stopping: true })).body.status).toBe('unhealthy');
      const back = (await http.get(`/tasks/${t.body.id}`)).body;
      expect(back).toMatchObject({ status: 'queued', node_id: null, attempts: 1, status_reason: expect.stringMatching(/^node gone stopped before it took attempt 1; placing it again|^no node fits/) });
      const history = (await http.get(`/tasks/${t.body.id}/events`)).body;
      expect(JSON.stringify(history)).toContain('node gone stopped before it took attempt 1; placing it again');
      expect(await (await fetch(`${own.url}/metrics`)).text()).toMatch(/^jarvis_task_attempts_lost_total\{reason="node_stopped"\} 1$/m);
      // A worker started under the node's name reads its inbox, finds attempt 1 there, and skips
      // it: the task runs once, as attempt 2.
      worker = spawnJarvis(['worker', '--executor', 'simulated', '--name', 'gone'], { ...(process.env as Record<string, string>), JARVIS_REDIS_PREFIX: own.prefix, JARVIS_API_URL: own.url });
      const done = await http.waitForTask(t.body.id, (x) => x.status === 'succeeded', 20_000);
      expect(done.attempts).toBe(2);
      // Which check stops it depends on timing: the attempt's withdrawal in Redis, or the
      // ownership check of a worker that has not heartbeat yet (node-inbox.e2e tests the first).
      await worker.waitFor(/skipping (an attempt the control plane withdrew|a job for an attempt this node no longer owns)/, 5_000);
      // Its line comes after its report, which the task's status already shows: wait for it.
      await worker.waitFor(/"attempt":2,"status":"succeeded"[^\n]*"msg":"worker: attempt finished"/, 5_000);
      expect(worker.output().match(/"msg":"worker: attempt finished"/g)).toHaveLength(1);
    } finally {
      await worker?.stop();
      await own.stop();
    }
  }, 60_000);

  it('gives back what a node that lost its container engine had not taken, and another node runs it', async () => {
    // Before, such attempts waited on the node for as long as its engine stayed away.
    const own = await startJarvis({ command: 'server', databaseUrl: null });
    const http = api(own.url);
    const node = (await http.post('/nodes/register', { name: 'no-engine', hostname: 'h', capacity: { cpu: 2, memory_mb: 1024, max_tasks: 4 } })).body;
    const beat = (engine: string) => http.post(`/nodes/${node.id}/heartbeat`, { running_task_ids: [], engine }, { authorization: `Bearer ${node.token}` });
    let worker: ReturnType<typeof spawnJarvis> | undefined;
    try {
      const t = await http.post('/tasks', sim(1));
      await http.waitForTask(t.body.id, (x) => x.status === 'scheduled' && x.node_id === node.id, 10_000);
      expect((await beat('unreachable')).body.status).toBe('unhealthy');
      const history = JSON.stringify((await http.get(`/tasks/${t.body.id}/events`)).body);
      expect(history).toContain('node no-engine lost its container engine before it took attempt 1; placing it again');
      expect(await (await fetch(`${own.url}/metrics`)).text()).toMatch(/^jarvis_task_attempts_lost_total\{reason="engine_unreachable"\} 1$/m);
      worker = spawnJarvis(['worker', '--executor', 'simulated', '--name', 'has-engine'], { ...(process.env as Record<string, string>), JARVIS_REDIS_PREFIX: own.prefix, JARVIS_API_URL: own.url });
      const done = await http.waitForTask(t.body.id, (x) => x.status === 'succeeded', 20_000);
      expect(done).toMatchObject({ attempts: 2 });
      expect(done.node_id).not.toBe(node.id);
    } finally {
      await worker?.stop();
      await own.stop();
    }
  }, 60_000);

  it("heartbeats at the control plane's period even when the worker is set to a longer one", async () => {
    // worker.heartbeat_seconds set on a worker alone (it is a worker.* key) is longer than the
    // period the control plane judges by: the node went offline between heartbeats.
    const own = await startJarvis({ command: 'server', databaseUrl: null, env: { JARVIS_OFFLINE_SECONDS: '3', JARVIS_HEARTBEAT_SECONDS: '1' } });
    const http = api(own.url);
    const worker = spawnJarvis(['worker', '--executor', 'simulated', '--name', 'slow-beat'], {
      ...(process.env as Record<string, string>),
      JARVIS_REDIS_PREFIX: own.prefix,
      JARVIS_API_URL: own.url,
      JARVIS_HEARTBEAT_SECONDS: '10',
    });
    try {
      await worker.waitFor(/heartbeating every 1 s as the control plane asks, not every 10 s/, 15_000);
      const statuses: string[] = [];
      for (let i = 0; i < 14; i++) {
        await new Promise((r) => setTimeout(r, 500));
        statuses.push((await http.get('/nodes')).body.items[0]?.status);
      }
      expect(new Set(statuses)).toEqual(new Set(['available']));
    } finally {
      await worker.stop();
      await own.stop();
    }
  }, 60_000);
});

async function waitUntil(check: () => Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not true within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('a drained node', () => {
  it('is still draining when it comes back from offline, by heartbeat or by registering again', async () => {
    // Before, the drain was only its status: once the node was offline, its next heartbeat or
    // registration made it available, and tasks went to a node its operator had taken out.
    const own = await startJarvis({ command: 'server', databaseUrl: null, env: { JARVIS_OFFLINE_SECONDS: '3', JARVIS_HEARTBEAT_SECONDS: '1' } });
    try {
      const http = api(own.url);
      const reg = { name: 'retiring', hostname: 'h', capacity: { cpu: 2, memory_mb: 1024, max_tasks: 4 } };
      const node = (await http.post('/nodes/register', reg)).body as { id: string; token: string };
      const beat = () => http.post(`/nodes/${node.id}/heartbeat`, { running_task_ids: [], engine: 'ok' }, { authorization: `Bearer ${node.token}` });
      expect((await http.post(`/nodes/${node.id}/drain`)).body.status).toBe('draining');
      // Silent past the offline threshold (5 s: never before five 1 s periods).
      const until = Date.now() + 15_000;
      while ((await http.get(`/nodes/${node.id}`)).body.status !== 'offline' && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
      expect((await http.get(`/nodes/${node.id}`)).body.status).toBe('offline');
      expect((await http.post(`/nodes/${node.id}/resume`)).status).toBe(409); // offline: as before
      expect((await beat()).body.status).toBe('draining');
      const t = await http.post('/tasks', sim(10));
      expect((await http.waitForTask(t.body.id, (x) => /draining/.test(x.status_reason ?? ''))).status).toBe('queued');
      // Offline again, then back by registering under its name (a restarted worker).
      while ((await http.get(`/nodes/${node.id}`)).body.status !== 'offline' && Date.now() < until + 15_000) await new Promise((r) => setTimeout(r, 200));
      expect((await http.post('/nodes/register', reg)).body.status).toBe('draining');
      expect((await http.post(`/nodes/${node.id}/resume`)).body.status).toBe('available');
      expect((await beat()).body.status).toBe('available');
    } finally {
      await own.stop();
    }
  }, 60_000);
});

describe('a worker cut off from the control plane', () => {
  // The worker reaches the API through a proxy the test can cut (Redis stays reachable, as in a
  // partition between the two). Cut for longer than nodes.offline_seconds, its node goes offline
  // and its task is placed again; before, the cut-off node ran its attempt on to the end (hours,
  // for a long task), its result ignored.
  async function setUp() {
    const own = await startJarvis({ command: 'server', databaseUrl: null, env: { JARVIS_OFFLINE_SECONDS: '3', JARVIS_HEARTBEAT_SECONDS: '1' } });
    const proxy = await cuttableProxy(own.url);
    const worker = (name: string, url: string) =>
      spawnJarvis(['worker', '--executor', 'simulated', '--name', name], { ...(process.env as Record<string, string>), JARVIS_REDIS_PREFIX: own.prefix, JARVIS_API_URL: url, JARVIS_HEARTBEAT_SECONDS: '1' });
    const cutOff = worker('cut-off', proxy.url);
    const started: Array<ReturnType<typeof spawnJarvis>> = [cutOff];
    await cutOff.waitFor(/"msg":"worker: running"/, 30_000);
    const http = api(own.url);
    const t = (await http.post('/tasks', sim(60_000))).body as { id: string };
    await http.waitForTask(t.id, (x) => x.status === 'running', 10_000);
    return {
      own, proxy, cutOff, http, task: t.id,
      other: async () => {
        const w = worker('other', own.url);
        started.push(w);
        await w.waitFor(/"msg":"worker: running"/, 30_000);
      },
      async close() {
        proxy.cut(true);
        await Promise.all(started.map((w) => w.stop('SIGKILL')));
        await proxy.close();
        await own.stop();
      },
    };
  }

  it('stops, once it is heard again, an attempt that was placed again on another node meanwhile', async () => {
    const s = await setUp();
    try {
      await s.other();
      s.proxy.cut(true);
      const again = await s.http.waitForTask(s.task, (x) => x.attempts === 2 && x.status === 'running', 20_000);
      const nodes = (await s.http.get('/nodes')).body.items as Array<{ id: string; name: string; status: string }>;
      expect(nodes.find((n) => n.id === again.node_id)?.name).toBe('other');
      expect(nodes.find((n) => n.name === 'cut-off')?.status).toBe('offline');
      s.proxy.cut(false);
      await s.cutOff.waitFor(/stopped an attempt this node no longer owns: it was placed again while this node could not reach/, 15_000);
      await s.cutOff.waitFor(/"attempt":1,"status":"cancelled"[^\n]*"msg":"worker: attempt finished"/, 5_000);
      // The attempt that counts runs on; the stopped one's report changed nothing.
      expect((await s.http.get(`/tasks/${s.task}`)).body).toMatchObject({ status: 'running', attempts: 2, node_id: again.node_id });
    } finally {
      await s.close();
    }
  }, 90_000);

  it('stops the lost attempt when the task comes back to its own node, and runs the new one', async () => {
    const s = await setUp();
    try {
      s.proxy.cut(true);
      await s.http.waitForTask(s.task, (x) => x.status === 'queued' && x.attempts === 1, 20_000);
      s.proxy.cut(false);
      // Placed again on the node it was lost on, once that node heartbeats: its worker stops
      // attempt 1 (whichever it learns first: the ownership check or the newer attempt) and runs 2.
      await s.http.waitForTask(s.task, (x) => x.attempts === 2 && x.status === 'running', 20_000);
      await s.cutOff.waitFor(/"attempt":1,"status":"cancelled"[^\n]*"msg":"worker: attempt finished"/, 10_000);
      expect(s.cutOff.output()).toMatch(/stopped an attempt this node no longer owns/);
      expect((await s.http.get(`/tasks/${s.task}`)).body).toMatchObject({ status: 'running', attempts: 2 });
    } finally {
      await s.close();
    }
  }, 90_000);
});

