// `jarvis server --processes 2` (node:cluster): two API processes answer on one port, a third
// process schedules (the only one that leads), tasks submitted through both are placed exactly
// once, /metrics answers for all of them, and SIGTERM to the primary stops every process. `jarvis up --processes 2` runs on its embedded PostgreSQL, shared by
// the API processes, and its local worker runs a container.
import { existsSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, expect, it } from 'vitest';
import { createTestDatabase } from './support/database.ts';
import { api, spawnJarvis, startJarvis } from './support/jarvis.ts';
import { TEST_IMAGE } from './support/env.ts';
import { removeLeftovers } from './support/leftovers.ts';
import { signInWithFetch } from './support/dashboard.ts';

// Redis keys and task containers of this file's processes; first, so that it runs after the
// other after-hooks, once those processes are stopped.
afterAll(removeLeftovers);

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

interface LogLine {
  msg?: string;
  pid?: number;
  path?: string;
  method?: string;
  pids?: number[];
  scheduler?: number;
}
const lines = (out: string): LogLine[] =>
  out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);

it('serves one port from two processes, places each task once, and stops them all on SIGTERM', async () => {
  const db = await createTestDatabase();
  cleanups.push(() => db.drop());
  const server = await startJarvis({ command: 'server', databaseUrl: db.url, args: ['--processes', '2'] });
  cleanups.push(() => server.shutdown()); // SIGTERM first: a SIGKILL of the primary alone may leave its processes
  const ready = lines(server.output()).find((l) => l.msg === 'API processes ready');
  expect(ready?.pids).toHaveLength(2);
  const [p1, p2] = ready!.pids!;
  const scheduler = ready!.scheduler!;
  expect(new Set([p1, p2, scheduler, server.child.pid]).size).toBe(4);
  // Exactly one process leads: the scheduler process, which serves no request.
  const leads = () => lines(server.output()).filter((l) => l.msg === 'leader: this control plane now schedules and monitors');
  for (let i = 0; i < 300 && leads().length === 0; i++) await new Promise((r) => setTimeout(r, 100));
  expect(leads().map((l) => l.pid)).toEqual([scheduler]);

  const worker = spawnJarvis(['worker', '--executor', 'simulated', '--cpu', '64', '--memory-mb', '65536', '--max-tasks', '50'], {
    ...(process.env as Record<string, string>),
    JARVIS_REDIS_PREFIX: server.prefix,
    JARVIS_API_URL: server.url,
    JARVIS_WORKER_NAME: `sim-${server.prefix}`,
  });
  cleanups.push(() => worker.stop());
  await worker.waitFor(/worker: registered/, 30_000);

  // Many connections at once: the primary hands them to the two processes in turn.
  const http = api(server.url);
  const task = (i: number) => ({ image: 'sim', name: `c${i}`, labels: { 'jarvis.sim/duration_ms': '50' } });
  const answers = await Promise.all(Array.from({ length: 120 }, (_, i) => http.post('/tasks', task(i))));
  expect(answers.map((a) => a.status)).toEqual(answers.map(() => 201));
  const batch = await http.post('/tasks/batch', { tasks: Array.from({ length: 80 }, (_, i) => task(200 + i)) });
  expect(batch.status).toBe(201);
  // Log lines are written within 50 ms (buffered).
  const servedBy = () => new Set(lines(server.output()).filter((l) => l.msg === 'request' && l.method === 'POST' && l.path === '/tasks').map((l) => l.pid));
  for (let i = 0; i < 300 && servedBy().size < 2; i++) await new Promise((r) => setTimeout(r, 100));
  expect([...servedBy()].sort()).toEqual([p1, p2].sort());
  expect(leads().map((l) => l.pid)).toEqual([scheduler]);

  const ids = [...answers.map((a) => a.body.id as string), ...batch.body.items.map((t: { id: string }) => t.id)];
  expect(new Set(ids).size).toBe(200);
  for (const id of ids) {
    const t = await http.waitForTask(id, (x) => x.status === 'succeeded', 60_000);
    expect(t.attempts).toBe(1);
  }
  // Placed once each: one "scheduled" event per task.
  for (const id of ids.filter((_, i) => i % 5 === 0)) {
    const events = (await http.get(`/tasks/${id}/events`)).body.items.map((e: { status: string }) => e.status);
    expect(events).toEqual(['queued', 'scheduled', 'running', 'succeeded']);
  }
  const page = await http.get('/tasks?limit=1');
  expect(page.body.total).toBe(200);

  // /metrics answers for the cluster whichever process takes the scrape: counters summed over
  // both (120 single submits, 80 in a batch), figures read from the database once.
  for (let i = 0; i < 4; i++) {
    const text = (await http.get('/metrics')).body as string;
    const submitted = [...text.matchAll(/^jarvis_tasks_submitted_total\{priority="normal"\} (\d+)/gm)].map((m) => Number(m[1]));
    expect(submitted).toEqual([200]);
    expect(text).toMatch(/^jarvis_tasks\{status="succeeded"\} 200$/m);
  }

  // An API process that dies is started again, and the cluster's counters do not go down with
  // it (Prometheus would read a reset, and take the whole count for one interval's increase).
  process.kill(p1, 'SIGKILL');
  await server.waitFor(/API process \d ended unexpectedly; starting another/, 10_000);
  // A scrape while the new process starts (forked 1 s after the death) is answered by those ready.
  await new Promise((r) => setTimeout(r, 1_300));
  const during = await http.get('/metrics');
  expect(during.status, 'a scrape while a process starts').toBe(200);
  expect(during.body as string).toMatch(/^jarvis_tasks_submitted_total\{priority="normal"\} 200$/m);
  const listening = () => lines(server.output()).filter((l) => l.msg === 'API process listening').length;
  for (let i = 0; i < 100 && listening() < 3; i++) await new Promise((r) => setTimeout(r, 100));
  expect(listening(), 'a new API process listens').toBe(3);
  for (let i = 0; i < 4; i++) {
    const text = (await http.get('/metrics')).body as string;
    const submitted = [...text.matchAll(/^jarvis_tasks_submitted_total\{priority="normal"\} (\d+)/gm)].map((m) => Number(m[1]));
    expect(submitted, 'after a restart').toEqual([200]);
  }
  expect((await http.post('/tasks', task(999))).status).toBe(201);
  const after = (await http.get('/metrics')).body as string;
  expect(after).toMatch(/^jarvis_tasks_submitted_total\{priority="normal"\} 201$/m);

  expect(await server.stop('SIGTERM')).toBe(0);
  expect(alive(p1) || alive(p2) || alive(scheduler)).toBe(false);
}, 180_000);

