// Tasks added together travel in group jobs (src/scheduler/pending.ts): up to 100 tasks of one
// tenant and priority per BullMQ job, so a backlog costs Redis a job per hundred tasks. Seen
// from outside: the pending queue holds a few jobs for hundreds of tasks, the queue depth still
// counts tasks, and when room comes every task runs exactly once, in priority order; a task
// cancelled while it waits in a group never runs.
import { afterAll, afterEach, expect, it } from 'vitest';
import { createTestDatabase } from './support/database.ts';
import { api, spawnSimulatedNodes, startJarvis } from './support/jarvis.ts';
import { removeLeftovers } from './support/leftovers.ts';

// Redis keys and task containers of this file's processes; first, so that it runs after the
// other after-hooks, once those processes are stopped.
afterAll(removeLeftovers);

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

/** A server with no node yet; `addNode` starts a simulated one with room for `maxTasks` at once. */
async function serverWithoutNodes() {
  const db = await createTestDatabase();
  cleanups.push(() => db.drop());
  const s = await startJarvis({ command: 'server', databaseUrl: db.url });
  cleanups.push(() => s.stop());
  const http = api(s.url);
  const addNode = async (maxTasks: number) => {
    const w = spawnSimulatedNodes(s, `groups-${s.prefix}`, 1, { cpu: 1000, memoryMb: 1_000_000, maxTasks });
    cleanups.push(() => w.stop());
    await w.waitFor(/worker: registered/, 30_000);
  };
  return { http, addNode };
}

const sim = (priority: string, i: number) => ({ image: 'sim', name: `${priority}-${i}`, priority, resources: { cpu: 0.1, memory_mb: 16 }, labels: { 'jarvis.sim/duration_ms': '0' } });

/** The pending queue's jobs not yet ended, and the queue depth (tasks) by priority, from /metrics. */
async function queueFigures(http: ReturnType<typeof api>) {
  const metrics = (await http.get('/metrics')).body as string;
  const jobs = [...metrics.matchAll(/^jarvis_queue_jobs\{queue="pending",state="(?:waiting|prioritized|delayed|active)"\} (\d+)$/gm)].reduce((a, m) => a + Number(m[1]), 0);
  const depth = (p: string) => Number(new RegExp(`^jarvis_queue_depth\\{priority="${p}"\\} (\\d+)$`, 'm').exec(metrics)?.[1] ?? -1);
  return { jobs, normal: depth('normal'), low: depth('low') };
}

async function waitUntilLookedAt(http: ReturnType<typeof api>, n: number) {
  for (const until = Date.now() + 20_000; ; await new Promise((r) => setTimeout(r, 100))) {
    const waiting = (await http.get('/tasks?status=queued&limit=500')).body.items as Array<{ status_reason: string | null }>;
    if (waiting.length === n && waiting.every((t) => /no worker node/.test(t.status_reason ?? ''))) return;
    if (Date.now() > until) throw new Error(`the queued tasks were not all looked at: ${waiting.filter((t) => /no worker node/.test(t.status_reason ?? '')).length} of ${waiting.length}`);
  }
}

it('keeps a batch that must wait in a few group jobs, counts its tasks in the queue depth, and runs each task once, by priority, when room comes', async () => {
  const { http, addNode } = await serverWithoutNodes();
  const lows = (await http.post('/tasks/batch', { tasks: Array.from({ length: 150 }, (_, i) => sim('low', i)) })).body.items.map((t: { id: string }) => t.id) as string[];
  const normals = (await http.post('/tasks/batch', { tasks: Array.from({ length: 150 }, (_, i) => sim('normal', i)) })).body.items.map((t: { id: string }) => t.id) as string[];
  await waitUntilLookedAt(http, 300);
  // The best 100 wait in the dispatcher's memory (normals), the other 200 in the queue. Under load
  // the lows may be the front held for a moment: the normals that came after are then found in
  // the paused queue by the dispatcher's next look (within a second) and take their place.
  let figures = await queueFigures(http);
  for (const until = Date.now() + 10_000; (figures.normal !== 50 || figures.low !== 150) && Date.now() < until; await new Promise((r) => setTimeout(r, 200))) figures = await queueFigures(http);
  expect(figures.normal + figures.low, 'the queue depth counts the tasks in group jobs').toBe(200);
  expect(figures.low, 'every low task waits behind the normals').toBe(150);
  expect(figures.jobs, '300 tasks in a few jobs, not one each').toBeLessThanOrEqual(5);

  await addNode(1);
  const started = async (id: string) => {
    const t = await http.waitForTask(id, (x) => x.status === 'succeeded', 60_000);
    expect(t.attempts).toBe(1);
    const events = (await http.get(`/tasks/${id}/events`)).body.items.map((e: { status: string }) => e.status);
    expect(events.filter((s: string) => s === 'running')).toHaveLength(1);
    return Date.parse(t.started_at);
  };
  const normalStarts = [];
  for (const id of normals) normalStarts.push(await started(id));
  const lowStarts = [];
  for (const id of lows) lowStarts.push(await started(id));
  expect(Math.max(...normalStarts), 'every normal task ran before any low one (one slot)').toBeLessThanOrEqual(Math.min(...lowStarts));
  const after = await queueFigures(http);
  expect(after).toEqual({ jobs: 0, normal: 0, low: 0 });
}, 120_000);

it('never runs a task cancelled while it waits in a group job, and runs the rest of its group', async () => {
  const { http, addNode } = await serverWithoutNodes();
  const ids = (await http.post('/tasks/batch', { tasks: Array.from({ length: 60 }, (_, i) => sim('normal', i)) })).body.items.map((t: { id: string }) => t.id) as string[];
  await waitUntilLookedAt(http, 60);
  const cancelled = ids.filter((_, i) => i % 6 === 0);
  for (const id of cancelled) expect((await http.post(`/tasks/${id}/cancel`)).status).toBe(200);
  await addNode(20);
  for (const id of ids) {
    if (cancelled.includes(id)) continue;
    expect((await http.waitForTask(id, (x) => x.status === 'succeeded', 60_000)).attempts).toBe(1);
  }
  for (const id of cancelled) {
    const t = (await http.get(`/tasks/${id}`)).body;
    expect(t.status).toBe('cancelled');
    expect(t.attempts).toBe(0);
  }
}, 120_000);
