// Silence the control plane could not hear is no node's fault. PostgreSQL away for longer than
// nodes.offline_seconds while the leader keeps its Redis lock: heartbeats could not be recorded,
// and the first check after the database came back took every node whose next heartbeat had not
// landed yet for offline, placing its running tasks again (attempt 2) while the workers killed
// attempt 1. And with several nodes none of which is heard (every API process down), none is
// taken for offline until one is heard again.
import pg from 'pg';
import { afterAll, afterEach, expect, it } from 'vitest';
import { createTestDatabase } from './support/database.ts';
import { TEST_DATABASE_URL, TEST_IMAGE } from './support/env.ts';
import { api, spawnJarvis, startJarvis } from './support/jarvis.ts';
import { removeLeftovers } from './support/leftovers.ts';
import { removeTaskContainers, runningTaskContainers } from './support/containers.ts';
import { cuttableProxy } from './support/proxies.ts';

// Redis keys and task containers of this file's processes; first, so that it runs after the
// other after-hooks, once those processes are stopped.
afterAll(removeLeftovers);

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs one statement as the test services' superuser, outside the database it is about. */
async function admin(statement: string): Promise<void> {
  const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await c.connect();
  try {
    await c.query(statement);
  } finally {
    await c.end();
  }
}

/** The database refuses every connection (superusers' too) and drops those it has; `open` undoes it. */
async function takeAway(dbName: string): Promise<{ open(): Promise<void> }> {
  await admin(`ALTER DATABASE ${dbName} ALLOW_CONNECTIONS false`);
  await admin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${dbName}' AND pid <> pg_backend_pid()`);
  return { open: () => admin(`ALTER DATABASE ${dbName} ALLOW_CONNECTIONS true`) };
}



it('takes no node for offline for the silence of a database outage longer than nodes.offline_seconds', async () => {
  const db = await createTestDatabase();
  cleanups.push(() => db.drop());
  const dbName = new URL(db.url).pathname.slice(1);
  // Offline after 5 s of silence (offline_seconds 3, never before five 1 s periods).
  const server = await startJarvis({ command: 'server', databaseUrl: db.url, env: { JARVIS_OFFLINE_SECONDS: '3', JARVIS_HEARTBEAT_SECONDS: '1' } });
  cleanups.push(() => server.stop());
  const http = api(server.url);
  // The worker reaches the API through a proxy, so the test decides when its first heartbeat
  // after the outage lands: a moment after the leader's first check with the database back,
  // as it does for most nodes of a cluster (their next heartbeat is up to a period away).
  const proxy = await cuttableProxy(server.url);
  cleanups.push(() => proxy.close());
  const worker = spawnJarvis(['worker', '--name', `outage-${server.prefix}`, '--max-tasks', '2'], {
    ...(process.env as Record<string, string>),
    JARVIS_REDIS_PREFIX: server.prefix,
    JARVIS_API_URL: proxy.url,
    JARVIS_HEARTBEAT_SECONDS: '1',
  });
  cleanups.push(() => worker.stop('SIGKILL'));
  await worker.waitFor(/"msg":"worker: running"/, 30_000);
  const t = await http.post('/tasks', { image: TEST_IMAGE, command: 'sleep 120', resources: { cpu: 0.1, memory_mb: 32 } });
  expect(t.status).toBe(201);
  const id = t.body.id as string;
  cleanups.push(async () => removeTaskContainers(id));
  const started = await http.waitForTask(id, (x) => x.status === 'running', 30_000);
  const nodeId = started.node_id as string;

  const outage = await takeAway(dbName);
  try {
    await server.waitFor(/node health: check failed/, 10_000);
    await sleep(7_000); // longer than the 5 s after which a silent node is offline
    proxy.cut(true);
  } finally {
    await outage.open();
  }
  // The database is back; the node's next heartbeat has not landed yet.
  await sleep(2_500);
  proxy.cut(false);
  const node = await http.get(`/nodes/${nodeId}`);
  expect(node.status).toBe(200);
  expect(node.body.status).not.toBe('offline');
  expect((await http.get(`/tasks/${id}`)).body).toMatchObject({ status: 'running', attempts: 1 });
  // Heard again, it is available; its task runs on as attempt 1, its container never stopped.
  const until = Date.now() + 10_000;
  while ((await http.get(`/nodes/${nodeId}`)).body.status !== 'available' && Date.now() < until) await sleep(200);
  expect((await http.get(`/nodes/${nodeId}`)).body.status).toBe('available');
  await sleep(3_000);
  expect((await http.get(`/tasks/${id}`)).body).toMatchObject({ status: 'running', attempts: 1, node_id: nodeId });
  const history = ((await http.get(`/tasks/${id}/events`)).body.items as Array<{ status: string; attempt: number }>).map((e) => `${e.status}@${e.attempt}`);
  expect(history).toEqual(['queued@0', 'scheduled@1', 'running@1']);
  expect(runningTaskContainers(id)).not.toBe('');
  expect(worker.output()).not.toMatch(/stopped an attempt this node no longer owns/);
  await server.waitFor(/node health: the database answers again; silence is counted from now/, 5_000);
}, 120_000);

