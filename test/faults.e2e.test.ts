// What a user sees when a dependency fails: Redis, PostgreSQL or the Docker engine going away,
// and a config file with a mistake. Each test breaks its own copy (a private redis-server, or a
// forwarder in front of the shared service), so the other tests keep running.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { REDIS_URL, TEST_IMAGE } from './support/env.ts';
import { api, runCli, spawnJarvis, spawnSimulatedWorker, startJarvis, tempDir, uniquePrefix, withOutputs } from './support/jarvis.ts';
import { cuttableTestDatabase, Forwarder, PrivateRedis } from './support/services.ts';
import { removeLeftovers } from './support/leftovers.ts';

// Redis keys and task containers of this file's processes; first, so that it runs after the
// other after-hooks, once those processes are stopped.
afterAll(removeLeftovers);

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

const isFinal = (t: { status: string }) => ['succeeded', 'failed', 'timed_out', 'cancelled'].includes(t.status);

/** A `jarvis server` on a redis-server of its own, which the test may stop and start. */
async function serverOnPrivateRedis() {
  const redis = await PrivateRedis.start();
  cleanups.push(() => redis.stop());
  const server = await startJarvis({ command: 'server', databaseUrl: null, env: { REDIS_URL: redis.url } });
  cleanups.push(() => server.stop());
  return { redis, server };
}

/** A `jarvis worker` for that server, on the same redis-server. */
function workerOn(redis: { url: string }, server: { prefix: string; url: string }, args: string[] = []) {
  const worker = spawnJarvis(['worker', ...args], {
    ...(process.env as Record<string, string>),
    REDIS_URL: redis.url,
    JARVIS_REDIS_PREFIX: server.prefix,
    JARVIS_API_URL: server.url,
    JARVIS_WORKER_NAME: `w-${server.prefix}`,
  });
  cleanups.push(() => worker.stop());
  return worker;
}

describe('Redis going away', () => {
  it('answers 503 and stores nothing while Redis is down, then re-enqueues every accepted task when it is back', async () => {
    const { redis, server } = await serverOnPrivateRedis();
    const http = api(server.url);

    // No worker yet: accepted tasks wait, and say why.
    const accepted: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await http.post('/tasks', { image: TEST_IMAGE, command: ['echo', `task ${i}`] });
      expect(r.status).toBe(201);
      accepted.push(r.body.id);
    }
    const waiting = await http.waitForTask(accepted[0], (t) => /no worker node/.test(t.status_reason ?? ''));
    expect(waiting.status).toBe('queued');

    await redis.stop(); // everything in it is gone
    // Status changes the overview counts (each task's history events), before the refusal.
    const changes = async () => {
      const o = await http.get('/overview');
      expect(o.status).toBe(200);
      return (o.body.last_hour.buckets as Array<{ counts: Record<string, number> }>).reduce((n, b) => n + Object.values(b.counts).reduce((a, c) => a + c, 0), 0);
    };
    const changesBefore = await changes();
    const refused = await http.post('/tasks', { image: TEST_IMAGE, command: ['echo', 'refused'] });
    expect(refused.status).toBe(503);
    // A batch and a workflow are refused the same way.
    expect((await http.post('/tasks/batch', { tasks: [{ image: TEST_IMAGE }, { image: TEST_IMAGE }] })).status).toBe(503);
    const wf = await http.post('/workflows', { name: 'refused', tasks: [{ key: 'a', image: TEST_IMAGE }, { key: 'b', image: TEST_IMAGE, depends_on: ['a'] }] });
    expect(wf.status).toBe(503);
    expect(wf.body.detail).toMatch(/nothing was stored/);
    expect((await http.get('/workflows')).body.total).toBe(0);
    // Their rows were inserted, then taken back when the enqueue failed: their first events with them.
    expect(await changes()).toBe(changesBefore);
    expect(refused.body.detail).toMatch(/task queue \(Redis at 127\.0\.0\.1:\d+\) is unavailable.*nothing was stored/);
    const health = await http.get('/health');
    expect(health.status).toBe(503);
    expect(health.body.status).toBe('unavailable');
    expect(health.body.checks.database).toBe('ok');
    expect(health.body.checks.redis).toMatch(/^unavailable: /);
    expect(health.body.detail).toBe('redis is unavailable');
    // The API keeps answering from the database, and the refused task is nowhere.
    const list = await http.get('/tasks?limit=500');
    expect(list.status).toBe(200);
    expect(list.body.total).toBe(3);

    await redis.start(); // back, empty
    workerOn(redis, server);
    for (const id of accepted) {
      const done = await http.waitForTask(id, isFinal, 45_000);
      expect(done.status).toBe('succeeded');
    }
    expect((await http.get(`/tasks/${accepted[2]}/logs`)).body.logs).toBe('task 2\n');
    expect((await http.get('/health')).status).toBe(200);
  });
});

