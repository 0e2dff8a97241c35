// The simulated executor: same queues, reports and heartbeats as a real worker, no container.
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { REDIS_URL } from './support/env.ts';
import { api, spawnJarvis, spawnSimulatedNodes, spawnSimulatedWorker, startJarvis, type JarvisProcess } from './support/jarvis.ts';
import { redisNames } from '../src/scheduler/queues.ts';
import { removeLeftovers } from './support/leftovers.ts';

// Redis keys and task containers of this file's processes; first, so that it runs after the
// other after-hooks, once those processes are stopped.
afterAll(removeLeftovers);

let server: JarvisProcess & { prefix: string };
let worker: ReturnType<typeof spawnJarvis>;

beforeAll(async () => {
  server = await startJarvis({ command: 'server', databaseUrl: null });
  worker = spawnJarvis(['worker', '--executor', 'simulated', '--cpu', '64', '--memory-mb', '65536', '--max-tasks', '100'], {
    ...(process.env as Record<string, string>),
    JARVIS_REDIS_PREFIX: server.prefix,
    JARVIS_API_URL: server.url,
    JARVIS_WORKER_NAME: `sim-${server.prefix}`,
    DOCKER_HOST: 'unix:///nonexistent/docker.sock', // it must not need an engine
  });
  await worker.waitFor(/worker: registered/, 30_000);
});
afterAll(async () => {
  await worker?.stop();
  await server?.stop();
});

it('waits for the labelled duration, reports the labelled exit code, and honours timeouts', async () => {
  const http = api(server.url);
  const nodes = (await http.get('/nodes')).body.items;
  expect(nodes[0]).toMatchObject({ capacity: { cpu: 64, memory_mb: 65536, max_tasks: 100 }, status: 'available' });
  const ok = await http.post('/tasks', { image: 'not/pulled', labels: { 'jarvis.sim/duration_ms': '300' } });
  const bad = await http.post('/tasks', { image: 'not/pulled', labels: { 'jarvis.sim/exit_code': '9' } });
  const slow = await http.post('/tasks', { image: 'not/pulled', timeout_seconds: 1, labels: { 'jarvis.sim/duration_ms': '60000' } });
  const a = await http.waitForTask(ok.body.id, (t) => t.status === 'succeeded');
  expect(Date.parse(a.finished_at) - Date.parse(a.started_at)).toBeGreaterThanOrEqual(290);
  expect((await http.get(`/tasks/${ok.body.id}/logs`)).body.logs).toBe('simulated run of 300 ms\n');
  expect(await http.waitForTask(bad.body.id, (t) => t.status === 'failed')).toMatchObject({ exit_code: 9 });
  expect((await http.waitForTask(slow.body.id, (t) => t.status !== 'queued' && t.status !== 'scheduled' && t.status !== 'running')).status).toBe('timed_out');
});