it('takes none of several nodes for offline while it hears none of them, and counts silence from when one is heard', async () => {
  // The test plays two nodes through the HTTP calls a worker makes. Both fall silent, as when
  // every API process is down or cannot write heartbeats (a leader in another process sees only
  // the silence): neither is taken for offline. Once one is heard again the other gets
  // offline_seconds from then, and goes offline if it stays silent.
  const db = await createTestDatabase();
  cleanups.push(() => db.drop());
  const server = await startJarvis({ command: 'server', databaseUrl: db.url, env: { JARVIS_OFFLINE_SECONDS: '3', JARVIS_HEARTBEAT_SECONDS: '1', JARVIS_UNHEARD_HOLD_SECONDS: '120' } });
  cleanups.push(() => server.stop());
  const http = api(server.url);
  const register = async (name: string) => {
    const r = await http.post('/nodes/register', { name: `${name}-${server.prefix}`, hostname: 'h', capacity: { cpu: 1, memory_mb: 512, max_tasks: 1 } });
    expect(r.status).toBe(201);
    const node = r.body as { id: string; token: string };
    return {
      id: node.id,
      beat: () => http.post(`/nodes/${node.id}/heartbeat`, { cpu_percent: 1, memory_used_mb: 10, running_task_ids: [], engine: 'ok' }, { authorization: `Bearer ${node.token}` }),
      status: async () => (await http.get(`/nodes/${node.id}`)).body.status as string,
    };
  };
  const a = await register('a');
  const b = await register('b');
  for (let i = 0; i < 3; i++) {
    expect((await a.beat()).status).toBe(200);
    expect((await b.beat()).status).toBe(200);
    await sleep(500);
  }

  await sleep(8_000); // both silent for longer than the 5 s after which a silent node is offline
  expect(await a.status()).not.toBe('offline');
  expect(await b.status()).not.toBe('offline');
  await server.waitFor(/node health: no node heard lately; none is taken for offline until one is/, 5_000);

  // a is heard again and beats on; b stays silent.
  let beating = true;
  const beats = (async () => {
    while (beating) {
      await a.beat();
      await sleep(500);
    }
  })();
  cleanups.push(async () => {
    beating = false;
    await beats;
  });
  await server.waitFor(/node health: a node is heard again; silence is counted from now/, 5_000);
  const heardAt = Date.now();
  await sleep(2_000);
  expect(await b.status()).not.toBe('offline');
  const until = Date.now() + 15_000;
  while ((await b.status()) !== 'offline' && Date.now() < until) await sleep(200);
  expect(await b.status()).toBe('offline');
  expect(Date.now() - heardAt).toBeGreaterThanOrEqual(4_000); // offline 5 s after a was heard, checked every second
  expect(await a.status()).toBe('available');
}, 90_000);

it('still takes them for offline once none has been heard for nodes.unheard_hold_seconds (the whole cluster died)', async () => {
  // Held for ever, such nodes never went offline: no alert, no delete, their tasks never placed again.
  const db = await createTestDatabase();
  cleanups.push(() => db.drop());
  const server = await startJarvis({ command: 'server', databaseUrl: db.url, env: { JARVIS_OFFLINE_SECONDS: '3', JARVIS_HEARTBEAT_SECONDS: '1', JARVIS_UNHEARD_HOLD_SECONDS: '4' } });
  cleanups.push(() => server.stop());
  const http = api(server.url);
  const ids: string[] = [];
  for (const name of ['x', 'y']) {
    const r = await http.post('/nodes/register', { name: `${name}-${server.prefix}`, hostname: 'h', capacity: { cpu: 1, memory_mb: 512, max_tasks: 1 } });
    const node = r.body as { id: string; token: string };
    await http.post(`/nodes/${node.id}/heartbeat`, { running_task_ids: [], engine: 'ok' }, { authorization: `Bearer ${node.token}` });
    ids.push(node.id);
  }
  await server.waitFor(/node health: no node heard lately; none is taken for offline until one is, or for 4 s/, 15_000);
  const heldAt = Date.now();
  const status = async (id: string) => (await http.get(`/nodes/${id}`)).body.status as string;
  const until = Date.now() + 20_000;
  while ((await status(ids[0])) !== 'offline' && Date.now() < until) await sleep(200);
  expect([await status(ids[0]), await status(ids[1])]).toEqual(['offline', 'offline']);
  expect(Date.now() - heldAt).toBeGreaterThanOrEqual(2_000); // held for the 4 s (the line comes up to a check late)
  await server.waitFor(/no node was heard for nodes.unheard_hold_seconds; the silent nodes are offline/, 5_000);
}, 60_000);
