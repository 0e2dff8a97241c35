// A cancel recorded but never told: the control plane commits the task as `cancelled` (its
// capacity freed), then tells the nodes through Redis, retrying in memory only. One that stops
// between the two left the container running to its timeout, or for ever, on capacity handed out
// again. The leader's node health check tells again the nodes whose heartbeats still list a
// cancelled task.
import pg from 'pg';
import { afterAll, afterEach, expect, it } from 'vitest';
import { createTestDatabase } from './support/database.ts';
import { TEST_IMAGE } from './support/env.ts';
import { api, spawnJarvis, startJarvis } from './support/jarvis.ts';
import { removeLeftovers } from './support/leftovers.ts';
import { removeTaskContainers, runningTaskContainers } from './support/containers.ts';

// Redis keys and task containers of this file's processes; first, so that it runs after the
// other after-hooks, once those processes are stopped.
afterAll(removeLeftovers);

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


it('stops a running task whose cancel was recorded but never told to its node', async () => {
  const db = await createTestDatabase();
  cleanups.push(() => db.drop());
  const server = await startJarvis({ command: 'server', databaseUrl: db.url, env: { JARVIS_HEARTBEAT_SECONDS: '1' } });
  cleanups.push(() => server.stop());
  const http = api(server.url);
  const worker = spawnJarvis(['worker', '--name', `cancel-${server.prefix}`, '--max-tasks', '2'], {
    ...(process.env as Record<string, string>),
    JARVIS_REDIS_PREFIX: server.prefix,
    JARVIS_API_URL: server.url,
    JARVIS_HEARTBEAT_SECONDS: '1',
  });
  cleanups.push(() => worker.stop('SIGKILL'));
  await worker.waitFor(/"msg":"worker: running"/, 30_000);
  const t = await http.post('/tasks', { image: TEST_IMAGE, command: 'sleep 120', resources: { cpu: 0.1, memory_mb: 32 } });
  expect(t.status).toBe(201);
  const id = t.body.id as string;
  cleanups.push(async () => removeTaskContainers(id));
  const started = await http.waitForTask(id, (x) => x.status === 'running', 30_000);
  const until = Date.now() + 10_000;
  while (!(await http.get(`/nodes/${started.node_id}`)).body.running_tasks?.includes(id) && Date.now() < until) await sleep(200);
  expect((await http.get(`/nodes/${started.node_id}`)).body.running_tasks).toContain(id);
  expect(runningTaskContainers(id)).not.toBe('');

  // The cancel as TaskStore.cancelLocked records it, with its reservation released, and then
  // nothing: the control plane that recorded it stopped before telling any node.
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  try {
    await c.query('BEGIN');
    const row = await c.query(
      `UPDATE tasks SET status = 'cancelled', status_reason = NULL, finished_at = now(), error = 'cancelled by request', dag_ready = false
       WHERE id = $1 AND status = 'running' RETURNING node_id, cpu, memory_mb, gpu`,
      [id],
    );
    expect(row.rowCount).toBe(1);
    const r = row.rows[0] as { node_id: string; cpu: number; memory_mb: number; gpu: number };
    await c.query(
      `UPDATE nodes SET allocated_cpu = greatest(allocated_cpu - $2, 0), allocated_memory_mb = greatest(allocated_memory_mb - $3, 0),
         allocated_gpu = greatest(allocated_gpu - $4, 0), allocated_tasks = greatest(allocated_tasks - 1, 0) WHERE id = $1`,
      [r.node_id, r.cpu, r.memory_mb, r.gpu],
    );
    await c.query('COMMIT');
  } finally {
    await c.end();
  }
  const cancelledAt = Date.now();

  // Told again after two heartbeat periods of grace, within one more; the worker then kills the
  // container (before, it slept on for its 120 s).
  const gone = Date.now() + 15_000;
  while (runningTaskContainers(id) !== '' && Date.now() < gone) await sleep(200);
  expect(runningTaskContainers(id), 'the container of the cancelled task still runs').toBe('');
  expect(Date.now() - cancelledAt).toBeLessThan(15_000);
  await server.waitFor(/still runs a task cancelled earlier; telling it again to stop attempt 1/, 5_000);
  await worker.waitFor(/"attempt":1,"status":"cancelled"[^\n]*"msg":"worker: attempt finished"/, 10_000);

  // It stays cancelled, as attempt 1: the "cancelled" report changed nothing, nothing ran it again.
  await sleep(3_000);
  expect((await http.get(`/tasks/${id}`)).body).toMatchObject({ status: 'cancelled', attempts: 1 });
  const node = (await http.get(`/nodes/${started.node_id}`)).body;
  expect(node.running_tasks).not.toContain(id);
  expect(node.status).toBe('available');
}, 90_000);
