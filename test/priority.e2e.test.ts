// Priority classes on a full node: higher classes first, FIFO within one, and aging so a low
// task that has waited long enough is not starved by newer high-priority work.
import { afterAll, afterEach, expect, it } from 'vitest';
import { createTestDatabase } from './support/database.ts';
import { api, spawnJarvis, startJarvis } from './support/jarvis.ts';
import { removeLeftovers } from './support/leftovers.ts';

// Redis keys and task containers of this file's processes; first, so that it runs after the
// other after-hooks, once those processes are stopped.
afterAll(removeLeftovers);

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

/** `processes`: `jarvis server --processes N` on a PostgreSQL database (API processes apart from the scheduler's). */
async function oneSlotCluster(agingSeconds: number, processes = 1, maxTasks = 1) {
  let databaseUrl: string | null = null;
  if (processes > 1) {
    const db = await createTestDatabase();
    cleanups.push(() => db.drop());
    databaseUrl = db.url;
  }
  const args = processes > 1 ? ['--processes', String(processes)] : [];
  const s = await startJarvis({ command: 'server', databaseUrl, args, env: { JARVIS_AGING_SECONDS: String(agingSeconds) } });
  cleanups.push(() => s.stop());
  const w = spawnJarvis(['worker', '--executor', 'simulated', '--cpu', '4', '--memory-mb', '4096', '--max-tasks', String(maxTasks)], {
    ...(process.env as Record<string, string>),
    JARVIS_REDIS_PREFIX: s.prefix,
    JARVIS_API_URL: s.url,
    JARVIS_WORKER_NAME: `one-${s.prefix}`,
  });
  cleanups.push(() => w.stop());
  await w.waitFor(/worker: registered/, 30_000);
  return api(s.url);
}

const sim = (ms: number, priority: string, name: string) => ({ image: 'sim', name, priority, labels: { 'jarvis.sim/duration_ms': String(ms) } });
const startOf = async (h: ReturnType<typeof api>, id: string) => Date.parse((await h.waitForTask(id, (t) => t.status === 'succeeded', 60_000)).started_at);

it('runs waiting tasks by priority class, FIFO within a class', async () => {
  const h = await oneSlotCluster(3600);
  const blocker = await h.post('/tasks', sim(1500, 'normal', 'blocker'));
  await h.waitForTask(blocker.body.id, (t) => t.status === 'running');
  const order = [['low', 'l1'], ['normal', 'n1'], ['critical', 'c1'], ['high', 'h1'], ['critical', 'c2'], ['low', 'l2']];
  const ids: Record<string, string> = {};
  for (const [p, n] of order) ids[n] = (await h.post('/tasks', sim(50, p, n))).body.id;
  const starts = await Promise.all(Object.entries(ids).map(async ([n, id]) => [n, await startOf(h, id)] as const));
  expect(starts.sort((a, b) => a[1] - b[1]).map(([n]) => n)).toEqual(['c1', 'c2', 'h1', 'n1', 'l1', 'l2']);
});

it('ages a waiting low task past newer high-priority ones', async () => {
  const h = await oneSlotCluster(0.5);
  const blocker = await h.post('/tasks', sim(2500, 'normal', 'blocker'));
  await h.waitForTask(blocker.body.id, (t) => t.status === 'running');
  const low = (await h.post('/tasks', sim(50, 'low', 'old-low'))).body.id;
  await new Promise((r) => setTimeout(r, 1800));
  const highs: string[] = [];
  for (let i = 0; i < 3; i++) highs.push((await h.post('/tasks', sim(50, 'high', `new-high-${i}`))).body.id);
  const lowStart = await startOf(h, low);
  for (const id of highs) expect(lowStart).toBeLessThan(await startOf(h, id));
});