describe('Redis going away while the cluster has room', () => {
  it('still answers 503 and stores nothing (a task is not handed to the dispatcher directly then)', async () => {
    // With room and nothing waiting, a task goes to the dispatcher without a pending job; that
    // shortcut must not accept work the queues cannot take.
    const { redis, server } = await serverOnPrivateRedis();
    const worker = workerOn(redis, server, ['--executor', 'simulated']);
    await worker.waitFor(/worker: registered/, 30_000);
    const http = api(server.url);
    const ran = await http.post('/tasks', { image: 'sim', labels: { 'jarvis.sim/duration_ms': '1' } });
    expect((await http.waitForTask(ran.body.id, isFinal, 30_000)).status).toBe('succeeded');

    // The worker goes first (its last heartbeat says it stops: its node takes nothing more), so
    // that it does not sit out its time limits waiting for Redis when the test ends.
    await worker.stop();
    expect((await http.get('/nodes')).body.items[0].status).toBe('unhealthy');
    await redis.stop();
    const refused = await http.post('/tasks', { image: 'sim' });
    expect(refused.status).toBe(503);
    expect(refused.body.detail).toMatch(/task queue \(Redis at 127\.0\.0\.1:\d+\) is unavailable.*nothing was stored/);
    expect((await http.post('/tasks/batch', { tasks: [{ image: 'sim' }] })).status).toBe(503);
    expect((await http.get('/tasks?limit=10')).body.total).toBe(1);
    // Back, and seen back. Stopping then must not sit out the 15 s grace period: BullMQ's readers
    // of the pending queues could wait for ever on a blocking connection still reconnecting.
    await redis.start();
    const until = Date.now() + 20_000;
    while ((await http.get('/health')).status !== 200 && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    const stopping = Date.now();
    await server.stop();
    // On failure, the server's last lines name the part it waited for.
    const tail = server.output().split('\n').slice(-15).join('\n');
    expect(Date.now() - stopping, `the server stopped before its grace period ran out:\n${tail}`).toBeLessThan(10_000);
    expect(server.output()).not.toMatch(/grace period of \d+ ms is over/);
  });
});

describe('a pending job that ended while its task is still queued', () => {
  it('is found by the reconciler and the task runs', async () => {
    const first = await startJarvis({ command: 'server', databaseUrl: null });
    cleanups.push(() => first.shutdown());
    const http = api(first.url);
    const id = (await http.post('/tasks', { image: 'sim', labels: { 'jarvis.sim/duration_ms': '10' } })).body.id;
    await http.waitForTask(id, (t) => /no worker node/.test(t.status_reason ?? ''));
    await first.stop(); // its waiting job goes back to the queue, delayed
    // What a batch that threw leaves behind: the job in the failed set, the task still queued.
    const { Redis } = await import('ioredis');
    const redis = new Redis(REDIS_URL);
    cleanups.push(async () => redis.quit());
    const tag = `{${first.prefix}}:pending`;
    await redis.multi().zrem(`${tag}:delayed`, id).zrem(`${tag}:prioritized`, id).lrem(`${tag}:wait`, 0, id).zadd(`${tag}:failed`, Date.now(), id).hset(`${tag}:${id}`, 'finishedOn', String(Date.now()), 'failedReason', 'test').exec();

    const server = await startJarvis({ command: 'server', databaseUrl: null, prefix: first.prefix, dataDir: first.dataDir });
    cleanups.push(() => server.stop());
    const worker = spawnSimulatedWorker(server, `w-${server.prefix}`);
    cleanups.push(() => worker.stop());
    expect((await withOutputs(api(server.url).waitForTask(id, isFinal, 30_000), { server, worker })).status).toBe('succeeded');
    expect(server.output()).toContain('reconciler: re-enqueued queued or placed tasks whose jobs Redis had lost');
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/^jarvis_tasks_restored_total\{kind="queued"\} 1$/m);
    expect(metrics).toMatch(/^jarvis_tasks_restored_total\{kind="placed"\} 0$/m);
  });
});