it('places a burst of mixed work in batches without over-committing any node, highest priority first', async () => {
  // Three simulated nodes with room for 4 one-CPU tasks each (CPU binds before slots or memory).
  const s = await startJarvis({ command: 'server', databaseUrl: null });
  const w = spawnSimulatedNodes(s, 'burst', 3, { cpu: 4, memoryMb: 4096, maxTasks: 8 });
  try {
    await w.waitFor(/worker: simulated nodes registered/, 30_000);
    const h = api(s.url);
    const order = ['low', 'normal', 'high', 'critical'];
    // 40 tasks at once, lowest priority first in the request, each 1 CPU and 60 s long.
    const body = order.flatMap((priority) =>
      Array.from({ length: 10 }, (_, i) => ({ image: 'sim', name: `${priority}-${i}`, priority, resources: { cpu: 1, memory_mb: 256 }, labels: { 'jarvis.sim/duration_ms': '60000' } })),
    );
    const created = (await h.post('/tasks/batch', { tasks: body })).body.items as Array<{ id: string; name: string }>;
    expect(created).toHaveLength(40);
    // Twelve fit. Once twelve run and the other 28 say why they wait, placement has settled.
    const deadline = Date.now() + 30_000;
    let tasks: Array<{ name: string; status: string; node_id: string | null; status_reason: string | null }> = [];
    for (;;) {
      tasks = (await h.get('/tasks?limit=100')).body.items;
      const running = tasks.filter((t) => t.status === 'running').length;
      const waiting = tasks.filter((t) => t.status === 'queued' && /no node fits/.test(t.status_reason ?? '')).length;
      if (running === 12 && waiting === 28) break;
      if (Date.now() > deadline) throw new Error(`placement did not settle: ${running} running, ${waiting} waiting with a reason`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const placed = tasks.filter((t) => t.status === 'running');
    // All ten critical tasks, then the first two high ones (FIFO within a class).
    expect(placed.map((t) => t.name).sort()).toEqual([...Array.from({ length: 10 }, (_, i) => `critical-${i}`), 'high-0', 'high-1'].sort());
    const nodes = (await h.get('/nodes')).body.items as Array<{ id: string; allocated: { cpu: number; tasks: number } }>;
    for (const n of nodes) {
      const on = placed.filter((t) => t.node_id === n.id).length;
      expect(on).toBe(4);
      expect(n.allocated).toMatchObject({ cpu: 4, tasks: 4 });
    }
    expect(tasks.find((t) => t.name === 'low-9')?.status_reason).toBe('no node fits: 3 nodes, 3 lack 1 CPU free');
    for (const t of created) await h.post(`/tasks/${t.id}/cancel`);
  } finally {
    await w.stop();
    await s.stop();
  }
});

it('places the 130 tasks a finished parent releases on 6 slots: those with room at once, the rest once room frees', async () => {
  // The reconciler is kept out of it (an hour between passes): nothing is rescued, every
  // released task is either decided at once (offered to the dispatcher), held by it while it
  // waits, or (past the 100 it holds) queued by it.
  const s = await startJarvis({ command: 'server', databaseUrl: null, env: { JARVIS_RECONCILE_SECONDS: '3600' } });
  const w = spawnSimulatedNodes(s, 'release', 2, { cpu: 8, memoryMb: 8192, maxTasks: 3 });
  try {
    await w.waitFor(/worker: simulated nodes registered/, 30_000);
    const h = api(s.url);
    const child = (i: number) => ({ key: `c${i}`, image: 'sim', depends_on: ['root'], resources: { cpu: 0.1, memory_mb: 16 }, labels: { 'jarvis.sim/duration_ms': '50' } });
    const wf = await h.post('/workflows', { name: 'fan', tasks: [{ key: 'root', image: 'sim', resources: { cpu: 0.1, memory_mb: 16 } }, ...Array.from({ length: 130 }, (_, i) => child(i))] });
    expect(wf.status).toBe(201);
    const until = Date.now() + 60_000;
    let body: { status: string; tasks: Array<{ workflow_key: string; status: string; started_at: string; finished_at: string }> } = { status: 'running', tasks: [] };
    while (body.status === 'running' && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 200));
      body = (await h.get(`/workflows/${wf.body.id}`)).body;
    }
    expect(body.status).toBe('succeeded');
    // Six slots: never more than six children at once.
    const spans = body.tasks.filter((t) => t.workflow_key !== 'root').map((t) => [Date.parse(t.started_at), Date.parse(t.finished_at)]);
    const most = Math.max(...spans.map(([a]) => spans.filter(([b, e]) => b <= a && a < e).length));
    expect(most).toBeLessThanOrEqual(6);
    expect(s.output()).not.toMatch(/reconciler: re-enqueued/);
  } finally {
    await w.stop();
    await s.stop();
  }
}, 90_000);

/**
 * A `jarvis server` of the test's own (env), simulated nodes of 4 CPUs, 4 GiB and 4 tasks each,
 * and a handle on the default tenant's pending queue; all stopped after `body`.
 */
