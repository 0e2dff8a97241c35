// How workers' reports reach the control plane: a worker process with many nodes sends the
// attempts that end together as a few "finished-many" jobs on the events queue (not one job
// each), and every task is recorded once; a report sent alone, as older workers do, still counts;
// and a report waiting in the queue is not taken for a lost one, though its job has no id to find.
import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, expect, it } from 'vitest';
import { REDIS_URL } from './support/env.ts';
import { api, spawnJarvis, spawnSimulatedNodes, spawnSimulatedWorker, startJarvis } from './support/jarvis.ts';
import { consumerConnection, redisNames } from '../src/scheduler/queues.ts';
import { Reports } from '../src/worker/reports.ts';
import { removeLeftovers, usePrefix } from './support/leftovers.ts';

// Redis keys and task containers of this file's processes; first, so that it runs after the
// other after-hooks, once those processes are stopped.
afterAll(removeLeftovers);

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

/** The jobs added to the events queue so far, by name (from BullMQ's event stream). */
async function jobsAdded(redis: Redis, prefix: string): Promise<Record<string, number>> {
  const names = redisNames(prefix);
  const entries = await redis.xrange(`${names.bullPrefix}:${names.eventsQueue}:events`, '-', '+');
  const out: Record<string, number> = {};
  for (const [, fields] of entries) {
    const f: Record<string, string> = {};
    for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]] = fields[i + 1];
    if (f.event === 'added') out[f.name] = (out[f.name] ?? 0) + 1;
  }
  return out;
}

/**
 * A `jarvis server` (heartbeats every second, nodes offline only after 120 s) and a node this
 * test plays through the same HTTP calls and events queue as a worker: registered, one
 * heartbeat answered, and a task placed on it. `beat` sends a heartbeat listing `running`
 * (with `listed_at` when given); `reports` sends its reports as a current worker does.
 */
async function playedNode(name: string) {
  const server = await startJarvis({ command: 'server', databaseUrl: null, env: { JARVIS_HEARTBEAT_SECONDS: '1', JARVIS_OFFLINE_SECONDS: '120' } });
  cleanups.push(() => server.stop());
  const http = api(server.url);
  const reg = await http.post('/nodes/register', { name: `${name}-${server.prefix}`, hostname: 'h', capacity: { cpu: 4, memory_mb: 4096, max_tasks: 4 } });
  const node = reg.body as { id: string; token: string };
  const beat = (running: string[], listedAt?: Date) =>
    http.post(
      `/nodes/${node.id}/heartbeat`,
      { cpu_percent: 1, memory_used_mb: 100, running_task_ids: running, ...(listedAt ? { listed_at: listedAt.toISOString() } : {}), engine: 'ok' },
      { authorization: `Bearer ${node.token}` },
    );
  expect((await beat([])).status).toBe(200);
  const id = (await http.post('/tasks', { image: 'sim' })).body.id as string;
  await http.waitForTask(id, (t) => t.status === 'scheduled');

  const names = redisNames(server.prefix);
  const redis = consumerConnection(REDIS_URL);
  cleanups.push(() => redis.quit());
  const events = new Queue(names.eventsQueue, { connection: redis, prefix: names.bullPrefix });
  cleanups.push(() => events.close());
  const reports = new Reports(events, { connection: redis, names });
  return { http, node, id, beat, events, reports };
}