// 300 waiting tasks of one tenant: the first 100 are held in the dispatcher's memory, the rest
// go back to the tenant's queue, which is paused (nothing is taken and put back while nothing
// changes), and read again as the front is placed. With --processes 2 the late task arrives
// through an API process, so the scheduler process does not hear of it and finds it in Redis.
it.each([1, 2])('keeps priority and FIFO past the 100 waiting tasks held in memory, and a late critical task goes first (%i processes)', async (processes) => {
  const h = await oneSlotCluster(3600, processes);
  const blocker = await h.post('/tasks', sim(4000, 'normal', 'blocker'));
  await h.waitForTask(blocker.body.id, (t) => t.status === 'running');
  const lows: string[] = [];
  for (let i = 0; i < 3; i++) {
    const body = { tasks: Array.from({ length: 100 }, (_, j) => sim(0, 'low', `low-${i * 100 + j}`)) };
    const res = await h.post('/tasks/batch', body);
    expect(res.status).toBe(201);
    lows.push(...(res.body.items as Array<{ id: string }>).map((t) => t.id));
  }
  // The held front (100) has been looked at and found no room; the rest wait in the paused
  // queue (those that arrived after it paused are not looked at until it is read again).
  const deadline = Date.now() + 20_000;
  for (;;) {
    const waiting = (await h.get('/tasks?status=queued&limit=500')).body.items as Array<{ status_reason: string | null }>;
    if (waiting.length === 300 && waiting.filter((t) => /no node fits/.test(t.status_reason ?? '')).length >= 100) break;
    if (Date.now() > deadline) {
      const all = (await h.get('/tasks?limit=500')).body.items as Array<{ status: string; status_reason: string | null }>;
      const by = new Map<string, number>();
      for (const t of all) by.set(`${t.status}: ${t.status_reason}`, (by.get(`${t.status}: ${t.status_reason}`) ?? 0) + 1);
      const counts = [...by].map(([k, n]) => `${n} ${k}`);
      throw new Error(`the low tasks were not all looked at: ${waiting.filter((t) => t.status_reason).length} of ${waiting.length} queued have a reason; all: ${counts.join('; ')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  // They go back once their batch is decided (in group jobs, pending.ts): moments after the reasons.
  let metrics = '';
  let depth = 0;
  for (const until = Date.now() + 10_000; depth < 150 && Date.now() < until; await new Promise((r) => setTimeout(r, 100))) {
    metrics = (await h.get('/metrics')).body as string;
    depth = [...metrics.matchAll(/^jarvis_queue_depth\{priority="low"\} (\d+)$/gm)].reduce((a, m) => a + Number(m[1]), 0);
  }
  expect(depth, 'the tasks beyond those held wait in the queue itself').toBeGreaterThanOrEqual(150);
  expect(metrics).toMatch(/^jarvis_queue_jobs\{queue="pending",state="delayed"\} 0$/m);
  const critical = (await h.post('/tasks', sim(0, 'critical', 'late-critical'))).body.id as string;

  const criticalStart = await startOf(h, critical);
  const until = Date.now() + 60_000;
  let done: Array<{ id: string; started_at: string }> = [];
  while (done.length < 302 && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 250));
    done = (await h.get('/tasks?status=succeeded&limit=500')).body.items;
  }
  const startedAt = new Map(done.map((t) => [t.id, Date.parse(t.started_at)]));
  const starts = lows.map((id) => startedAt.get(id) ?? Number.NaN);
  expect(starts.filter(Number.isNaN), 'low tasks that never ran').toHaveLength(0);
  expect(Math.min(...starts)).toBeGreaterThan(criticalStart);
  // One slot: they run one after another, in the order they were submitted.
  const order = starts.map((t, i) => [t, i] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]).map(([, i]) => i);
  const outOfOrder = order.flatMap((i, k) => (i === k ? [] : [`#${k} ran task ${i}`]));
  expect(outOfOrder, 'low tasks that ran out of submission order').toEqual([]);
}, 120_000);

it("ages a workflow's task from its release, not from the workflow's submission", async () => {
  // Aging every 2 s, a node of 4 CPUs. The workflow's second task needs the whole node and is
  // released at 6 s, while a blocker holds a CPU until 8 s; a high task needing the whole node
  // comes at 6.5 s. When the blocker ends, the second task has waited 2 s for room (one class:
  // normal) and the high one 1.5 s (high): the high one goes first. Counted from the workflow's
  // submission the second task had waited 8 s, four classes: critical, and it went first.
  const h = await oneSlotCluster(2, 1, 4);
  const sized = (ms: number, cpu: number, extra: Record<string, unknown>) => ({ image: 'sim', resources: { cpu, memory_mb: 64 }, labels: { 'jarvis.sim/duration_ms': String(ms) }, ...extra });
  const blocker = (await h.post('/tasks', sized(8_000, 1, { name: 'blocker', priority: 'normal' }))).body.id;
  await h.waitForTask(blocker, (t) => t.status === 'running');
  const wf = await h.post('/workflows', {
    tasks: [sized(6_000, 1, { key: 'first', priority: 'low' }), sized(50, 4, { key: 'second', priority: 'low', depends_on: ['first'] })],
  });
  expect(wf.status, JSON.stringify(wf.body)).toBe(201);
  const ids = Object.fromEntries((wf.body.tasks as Array<{ workflow_key: string; id: string }>).map((t) => [t.workflow_key, t.id]));
  await h.waitForTask(ids.second, (t) => t.status === 'queued', 15_000);
  await new Promise((r) => setTimeout(r, 500));
  const high = (await h.post('/tasks', sized(50, 4, { name: 'waiting-high', priority: 'high' }))).body.id;
  const highStart = await startOf(h, high);
  expect(highStart).toBeLessThan(await startOf(h, ids.second));
}, 60_000);

it('a backlog that fits no node does not hold back a task that fits', async () => {
  // The node has room, but 300 tasks ask for a label no node has: they wait ("no node fits"),
  // the first 100 held in memory and the rest stepped aside, out of the queue's way.
  const h = await oneSlotCluster(3600);
  const stuck = { image: 'sim', node_selector: { pool: 'none' }, labels: { 'jarvis.sim/duration_ms': '0' } };
  for (let i = 0; i < 3; i++) expect((await h.post('/tasks/batch', { tasks: Array.from({ length: 100 }, () => stuck) })).status).toBe(201);
  const deadline = Date.now() + 20_000;
  for (;;) {
    const waiting = (await h.get('/tasks?status=queued&limit=500')).body.items as Array<{ status_reason: string | null }>;
    if (waiting.length === 300 && waiting.every((t) => /does not match node_selector/.test(t.status_reason ?? ''))) break;
    if (Date.now() > deadline) throw new Error('the stuck tasks were not all looked at');
    await new Promise((r) => setTimeout(r, 100));
  }
  // Those not held stepped aside into the delayed set, in their group jobs (pending.ts), and none
  // waits in the queue itself (a queue paused behind them would make the tasks below wait for its
  // failsafe delay). Their reasons are written before their jobs move (Dispatcher.wait, then
  // WaitingRoom.park): under load the moves can come a little later.
  let seen = { delayed: 0, depth: -1 };
  for (const until = Date.now() + 10_000; !(seen.delayed > 0 && seen.depth === 0) && Date.now() < until; ) {
    const metrics = (await h.get('/metrics')).body as string;
    seen = {
      delayed: Number(/^jarvis_queue_jobs\{queue="pending",state="delayed"\} (\d+)$/m.exec(metrics)?.[1] ?? 0),
      depth: Number(/^jarvis_queue_depth\{priority="normal"\} (\d+)$/m.exec(metrics)?.[1] ?? -1),
    };
    if (!(seen.delayed > 0 && seen.depth === 0)) await new Promise((r) => setTimeout(r, 200));
  }
  expect(seen.depth, 'no stuck task waits in the queue itself').toBe(0);
  expect(seen.delayed, 'they stepped aside into the delayed set').toBeGreaterThan(0);
  for (let i = 0; i < 3; i++) {
    const id = (await h.post('/tasks', sim(0, 'low', `fits-${i}`))).body.id as string;
    await h.waitForTask(id, (t) => t.status === 'succeeded', 10_000);
  }
}, 60_000);

it('places waiting tasks behind a front that cannot run as soon as room appears for them', async () => {
  // 4 CPUs, 10 slots. A 3-CPU blocker leaves 1 CPU. 100 high-priority tasks that fit no node are
  // the held front; 40 normal 2-CPU tasks wait behind it (stepped aside: there is room, but not
  // for them). When the blocker ends, room for 2 CPUs appears: they run then, two at a time, not
  // after their failsafe delay (30 s and more).
  const h = await oneSlotCluster(3600, 1, 10);
  const blocker = (await h.post('/tasks', { image: 'sim', resources: { cpu: 3 }, labels: { 'jarvis.sim/duration_ms': '2000' } })).body.id as string;
  await h.waitForTask(blocker, (t) => t.status === 'running');
  const stuck = { image: 'sim', priority: 'high', node_selector: { pool: 'none' } };
  expect((await h.post('/tasks/batch', { tasks: Array.from({ length: 100 }, () => stuck) })).status).toBe(201);
  const mids = ((await h.post('/tasks/batch', { tasks: Array.from({ length: 40 }, () => ({ image: 'sim', resources: { cpu: 2 } })) })).body.items as Array<{ id: string }>).map((t) => t.id);
  const ended = Date.parse((await h.waitForTask(blocker, (t) => t.status === 'succeeded')).finished_at);
  const until = Date.now() + 20_000;
  let done: Array<{ id: string; finished_at: string }> = [];
  while (Date.now() < until) {
    done = (await h.get('/tasks?status=succeeded&limit=500')).body.items;
    if (mids.every((id) => done.some((t) => t.id === id))) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const finished = mids.map((id) => Date.parse(done.find((t) => t.id === id)?.finished_at ?? ''));
  expect(finished.filter(Number.isNaN), 'tasks still waiting 20 s after room appeared').toHaveLength(0);
  expect(Math.max(...finished) - ended).toBeLessThan(15_000);
}, 60_000);
