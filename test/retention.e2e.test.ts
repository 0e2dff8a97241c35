// tasks.retention_days: the leader deletes the workflows and standalone tasks that ended more
// than that many days ago, with their stored logs and history, and keeps everything else: what
// is still running however old (a workflow's task retried alone included), and what ended recently. Driven through a `jarvis server` and its
// API; the rows are made old in the database, as the days cannot pass in a test.
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { createTestDatabase } from './support/database.ts';
import { api, spawnSimulatedWorker, startJarvis } from './support/jarvis.ts';
import { removeLeftovers } from './support/leftovers.ts';
import { freePort } from './support/services.ts';

// Redis keys and task containers of this file's processes; first, so that it runs after the
// other after-hooks, once those processes are stopped.
afterAll(removeLeftovers);

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

it('deletes what ended more than retention_days ago, with its logs and history, and keeps the rest', async () => {
  const db = await createTestDatabase();
  cleanups.push(() => db.drop());
  const env = { JARVIS_TASK_RETENTION_DAYS: '30' };
  const first = await startJarvis({ command: 'server', databaseUrl: db.url, env });
  cleanups.push(() => first.stop());
  const worker = spawnSimulatedWorker(first, `w-${first.prefix}`);
  cleanups.push(() => worker.stop());
  const http = api(first.url);
  const sim = (ms: number) => ({ image: 'sim', labels: { 'jarvis.sim/duration_ms': String(ms) } });
  const old = (await http.post('/tasks', sim(1))).body.id as string;
  const recent = (await http.post('/tasks', sim(1))).body.id as string;
  const running = (await http.post('/tasks', sim(600_000))).body.id as string;
  const oldFlow = (await http.post('/workflows', { tasks: [{ key: 'a', ...sim(1) }, { key: 'b', ...sim(1), depends_on: ['a'] }] })).body;
  for (const id of [old, recent]) await http.waitForTask(id, (t) => t.status === 'succeeded');
  await http.waitForTask(running, (t) => t.status === 'running');
  for (let i = 0; i < 100 && (await http.get(`/workflows/${oldFlow.id}`)).body.status !== 'succeeded'; i++) await new Promise((r) => setTimeout(r, 100));
  expect((await http.get(`/workflows/${oldFlow.id}`)).body.status).toBe('succeeded');
  await first.stop();

  // 40 days ago: the old task and workflow ended then, the running task was submitted then.
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  cleanups.push(() => client.end());
  const flowTasks = (oldFlow.tasks as Array<{ id: string }>).map((t) => t.id);
  await client.query(`update tasks set created_at = now() - interval '41 days', finished_at = now() - interval '40 days' where id = any($1::uuid[])`, [[old, ...flowTasks]]);
  await client.query(`update tasks set created_at = now() - interval '41 days' where id = $1`, [running]);
  await client.query(`update workflows set created_at = now() - interval '41 days', finished_at = now() - interval '40 days' where id = $1`, [oldFlow.id]);

  const counts = () =>
    client.query(
      `select (select count(*)::int from task_events where task_id = any($1::uuid[])) as events,
              (select count(*)::int from task_logs where task_id = any($1::uuid[])) as logs,
              (select count(*)::int from workflow_events where workflow_id = $2) as wf_events`,
      [[old, ...flowTasks], oldFlow.id],
    );
  const before = (await counts()).rows[0];
  expect(before.events).toBeGreaterThan(0);
  expect(before.logs).toBeGreaterThan(0);
  expect(before.wf_events).toBeGreaterThan(0);

  // The next leader deletes them at its election.
  const server = await startJarvis({ command: 'server', databaseUrl: db.url, prefix: first.prefix, env });
  cleanups.push(() => server.stop());
  await server.waitFor(/"msg":"retention: deleted 1 workflow\(s\) and 1 task\(s\) that ended more than 30 days ago[^"]*"/, 20_000);
  const again = api(server.url);
  expect((await again.get(`/tasks/${old}`)).status).toBe(404);
  expect((await again.get(`/workflows/${oldFlow.id}`)).status).toBe(404);
  for (const id of flowTasks) expect((await again.get(`/tasks/${id}`)).status).toBe(404);
  expect((await again.get(`/tasks/${recent}`)).body.status).toBe('succeeded');
  expect((await again.get(`/tasks/${running}`)).body.status).toBe('running');
  // Their history and stored logs went with them.
  expect((await counts()).rows[0]).toEqual({ events: 0, logs: 0, wf_events: 0 });
  expect((await again.get(`/tasks/${recent}/events`)).body.items.length).toBeGreaterThan(0);
}, 90_000);