it('sends the attempts a worker process ends together in a few jobs, and records each task once', async () => {
  const server = await startJarvis({ command: 'server', databaseUrl: null });
  cleanups.push(() => server.stop());
  const worker = spawnSimulatedNodes(server, 'reports', 10, { cpu: 64, memoryMb: 65536, maxTasks: 50 });
  cleanups.push(() => worker.stop());
  await worker.waitFor(/worker: simulated nodes registered/, 30_000);
  const redis = new Redis(REDIS_URL);
  cleanups.push(() => redis.quit());

  const http = api(server.url);
  const count = 300;
  const created = (await http.post('/tasks/batch', { tasks: Array.from({ length: count }, (_, i) => ({ image: 'sim', name: `r-${i}` })) })).body.items as Array<{ id: string }>;
  expect(created).toHaveLength(count);
  for (const { id } of created) {
    const t = await http.waitForTask(id, (x) => x.status === 'succeeded' || x.status === 'failed', 60_000);
    expect(t).toMatchObject({ status: 'succeeded', exit_code: 0, attempts: 1 });
  }
  // Each ended once: one "succeeded" event per task.
  for (const { id } of created.slice(0, 20)) {
    const events = (await http.get(`/tasks/${id}/events`)).body.items as Array<{ status: string }>;
    expect(events.filter((e) => e.status === 'succeeded')).toHaveLength(1);
  }
  const added = await jobsAdded(redis, server.prefix);
  expect(added.finished ?? 0, 'no report went alone in the old shape').toBe(0);
  expect(added['finished-many']).toBeGreaterThanOrEqual(1);
  // 300 attempts ending in bursts on 10 nodes of one process: far fewer jobs than attempts.
  expect(added['finished-many']).toBeLessThanOrEqual(count / 3);
}, 120_000);

it('records a report sent alone, as an older worker sends it', async () => {
  // This test plays an older node itself, through the same HTTP calls and events queue.
  const server = await startJarvis({ command: 'server', databaseUrl: null });
  cleanups.push(() => server.stop());
  const http = api(server.url);
  const reg = await http.post('/nodes/register', { name: `old-${server.prefix}`, hostname: 'h', capacity: { cpu: 4, memory_mb: 4096, max_tasks: 4 } });
  expect(reg.status).toBe(201);
  const node = reg.body as { id: string };
  const id = (await http.post('/tasks', { image: 'sim' })).body.id as string;
  await http.waitForTask(id, (t) => t.status === 'scheduled');

  const names = redisNames(server.prefix);
  const events = new Queue(names.eventsQueue, { connection: { url: REDIS_URL } as never, prefix: names.bullPrefix });
  cleanups.push(() => events.close());
  const at = new Date().toISOString();
  await events.add('started', { type: 'started', taskId: id, attempt: 1, nodeId: node.id, at }, { jobId: `started-${id}-a1` });
  await events.add(
    'finished',
    { type: 'finished', taskId: id, attempt: 1, nodeId: node.id, status: 'succeeded', exitCode: 0, error: null, startedAt: at, finishedAt: new Date().toISOString(), truncated: false, outputs: null, result: '42' },
    { jobId: `finished-${id}-a1` },
  );
  const t = await http.waitForTask(id, (x) => x.status === 'succeeded');
  expect(t).toMatchObject({ exit_code: 0, attempts: 1, result: '42' });
}, 60_000);

it('does not place again an attempt whose report waits in the events queue', async () => {
  // This test plays a current node: its report goes in a job of many (worker/reports.ts) while
  // the control plane is not taking reports (the events queue paused), and its heartbeats stop
  // listing the task, as they do once the report is queued.
  const { http, node, id, beat, events, reports } = await playedNode('queued');
  const at = new Date().toISOString();
  await reports.started({ type: 'started', taskId: id, attempt: 1, nodeId: node.id, at });
  await http.waitForTask(id, (t) => t.status === 'running');
  expect((await beat([id])).status).toBe(200);

  await events.pause();
  await reports.finished({ type: 'finished', taskId: id, attempt: 1, nodeId: node.id, status: 'succeeded', exitCode: 0, error: null, startedAt: at, finishedAt: new Date().toISOString(), truncated: false, outputs: null, result: null });
  // Heartbeats without it for well over two periods: the other test shows a lost report is
  // placed again within this time.
  for (let i = 0; i < 12; i++) {
    await new Promise((r) => setTimeout(r, 500));
    await beat([]);
  }
  expect((await http.get(`/tasks/${id}`)).body).toMatchObject({ status: 'running', attempts: 1 });

  await events.resume();
  expect(await http.waitForTask(id, (t) => t.status === 'succeeded')).toMatchObject({ attempts: 1, exit_code: 0 });
}, 60_000);