describe('a Redis that lost every pending job of a backlog', () => {
  it('gets all of them back in one reconciler pass (read 100 tasks at a time), and they all run', async () => {
    const first = await startJarvis({ command: 'server', databaseUrl: null });
    cleanups.push(() => first.shutdown());
    const http = api(first.url);
    const body = { tasks: Array.from({ length: 250 }, () => ({ image: 'sim', labels: { 'jarvis.sim/duration_ms': '1' } })) };
    const ids: string[] = (await http.post('/tasks/batch', body)).body.items.map((t: { id: string }) => t.id);
    expect(ids).toHaveLength(250);
    await first.stop();
    const { Redis } = await import('ioredis');
    const redis = new Redis(REDIS_URL);
    cleanups.push(async () => redis.quit());
    const keys = await redis.keys(`{${first.prefix}}:pending*`);
    expect(keys.length).toBeGreaterThan(0);
    await redis.del(...keys);

    const server = await startJarvis({ command: 'server', databaseUrl: null, prefix: first.prefix, dataDir: first.dataDir });
    cleanups.push(() => server.stop());
    const worker = spawnJarvis(['worker', '--executor', 'simulated', '--max-tasks', '50'], {
      ...(process.env as Record<string, string>),
      JARVIS_REDIS_PREFIX: server.prefix,
      JARVIS_API_URL: server.url,
      JARVIS_WORKER_NAME: `w-${server.prefix}`,
    });
    cleanups.push(() => worker.stop());
    const again = api(server.url);
    // Within the test's time, so that a task that never runs shows what the server and the worker said.
    const until = Date.now() + 45_000;
    const ran = withOutputs(
      (async () => {
        const ended = [];
        for (const id of ids) ended.push(await again.waitForTask(id, isFinal, Math.max(1, until - Date.now())));
        return ended;
      })(),
      { server, worker },
    );
    for (const t of await ran) expect(t.status).toBe('succeeded');
    expect(server.output()).toMatch(/"restored":250,.*reconciler: re-enqueued queued or placed tasks whose jobs Redis had lost/);
    // Operators see it in the metrics too.
    expect(await (await fetch(`${server.url}/metrics`)).text()).toMatch(/^jarvis_tasks_restored_total\{kind="queued"\} 250$/m);
  });
});

describe('PostgreSQL going away', () => {
  it('reports the database in /health with 503 and recovers when it is back', async () => {
    const { url: databaseUrl, forwarder: fwd } = await cuttableTestDatabase(cleanups);
    const server = await startJarvis({ command: 'server', databaseUrl });
    cleanups.push(() => server.stop());
    const http = api(server.url);
    const first = await http.get('/health');
    expect(first.status, JSON.stringify(first.body)).toBe(200);

    await fwd.cut();
    const health = await http.get('/health');
    expect(health.status).toBe(503);
    expect(health.body.checks.redis).toBe('ok');
    expect(health.body.checks.database).toMatch(/^unavailable: /);
    expect(health.body.detail).toBe('database is unavailable');
    const requestId = `db-down-${Date.now()}`;
    const post = await http.post('/tasks', { image: TEST_IMAGE }, { 'x-request-id': requestId });
    expect(post.status).toBe(500);
    expect(post.body).toEqual({ detail: 'Internal Server Error' });
    // The stack goes to the log, with the request id; never to the client.
    let line: string | undefined;
    for (let i = 0; i < 300 && !line; i++) {
      line = server.output().split('\n').find((l) => l.includes(requestId) && l.includes('"level":50'));
      if (!line) await new Promise((r) => setTimeout(r, 100));
    }
    expect(line, 'an error log line naming the request id').toBeDefined();
    expect(JSON.parse(line as string).err.stack).toMatch(/\n\s+at /);

    await fwd.open();
    let status = 0;
    for (let i = 0; i < 50 && status !== 200; i++) {
      status = (await http.get('/health')).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 200));
    }
    expect(status, JSON.stringify((await http.get('/health')).body)).toBe(200);
    expect((await http.post('/tasks', { image: TEST_IMAGE, command: ['true'] })).status).toBe(201);
  });
});