it('keeps an ended workflow while a task of it, retried alone, is unfinished or ended recently', async () => {
  // A task of an ended workflow can be retried alone (POST /tasks/{id}/retry). Until session 32
  // retention aged a workflow by its own end only: it deleted the workflow with such a task still
  // running, its node's reservation never given back and the user's retry gone (404).
  const db = await createTestDatabase();
  cleanups.push(() => db.drop());
  // One port for both servers, so the worker keeps reaching the control plane across the restart.
  const env = { JARVIS_TASK_RETENTION_DAYS: '30', PORT: String(await freePort()) };
  const first = await startJarvis({ command: 'server', databaseUrl: db.url, env });
  cleanups.push(() => first.stop());
  const worker = spawnSimulatedWorker(first, `w-${first.prefix}`);
  cleanups.push(() => worker.stop());
  const http = api(first.url);
  const sim = (ms: number, exit = 0) => ({ image: 'sim', labels: { 'jarvis.sim/duration_ms': String(ms), 'jarvis.sim/exit_code': String(exit) } });
  const flowEnded = async (id: string) => {
    for (let i = 0; i < 200 && (await http.get(`/workflows/${id}`)).body.status === 'running'; i++) await new Promise((r) => setTimeout(r, 100));
    return (await http.get(`/workflows/${id}`)).body;
  };

  // Cancelled, then its task retried alone: running when retention comes.
  const running = (await http.post('/workflows', { tasks: [{ key: 'a', ...sim(600_000) }] })).body;
  const a = running.tasks[0].id as string;
  await http.waitForTask(a, (t) => t.status === 'running');
  expect((await http.post(`/workflows/${running.id}/cancel`)).status).toBe(200);
  await http.waitForTask(a, (t) => t.status === 'cancelled');
  expect((await http.post(`/tasks/${a}/retry`)).status).toBe(200);
  await http.waitForTask(a, (t) => t.status === 'running');
  // Failed, its task retried alone and failed again just now.
  const recent = (await http.post('/workflows', { tasks: [{ key: 'b', ...sim(1, 1) }] })).body;
  const b = recent.tasks[0].id as string;
  expect((await flowEnded(recent.id)).status).toBe('failed');
  expect((await http.post(`/tasks/${b}/retry`)).status).toBe(200);
  await http.waitForTask(b, (t) => t.status === 'failed' && t.attempts === 2);
  // Old through and through: deleted.
  const old = (await http.post('/workflows', { tasks: [{ key: 'c', ...sim(1) }] })).body;
  expect((await flowEnded(old.id)).status).toBe('succeeded');
  const nodeBefore = (await http.get('/nodes')).body.items[0];
  expect(nodeBefore.allocated.tasks).toBe(1);
  await first.stop();

  // The workflows ended 40 days ago; the tasks of `old` too, `b` ended now, `a` runs.
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  cleanups.push(() => client.end());
  const ids = [running.id, recent.id, old.id];
  await client.query(`update workflows set created_at = now() - interval '41 days', finished_at = now() - interval '40 days' where id = any($1::uuid[])`, [ids]);
  await client.query(`update tasks set created_at = now() - interval '41 days' where workflow_id = any($1::uuid[])`, [ids]);
  await client.query(`update tasks set finished_at = now() - interval '40 days' where workflow_id = $1`, [old.id]);

  const server = await startJarvis({ command: 'server', databaseUrl: db.url, prefix: first.prefix, env });
  cleanups.push(() => server.stop());
  await server.waitFor(/"msg":"retention: deleted 1 workflow\(s\) and 0 task\(s\) that ended more than 30 days ago[^"]*"/, 20_000);
  const again = api(server.url);
  expect((await again.get(`/workflows/${old.id}`)).status).toBe(404);
  expect((await again.get(`/workflows/${running.id}`)).body).toMatchObject({ status: 'cancelled' });
  expect((await again.get(`/tasks/${a}`)).body).toMatchObject({ status: 'running', attempts: 2 });
  expect((await again.get(`/workflows/${recent.id}`)).body).toMatchObject({ status: 'failed' });
  expect((await again.get(`/tasks/${b}`)).body).toMatchObject({ status: 'failed', attempts: 2 });
  // The running task still holds its reservation, and gives it back when it ends.
  expect((await again.get('/nodes')).body.items[0].allocated).toEqual(nodeBefore.allocated);
  expect((await again.post(`/tasks/${a}/cancel`)).status).toBe(200);
  expect((await again.get('/nodes')).body.items[0].allocated).toMatchObject({ tasks: 0, cpu: 0, memory_mb: 0 });
}, 120_000);