it('judges a running attempt by when its node drew up a heartbeat, not by when the heartbeat arrived', async () => {
  // This test plays a current node. A heartbeat drawn up just before an attempt started and
  // delivered long after (a control plane that stalled for longer than two periods: a heap
  // snapshot or a long pause; or a node clock behind the control plane's) leaves the attempt
  // out: it must not be taken for a lost one and placed again while it runs. A list drawn up well
  // after the start that leaves it out still means its result was lost.
  const { http, node, id, beat, reports } = await playedNode('late');
  const startedAt = new Date();
  await reports.started({ type: 'started', taskId: id, attempt: 1, nodeId: node.id, at: startedAt.toISOString() });
  await http.waitForTask(id, (t) => t.status === 'running');

  // For well over two periods, only the list drawn up a moment before the start arrives.
  const before = new Date(startedAt.getTime() - 50);
  for (let i = 0; i < 8; i++) {
    expect((await beat([], before)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 500));
  }
  expect((await http.get(`/tasks/${id}`)).body).toMatchObject({ status: 'running', attempts: 1 });

  // Lists drawn up now leave it out: its result was lost, and it is placed again.
  let beating = true;
  const fresh = (async () => {
    while (beating) {
      await beat([], new Date());
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
  try {
    expect(await http.waitForTask(id, (t) => t.attempts === 2, 15_000)).toMatchObject({ attempts: 2 });
  } finally {
    beating = false;
    await fresh;
  }
  // A time the node could not mean is refused, as any invalid field.
  const bad = await http.post(`/nodes/${node.id}/heartbeat`, { running_task_ids: [], listed_at: '0001-01-01T00:00:00Z' }, { authorization: `Bearer ${node.token}` });
  expect(bad.status).toBe(422);
}, 60_000);

it('heartbeats without listed_at or stopping to a control plane older than the worker, saying so once each', async () => {
  // This test plays a control plane from before listed_at (a rolling upgrade that began with the
  // workers): it forbids unknown fields in a heartbeat, as FastAPI's models do (422 extra_forbidden).
  const beats: Array<Record<string, unknown>> = [];
  const id = randomUUID();
  const old = createServer((req, res) => {
    let text = '';
    req.on('data', (d) => (text += d));
    req.on('end', () => {
      const body = JSON.parse(text || '{}') as Record<string, unknown>;
      const answer = (status: number, json: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(json));
      };
      if (req.url === '/nodes/register') return answer(201, { id, token: 'node-token', name: body.name });
      if (req.url === `/nodes/${id}/heartbeat`) {
        beats.push(body);
        const extra = ['listed_at', 'stopping'].filter((k) => k in body);
        if (extra.length > 0) return answer(422, { detail: extra.map((k) => ({ type: 'extra_forbidden', loc: ['body', k], msg: 'Extra inputs are not permitted', input: body[k] })) });
        return answer(200, { id, status: 'available' });
      }
      answer(404, { detail: 'Not Found' });
    });
  });
  await new Promise<void>((r) => old.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => old.close(r)));
  const port = (old.address() as { port: number }).port;
  const worker = spawnJarvis(['worker', '--executor', 'simulated'], {
    ...(process.env as Record<string, string>),
    JARVIS_REDIS_PREFIX: usePrefix(`old-cp-${id.slice(0, 8)}`),
    JARVIS_API_URL: `http://127.0.0.1:${port}`,
    JARVIS_HEARTBEAT_SECONDS: '1',
  });
  cleanups.push(() => worker.stop());
  await worker.waitFor(/does not take listed_at/, 30_000);
  const deadline = Date.now() + 10_000;
  while (beats.filter((b) => !('listed_at' in b)).length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  expect(beats.filter((b) => 'listed_at' in b)).toHaveLength(1); // asked once, then never again
  expect(beats.filter((b) => !('listed_at' in b)).length).toBeGreaterThanOrEqual(3);
  expect(beats.at(-1)).toMatchObject({ running_task_ids: [], engine: 'ok' });
  expect(worker.output().match(/does not take listed_at/g)).toHaveLength(1);
  expect(worker.output()).not.toMatch(/heartbeat refused/);
  // Stopping, it heartbeats on without the field the old control plane refuses.
  const before = beats.length;
  expect(await worker.stop()).toBe(0);
  const stopping = beats.slice(before);
  expect(stopping.filter((b) => 'stopping' in b)).toHaveLength(1);
  expect(stopping.filter((b) => !('stopping' in b) && !('listed_at' in b)).length).toBeGreaterThanOrEqual(2); // at the start and at the end
  expect(worker.output().match(/does not take stopping/g)).toHaveLength(1);
  expect(worker.output()).not.toMatch(/heartbeat refused/);
}, 60_000);

it('gives up on a heartbeat the control plane never answers, and heartbeats on', async () => {
  // A control plane that takes the connection and never answers (stalled, or a proxy that
  // holds requests) held back every later heartbeat: the node went offline once it recovered.
  const beats: number[] = [];
  const id = randomUUID();
  const stalled = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const answer = (status: number, json: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(json));
      };
      if (req.url === '/nodes/register') return answer(201, { id, token: 'node-token', name: 'stalled' });
      if (req.url === `/nodes/${id}/heartbeat`) {
        beats.push(Date.now());
        if (beats.length === 2) return; // never answered
        return answer(200, { id, status: 'available' });
      }
      answer(404, { detail: 'Not Found' });
    });
  });
  await new Promise<void>((r) => stalled.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => { stalled.closeAllConnections(); stalled.close(r); }));
  const worker = spawnJarvis(['worker', '--executor', 'simulated'], {
    ...(process.env as Record<string, string>),
    JARVIS_REDIS_PREFIX: usePrefix(`stalled-${id.slice(0, 8)}`),
    JARVIS_API_URL: `http://127.0.0.1:${(stalled.address() as { port: number }).port}`,
    JARVIS_HEARTBEAT_SECONDS: '1',
  });
  cleanups.push(() => worker.stop());
  await worker.waitFor(/heartbeat failed; will retry/, 20_000);
  const deadline = Date.now() + 5_000;
  while (beats.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  expect(beats.length).toBeGreaterThanOrEqual(4);
  expect(beats[2] - beats[1]).toBeGreaterThanOrEqual(9_000); // the unanswered one was given ~10 s
}, 60_000);