async function onOwnServer(
  env: Record<string, string>,
  cluster: { name: string; nodes: number },
  body: (c: { s: JarvisProcess & { prefix: string }; h: ReturnType<typeof api>; pending: Queue }) => Promise<void>,
): Promise<void> {
  const s = await startJarvis({ command: 'server', databaseUrl: null, env });
  const w = spawnSimulatedNodes(s, cluster.name, cluster.nodes, { cpu: 4, memoryMb: 4096, maxTasks: 4 });
  const names = redisNames(s.prefix);
  const pending = new Queue(names.pendingQueue('default'), { connection: { url: REDIS_URL } as never, prefix: names.bullPrefix });
  try {
    await w.waitFor(cluster.nodes > 1 ? /worker: simulated nodes registered/ : /worker: registered/, 30_000);
    await body({ s, h: api(s.url), pending });
  } finally {
    await pending.close();
    await w.stop();
    await s.stop();
  }
}

it("closes an idle tenant's queue readers (their Redis connections) and reads the queue again when work comes", async () => {
  await onOwnServer({ JARVIS_IDLE_TENANT_SECONDS: '1' }, { name: 'idle', nodes: 2 }, async ({ h, pending }) => {
    const readers = async (want: (n: number) => boolean) => {
      const until = Date.now() + 15_000;
      for (;;) {
        const n = await pending.getWorkersCount();
        if (want(n) || Date.now() > until) return n;
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    // A task submitted to an idle dispatcher with room goes to it directly, not through the
    // queue; a retry is queued (with its backoff). So each task here fails once, is retried
    // through the queue, and fails again.
    const failingTwice = { image: 'sim', max_retries: 1, retry_backoff_seconds: 0.5, labels: { 'jarvis.sim/exit_code': '1' } };
    const first = (await h.post('/tasks', failingTwice)).body.id as string;
    expect(await readers((n) => n > 0), 'the queue is read while there is work').toBeGreaterThan(0);
    expect((await h.waitForTask(first, (t) => t.status === 'failed')).attempts).toBe(2);
    expect(await readers((n) => n === 0), 'the readers of an idle queue close').toBe(0);
    const again = (await h.post('/tasks', failingTwice)).body.id as string;
    expect(await readers((n) => n > 0), 'and open again when work comes').toBeGreaterThan(0);
    expect((await h.waitForTask(again, (t) => t.status === 'failed', 10_000)).attempts).toBe(2);
  });
}, 60_000);

it('queues a submitted task that must wait, and places it once when room comes', async () => {
  // A task submitted to an idle dispatcher with room goes to it directly, without a job. One that
  // must wait goes to its queue then (the metrics and the board count it), not to memory where the
  // reconciler (every second here) took it for a task whose job Redis lost, queued it, and the
  // dispatcher placed it twice over, reserving its room twice.
  await onOwnServer({ JARVIS_RECONCILE_SECONDS: '1' }, { name: 'once', nodes: 1 }, async ({ s, h, pending }) => {
    const node = (await h.get('/nodes')).body.items[0];
    expect((await h.post(`/nodes/${node.id}/drain`)).status).toBe(200);
    const id = (await h.post('/tasks', { image: 'sim', labels: { 'jarvis.sim/duration_ms': '60000' } })).body.id as string;
    await h.waitForTask(id, (t) => /draining/.test(t.status_reason ?? ''));
    // Its reason is written before its job is added to the queue: wait for the job.
    await expect.poll(() => pending.getJob(id), { timeout: 10_000, interval: 50, message: 'the waiting task is in its queue' }).toBeTruthy();
    await new Promise((r) => setTimeout(r, 3_000)); // two passes of the reconciler and their second looks
    expect(s.output()).not.toContain('jobs Redis had lost');
    expect((await h.post(`/nodes/${node.id}/resume`)).status).toBe(200);
    await h.waitForTask(id, (t) => t.status === 'running');
    await new Promise((r) => setTimeout(r, 1_000)); // a second decision would have come by now
    expect((await h.get(`/nodes/${node.id}`)).body.allocated).toMatchObject({ tasks: 1, cpu: 1, memory_mb: 256 });
    expect((await h.post(`/tasks/${id}/cancel`)).status).toBe(200);
    expect((await h.get(`/nodes/${node.id}`)).body.allocated).toMatchObject({ tasks: 0, cpu: 0, memory_mb: 0 });
  });
}, 60_000);

it('places a submitted task that fits at once, without its queue, while another waits for room', async () => {
  // Tasks held waiting for room are decided again in every batch, so one that arrives while they
  // wait goes to the dispatcher directly and joins their batch: it takes the room they cannot use.
  await onOwnServer({}, { name: 'beside', nodes: 1 }, async ({ s, h, pending }) => {
    const sim = { 'jarvis.sim/duration_ms': '60000' };
    const a = (await h.post('/tasks', { image: 'sim', labels: sim, resources: { cpu: 3, memory_mb: 256 } })).body.id as string;
    await h.waitForTask(a, (t) => t.status === 'running');
    const b = (await h.post('/tasks', { image: 'sim', labels: sim, resources: { cpu: 2, memory_mb: 256 } })).body.id as string;
    await h.waitForTask(b, (t) => /no node fits/.test(t.status_reason ?? ''));
    // b was offered first (nothing waited), then queued (its reason is written before its job is
    // added); the dispatcher takes its job back from the queue and decides it again before
    // holding it. While that second decision runs a new task queues behind it (its order is
    // kept), so c comes only once b is held: its job in the queue and active, and a batch's few
    // milliseconds past.
    const until = Date.now() + 10_000;
    while ((await pending.getJobState(b)) !== 'active' && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect(await pending.getJob(b), 'the waiting task is in its queue').toBeTruthy();
    expect(await pending.getJobState(b), 'the waiting task is held: its job is active').toBe('active');
    await new Promise((r) => setTimeout(r, 1_000));
    const c = (await h.post('/tasks', { image: 'sim', labels: sim, resources: { cpu: 1, memory_mb: 256 } })).body.id as string;
    await h.waitForTask(c, (t) => t.status === 'running');
    expect((await h.get(`/tasks/${b}`)).body.status).toBe('queued');
    // The queue's event stream names every job ever added to it: b's, not c's.
    const redis = new Redis(REDIS_URL);
    try {
      const added = (await redis.xrange(`${redisNames(s.prefix).bullPrefix}:${redisNames(s.prefix).pendingQueue('default')}:events`, '-', '+'))
        .map(([, f]) => Object.fromEntries(f.flatMap((v, i) => (i % 2 === 0 ? [[v, f[i + 1]]] : []))))
        .filter((e) => e.event === 'added')
        .map((e) => e.jobId);
      expect(added).toContain(b);
      expect(added).not.toContain(c);
    } finally {
      redis.disconnect();
    }
    for (const id of [a, b, c]) expect((await h.post(`/tasks/${id}/cancel`)).status).toBe(200); // the worker then stops at once
  });
}, 60_000);

it('does not start a task whose cancel the node finds already recorded when it takes the job', async () => {
  // The worker checks the task's cancel key as it takes the job (with the log stream's reset, in
  // one round trip). Set it before any node exists, then bring a node up.
  const own = await startJarvis({ command: 'server', databaseUrl: null });
  const { Redis } = await import('ioredis');
  const redis = new Redis(REDIS_URL);
  let node: ReturnType<typeof spawnJarvis> | null = null;
  try {
    const http = api(own.url);
    const id = (await http.post('/tasks', { image: 'not/pulled', labels: { 'jarvis.sim/duration_ms': '60000' } })).body.id;
    await redis.set(redisNames(own.prefix).cancelKey(id), '1', 'EX', 600);
    node = spawnSimulatedWorker(own, `sim-cancel-${own.prefix}`, { DOCKER_HOST: 'unix:///nonexistent/docker.sock' });
    const t = await http.waitForTask(id, (x) => !['queued', 'scheduled', 'running'].includes(x.status), 30_000);
    expect(t).toMatchObject({ status: 'cancelled', error: 'cancelled before it started', started_at: null });
  } finally {
    await node?.stop();
    await own.stop();
    redis.disconnect();
  }
});
