// Accepted work is never lost nor done twice: the control plane killed with SIGKILL under load
// and restarted, and Redis losing everything of this deployment (as a flush or a restart
// without persistence would): every task ends exactly once, in a final state.
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, afterEach, expect, it } from 'vitest';
import { createTestDatabase } from './support/database.ts';
import { REDIS_URL } from './support/env.ts';
import { api, spawnJarvis, spawnSimulatedWorker, startJarvis, uniquePrefix } from './support/jarvis.ts';
import { freePort } from './support/services.ts';
import { redisNames } from '../src/scheduler/queues.ts';
import { removeLeftovers } from './support/leftovers.ts';

// Redis keys and task containers of this file's processes; first, so that it runs after the
// other after-hooks, once those processes are stopped.
afterAll(removeLeftovers);

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function setup() {
  const db = await createTestDatabase();
  cleanups.push(() => db.drop());
  const prefix = uniquePrefix();
  const env = { PORT: String(await freePort()) };
  const server = await startJarvis({ command: 'server', databaseUrl: db.url, prefix, env });
  cleanups.push(() => server.stop('SIGKILL'));
  const worker = spawnJarvis(['worker', '--executor', 'simulated', '--cpu', '100', '--memory-mb', '100000', '--max-tasks', '20'], {
    ...(process.env as Record<string, string>),
    JARVIS_REDIS_PREFIX: prefix,
    JARVIS_API_URL: server.url,
    JARVIS_WORKER_NAME: `sim-${prefix}`,
  });
  cleanups.push(() => worker.stop());
  await worker.waitFor(/worker: registered/, 30_000);
  return { db, prefix, env, server, http: api(server.url) };
}

async function expectEachEndedOnce(http: ReturnType<typeof api>, ids: string[]) {
  for (const id of ids) {
    const t = await http.waitForTask(id, (x) => ['succeeded', 'failed', 'timed_out', 'cancelled'].includes(x.status), 90_000);
    expect(t.status).toBe('succeeded');
    const events = (await http.get(`/tasks/${id}/events`)).body.items.map((e: { status: string }) => e.status);
    expect(events.filter((s: string) => s === 'succeeded')).toHaveLength(1);
    expect(events.filter((s: string) => s === 'running').length).toBe(t.attempts);
  }
}

/**
 * A node the test plays through the same HTTP calls and events queue a worker uses: registered
 * under `name`; `beat` sends a heartbeat listing `running`; `start` reports attempt 1 of a task
 * placed on it as started and waits until the task is running.
 */
async function playedNode(server: { url: string; prefix: string }, name: string) {
  const http = api(server.url);
  const reg = await http.post('/nodes/register', { name: `${name}-${server.prefix}`, hostname: 'h', capacity: { cpu: 4, memory_mb: 4096, max_tasks: 4 } });
  expect(reg.status).toBe(201);
  const node = reg.body as { id: string; token: string };
  const names = redisNames(server.prefix);
  const events = new Queue(names.eventsQueue, { connection: { url: REDIS_URL } as never, prefix: names.bullPrefix });
  cleanups.push(() => events.close());
  return {
    node,
    beat: (running: string[]) => http.post(`/nodes/${node.id}/heartbeat`, { cpu_percent: 1, memory_used_mb: 100, running_task_ids: running, engine: 'ok' }, { authorization: `Bearer ${node.token}` }),
    async start(id: string) {
      await http.waitForTask(id, (t) => t.status === 'scheduled');
      await events.add('started', { type: 'started', taskId: id, attempt: 1, nodeId: node.id, at: new Date().toISOString() }, { jobId: `started-${id}-a1` });
      await http.waitForTask(id, (t) => t.status === 'running');
    },
  };
}

const batch = (n: number, from: number) => ({
  tasks: Array.from({ length: n }, (_, i) => ({ image: 'sim', name: `t${from + i}`, resources: { cpu: 0.1, memory_mb: 16 }, labels: { 'jarvis.sim/duration_ms': '100' } })),
});