describe('a cancel while Redis refuses the control plane', () => {
  it('reaches the node once Redis is back, and stops the container', async () => {
    // The cancel was recorded and answered 200, but the nodes were never told: the container ran
    // to its timeout, or for ever, on capacity the control plane counted as free.
    const redisPort = Number(new URL(REDIS_URL).port || 6379);
    const toRedis = await Forwarder.tcp(redisPort);
    cleanups.push(() => toRedis.cut());
    const server = await startJarvis({ command: 'server', databaseUrl: null, env: { REDIS_URL: `redis://127.0.0.1:${toRedis.port}` } });
    cleanups.push(() => server.stop());
    // The worker's own way to Redis stays open.
    const worker = spawnSimulatedWorker(server, `w-${server.prefix}`, { JARVIS_HEARTBEAT_SECONDS: '1' });
    cleanups.push(() => worker.stop());
    const http = api(server.url);
    const id = (await http.post('/tasks', { image: 'sim', labels: { 'jarvis.sim/duration_ms': '300000' } })).body.id as string;
    await http.waitForTask(id, (t) => t.status === 'running', 30_000);

    await toRedis.cut();
    const cancelled = await http.post(`/tasks/${id}/cancel`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe('cancelled');
    await server.waitFor(/could not tell the nodes \(Redis unavailable\); telling them again/, 10_000);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(worker.output()).not.toMatch(/"status":"cancelled"[^\n]*worker: attempt finished/);

    await toRedis.open();
    await withOutputs(worker.waitFor(/"status":"cancelled"[^\n]*worker: attempt finished/, 30_000), { server, worker });
    // The server's line may come after the worker's (its log is written asynchronously).
    await server.waitFor(/cancel: the nodes are told now/, 10_000);
  });
});

describe('the Docker engine unreachable', () => {
  it('makes the worker say so and take no jobs until the engine is back', async () => {
    const socket = join(tempDir(), 'docker.sock');
    const engine = new Forwarder({ path: socket }, { path: '/var/run/docker.sock' });
    cleanups.push(() => engine.cut());
    const jarvis = await startJarvis({
      databaseUrl: null,
      env: { DOCKER_HOST: `unix://${socket}`, JARVIS_HEARTBEAT_SECONDS: '1' },
    });
    cleanups.push(() => jarvis.stop());
    const http = api(jarvis.url);
    const complaint = jarvis.output().split('\n').find((l) => l.includes('taking no jobs until it answers again'));
    expect(complaint).toContain(`Docker engine at unix://${socket}`);
    expect(complaint).toContain('cannot be reached');

    const node = (await http.get('/nodes')).body.items[0];
    expect(node.status).toBe('unhealthy');
    const r = await http.post('/tasks', { image: TEST_IMAGE, command: ['echo', 'engine is back'] });
    const waiting = await http.waitForTask(r.body.id, (t) => /unhealthy/.test(t.status_reason ?? ''));
    expect(waiting.status).toBe('queued');
    expect(waiting.status_reason).toBe('no node fits: 1 node, 1 unhealthy');

    await engine.open();
    const done = await http.waitForTask(r.body.id, isFinal, 30_000);
    expect(done.status).toBe('succeeded');
    expect((await http.get(`/tasks/${r.body.id}/logs`)).body.logs).toBe('engine is back\n');
    expect(jarvis.output()).toContain('Docker engine answers again; taking jobs');
  });
});

describe('configuration', () => {
  it('refuses to start with an unknown key, naming it', async () => {
    const file = join(tempDir(), 'bad.yaml');
    writeFileSync(file, 'server:\n  prot: 9000\nworker:\n  capacity:\n    cpus: 2\n');
    const r = await runCli(['--config', file, 'server'], { JARVIS_REDIS_PREFIX: uniquePrefix() });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown key "server.prot"');
    expect(r.stderr).toContain('unknown key "worker.capacity.cpus"');
  });

  it('refuses a malformed value and a bad environment override, naming them', async () => {
    const file = join(tempDir(), 'bad.yaml');
    writeFileSync(file, 'tasks:\n  default_network: internet\n');
    const r = await runCli(['--config', file, 'server']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/"tasks\.default_network": Invalid option: expected one of "none"\|"bridge"\|"host"/);
    const env = await runCli(['server'], { PORT: 'eighty' });
    expect(env.code).toBe(2);
    expect(env.stderr).toContain('environment variable PORT="eighty" must be a number');
  });
});