it("keeps a dashboard session made by one API process on the other (sessions are in Redis)", async () => {
  const db = await createTestDatabase();
  cleanups.push(() => db.drop());
  const ADMIN = 'test-admin-key-cluster-0123456789abcdef';
  const server = await startJarvis({ command: 'server', databaseUrl: db.url, args: ['--processes', '2'], env: { JARVIS_ADMIN_KEY: ADMIN } });
  cleanups.push(() => server.shutdown());
  const [p1, p2] = lines(server.output()).find((l) => l.msg === 'API processes ready')!.pids!;
  const signedIn = await signInWithFetch(server.url, ADMIN);
  // Each page on a connection of its own: the primary hands connections to the processes in turn.
  const onNewConnection = (path: string) =>
    new Promise<number>((resolve, reject) => {
      const req = httpGet(server.url + path, { agent: false, headers: { cookie: signedIn.cookie } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      });
      req.on('error', reject);
    });
  const statuses: number[] = [];
  for (let i = 0; i < 8; i++) statuses.push(await onNewConnection(`/ui/tasks?n=${i}`));
  expect(statuses).toEqual(Array(8).fill(200));
  const servedBy = () => new Set(lines(server.output()).filter((l) => l.msg === 'request' && l.path === '/ui/tasks').map((l) => l.pid));
  for (let i = 0; i < 300 && servedBy().size < 2; i++) await new Promise((r) => setTimeout(r, 100));
  expect([...servedBy()].sort()).toEqual([p1, p2].sort());
  expect(await server.stop('SIGTERM')).toBe(0);
}, 120_000);

it('jarvis up --processes 2 shares its embedded PostgreSQL between the API processes and runs a container', async () => {
  const up = await startJarvis({ command: 'up', databaseUrl: null, args: ['--processes', '2'] });
  cleanups.push(() => up.shutdown()); // SIGTERM first: a SIGKILL would leave its private PostgreSQL running
  const ready = lines(up.output()).find((l) => l.msg === 'API processes ready');
  expect(ready?.pids).toHaveLength(2);
  const http = api(up.url);
  const t = await http.post('/tasks', { image: TEST_IMAGE, command: ['sh', '-c', 'echo from-a-cluster'] });
  expect(t.status).toBe(201);
  await http.waitForTask(t.body.id, (x) => x.status === 'succeeded', 60_000);
  const logs = await http.get(`/tasks/${t.body.id}/logs`);
  expect(logs.body.logs).toContain('from-a-cluster');
  expect(await up.stop('SIGTERM')).toBe(0);
  for (const pid of [...ready!.pids!, ready!.scheduler!]) expect(alive(pid)).toBe(false);
  // The embedded server stopped with it: its pid file is gone.
  expect(existsSync(join(dirname(up.dataDir), 'postgres', 'postmaster.pid'))).toBe(false);
}, 180_000);