it('holds on to a report Redis refuses for a while, and records it once Redis takes it, without running the task again', async () => {
  // Redis refusing a write (out of memory under maxmemory, a replica turned read-only) made the
  // worker give up the attempt's inbox entry with the report unsent: its node stopped listing the
  // attempt, the control plane took it for lost, and a task that had succeeded ran a second time.
  const server = await startJarvis({ command: 'server', databaseUrl: null, env: { JARVIS_HEARTBEAT_SECONDS: '1' } });
  cleanups.push(() => server.stop());
  const worker = spawnSimulatedWorker(server, `refused-${server.prefix}`, { JARVIS_HEARTBEAT_SECONDS: '1' });
  cleanups.push(() => worker.stop());
  await worker.waitFor(/"msg":"worker: registered"/, 30_000);
  const redis = new Redis(REDIS_URL);
  cleanups.push(() => redis.quit());
  const http = api(server.url);
  const id = (await http.post('/tasks', { image: 'sim', labels: { 'jarvis.sim/duration_ms': '1500' } })).body.id as string;
  await http.waitForTask(id, (t) => t.status === 'running');

  // Every job added to the events queue is refused: its id counter is no integer.
  const names = redisNames(server.prefix);
  const counter = `${names.bullPrefix}:${names.eventsQueue}:id`;
  const was = await redis.get(counter);
  await redis.set(counter, 'not-a-number');
  try {
    await worker.waitFor(/Redis refused 1 finished report/, 20_000);
    // Refused for well over two heartbeat periods, in which a lost result is placed again.
    await new Promise((r) => setTimeout(r, 5_000));
    expect((await http.get(`/tasks/${id}`)).body).toMatchObject({ status: 'running', attempts: 1 });
  } finally {
    await redis.set(counter, was ?? '0');
  }
  expect(await http.waitForTask(id, (t) => t.status === 'succeeded')).toMatchObject({ attempts: 1, exit_code: 0 });
  await worker.waitFor(/Redis took 1 finished report/, 15_000);
  const events = (await http.get(`/tasks/${id}/events`)).body.items as Array<{ status: string }>;
  expect(events.filter((e) => e.status === 'scheduled')).toHaveLength(1);
}, 90_000);