it('loses and doubles nothing when the control plane is killed under load', async () => {
  const { db, prefix, env, server, http } = await setup();
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) ids.push(...(await http.post('/tasks/batch', batch(100, i * 100))).body.items.map((t: { id: string }) => t.id));
  await new Promise((r) => setTimeout(r, 700));
  await server.stop('SIGKILL');
  const again = await startJarvis({ command: 'server', databaseUrl: db.url, prefix, env });
  cleanups.push(() => again.stop());
  ids.push(...(await http.post('/tasks/batch', batch(50, 300))).body.items.map((t: { id: string }) => t.id));
  await expectEachEndedOnce(http, ids);
  for (const id of ids.slice(0, 50)) expect((await http.get(`/tasks/${id}`)).body.attempts).toBe(1);
}, 180_000);

it('puts queued and placed work back when Redis loses everything', async () => {
  const db = await createTestDatabase();
  cleanups.push(() => db.drop());
  const server = await startJarvis({ command: 'server', databaseUrl: db.url });
  cleanups.push(() => server.stop());
  const http = api(server.url);
  // A node that registers but whose worker is not running yet: tasks are placed on it (their
  // node jobs wait in its queue) up to its 20 slots; the rest stay queued.
  const name = `late-${server.prefix}`;
  const capacity = { cpu: 100, memory_mb: 100000, max_tasks: 20 };
  expect((await http.post('/nodes/register', { name, hostname: 'h', capacity })).status).toBe(201);
  const ids = (await http.post('/tasks/batch', batch(50, 0))).body.items.map((t: { id: string }) => t.id);
  const placed = async () => (await http.get('/tasks?status=scheduled&limit=500')).body.total;
  for (const until = Date.now() + 30_000; ; ) {
    const n = await placed();
    if (n >= 20) break;
    if (Date.now() > until) throw new Error(`waited 30 s for 20 of the 50 tasks to be placed on node ${name} (status scheduled); ${n} are\n--- server:\n${server.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  expect((await http.get('/tasks?status=queued&limit=500')).body.total).toBe(30);

  // Everything of this deployment in Redis, gone: queues, jobs, locks.
  const redis = new Redis(REDIS_URL);
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `{${server.prefix}}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await redis.del(...keys);
  } while (cursor !== '0');
  redis.disconnect();

  const worker = spawnJarvis(['worker', '--executor', 'simulated', '--name', name, '--cpu', '100', '--memory-mb', '100000', '--max-tasks', '20'], {
    ...(process.env as Record<string, string>),
    JARVIS_REDIS_PREFIX: server.prefix,
    JARVIS_API_URL: server.url,
  });
  cleanups.push(() => worker.stop());
  await expectEachEndedOnce(http, ids);
  for (const id of ids) expect((await http.get(`/tasks/${id}`)).body.attempts).toBe(1);
}, 180_000);

it('places again an attempt whose node stopped listing it and whose result never came', async () => {
  // This test plays the node itself, through the same HTTP calls and events queue a worker
  // uses: it registers, reports the attempt started, then its heartbeats stop listing it and
  // no "finished" report ever arrives (Redis lost it, say).
  const server = await startJarvis({ command: 'server', databaseUrl: null, env: { JARVIS_HEARTBEAT_SECONDS: '1', JARVIS_OFFLINE_SECONDS: '120' } });
  cleanups.push(() => server.stop());
  const http = api(server.url);
  const { beat, start } = await playedNode(server, 'mute');
  expect((await beat([])).status).toBe(200);

  const id = (await http.post('/tasks', { image: 'sim' })).body.id as string;
  await start(id);
  expect((await beat([id])).status).toBe(200);

  // Heartbeats that no longer list it: after two heartbeat periods of grace, it is placed again.
  let again: { status: string; attempts: number } | null = null;
  for (let i = 0; i < 20 && !again; i++) {
    await new Promise((r) => setTimeout(r, 500));
    await beat([]);
    const t = (await http.get(`/tasks/${id}`)).body;
    if (t.attempts === 2) again = t;
  }
  expect(again, 'the lost attempt was never placed again').not.toBeNull();
  const history = (await http.get(`/tasks/${id}/events`)).body.items as Array<{ status: string; attempt: number; reason: string | null }>;
  expect(history.find((e) => e.status === 'queued' && e.attempt === 1 && /no longer runs attempt 1 and its result was lost/.test(e.reason ?? ''))).toBeDefined();
  expect(await (await fetch(`${server.url}/metrics`)).text()).toMatch(/^jarvis_task_attempts_lost_total\{reason="result_lost"\} 1$/m);
  expect(history.at(-1)).toMatchObject({ status: 'scheduled', attempt: 2 });
}, 60_000);

it('does not take a node for offline because the control plane was down longer than nodes.offline_seconds', async () => {
  // This test plays the node, as above. A control plane that comes back after a long stop (an
  // upgrade, a reboot) last heard from every node before it stopped: silence is counted from
  // when it began to watch again, not from the last heartbeat, or every node whose next
  // heartbeat had not come yet was taken for offline and what it ran was placed again.
  const db = await createTestDatabase();
  cleanups.push(() => db.drop());
  const prefix = uniquePrefix();
  const env = { PORT: String(await freePort()), JARVIS_HEARTBEAT_SECONDS: '1', JARVIS_OFFLINE_SECONDS: '3' };
  const first = await startJarvis({ command: 'server', databaseUrl: db.url, prefix, env });
  cleanups.push(() => first.stop('SIGKILL'));
  const http = api(first.url);
  const { node, beat, start } = await playedNode(first, 'patient');
  const id = (await http.post('/tasks', { image: 'sim' })).body.id as string;
  await start(id);
  expect((await beat([id])).status).toBe(200);

  await first.stop('SIGKILL');
  await new Promise((r) => setTimeout(r, 6_000)); // longer than the 5 s after which a silent node is offline
  const again = await startJarvis({ command: 'server', databaseUrl: db.url, prefix, env });
  cleanups.push(() => again.stop());
  await again.waitFor(/now schedules and monitors/, 15_000);
  await new Promise((r) => setTimeout(r, 2_000)); // the node's next heartbeat is not due yet (monitored every second)
  expect((await http.get(`/nodes/${node.id}`)).body.status).not.toBe('offline');
  expect((await http.get(`/tasks/${id}`)).body).toMatchObject({ status: 'running', attempts: 1 });
  expect((await beat([id])).body.status).toBe('available');
  // Silence after the restart still counts: a node that stays silent goes offline.
  const deadline = Date.now() + 15_000;
  while ((await http.get(`/nodes/${node.id}`)).body.status !== 'offline' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  expect((await http.get(`/nodes/${node.id}`)).body.status).toBe('offline');
  expect((await http.waitForTask(id, (t) => t.status === 'queued' || t.attempts === 2)).status_reason).toMatch(/went offline during attempt 1|no node fits/);
}, 90_000);

it('does not spend a retry on an attempt lost with its node', async () => {
  // This test plays the first node, as above: attempt 1 starts there and the node goes silent,
  // so the task is placed again. A simulated worker then runs it, failing each time. With
  // max_retries 1 the task gets two attempts that end on a node (2 and 3); before, the lost
  // attempt spent the retry and attempt 2's failure was final.
  const server = await startJarvis({ command: 'server', databaseUrl: null, env: { JARVIS_HEARTBEAT_SECONDS: '1', JARVIS_OFFLINE_SECONDS: '3' } });
  cleanups.push(() => server.stop());
  const http = api(server.url);
  const { start } = await playedNode(server, 'lost');
  const body = { image: 'sim', max_retries: 1, retry_backoff_seconds: 0.1, labels: { 'jarvis.sim/exit_code': '1' } };
  const id = (await http.post('/tasks', body)).body.id as string;
  await start(id);
  // Silent from here: offline after 5 s (offline_seconds 3, never before five 1 s periods).
  await http.waitForTask(id, (t) => t.status === 'queued', 15_000);
  const worker = spawnSimulatedWorker(server, `sim-${server.prefix}`);
  cleanups.push(() => worker.stop());
  const done = await http.waitForTask(id, (t) => t.status === 'failed', 30_000);
  expect(done.attempts).toBe(3);
  const reasons = ((await http.get(`/tasks/${id}/events`)).body.items as Array<{ reason: string | null }>).map((e) => e.reason ?? '');
  expect(reasons).toContainEqual(expect.stringMatching(/went offline during attempt 1/));
  expect(reasons).toContainEqual('attempt 2 failed (exited with code 1); retrying in 0.1 s (attempt 3 of 3)');
  // Operators see the lost attempt in the metrics.
  expect(await (await fetch(`${server.url}/metrics`)).text()).toMatch(/^jarvis_task_attempts_lost_total\{reason="node_offline"\} 1$/m);
}, 60_000);
