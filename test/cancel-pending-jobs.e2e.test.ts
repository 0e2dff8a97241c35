// A cancel takes the cancelled tasks' own pending jobs out of Redis. A failed task waiting out its
// retry's backoff is queued with a delayed job whose id is the task's; an add of that id is a
// no-op while it is there, so when a workflow's cancel (or a schedule's replace) left the job, a
// later retry sat queued on an idle cluster until the old backoff ended (up to a day). And a retry
// removes such a job itself, for one a cancel could not remove (Redis refused it then, or a control
// plane from before this fix cancelled it). Through a `jarvis server` with a simulated worker.
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PRIORITY_RANK } from '../src/domain/task.ts';
import { redisNames } from '../src/scheduler/queues.ts';
import { createTestDatabase } from './support/database.ts';
import { REDIS_URL } from './support/env.ts';
import { api, spawnSimulatedWorker, startJarvis } from './support/jarvis.ts';
import { removeLeftovers } from './support/leftovers.ts';

// Redis keys and task containers of this file's processes; first, so that it runs after the
// other after-hooks, once those processes are stopped.
afterAll(removeLeftovers);

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

let http: ReturnType<typeof api>;
let queue: Queue;

beforeAll(async () => {
  const db = await createTestDatabase();
  cleanups.push(() => db.drop());
  const server = await startJarvis({ command: 'server', databaseUrl: db.url });
  cleanups.push(() => server.stop());
  const worker = spawnSimulatedWorker(server, `w-${server.prefix}`);
  cleanups.push(() => worker.stop());
  await worker.waitFor(/worker: registered/, 30_000);
  http = api(server.url);
  const names = redisNames(server.prefix);
  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  cleanups.push(async () => connection.disconnect());
  queue = new Queue(names.pendingQueue('default'), { connection, prefix: names.bullPrefix });
  cleanups.push(() => queue.close());
}, 90_000);

/** Fails at once, then waits 300 s before its second attempt. */
const failing = (key: string) => ({
  key,
  image: 'sim',
  max_retries: 1,
  retry_backoff_seconds: 300,
  labels: { 'jarvis.sim/duration_ms': '1', 'jarvis.sim/exit_code': '1' },
});

/** Waits until the task failed its first attempt and waits for its retry (queued, a delayed job). */
async function waitingForRetry(id: string) {
  return http.waitForTask(id, (t) => t.status === 'queued' && t.attempts === 1, 30_000);
}

/** The task's second attempt is placed within seconds, not after the 300 s backoff. */
async function secondAttemptPlaced(id: string) {
  return http.waitForTask(id, (t) => t.attempts >= 2, 15_000);
}

/** A delayed job of the task's id, as a cancel that could not remove it leaves it. */
async function leaveStaleJob(id: string) {
  await queue.add('place', { taskId: id, notBefore: Date.now() + 300_000 }, { jobId: id, delay: 300_000, priority: PRIORITY_RANK.normal, removeOnComplete: true });
  expect(await queue.getJobState(id)).toBe('delayed');
}

describe('a cancel removes the pending jobs of the tasks it cancels', () => {
  it("a workflow's cancel: the workflow's retry places the task at once", async () => {
    const wf = (await http.post('/workflows', { name: 'cancel-then-retry', tasks: [failing('a')] })).body;
    const a = wf.tasks[0].id as string;
    await waitingForRetry(a);
    expect(await queue.getJobState(a)).toBe('delayed');
    expect((await http.post(`/workflows/${wf.id}/cancel`)).status).toBe(200);
    expect((await http.get(`/tasks/${a}`)).body.status).toBe('cancelled');
    expect((await http.post(`/workflows/${wf.id}/retry`)).status).toBe(200);
    await secondAttemptPlaced(a);
  });

  it("a schedule's replace: the replaced run's retry places its task at once", async () => {
    const s = (await http.post('/schedules', { name: 'replace-failing', cron: '*/4 * * * * *', concurrency: 'replace', workflow: { tasks: [failing('a')] } })).body;
    // Its first run (the list is newest first).
    let first: { id: string; tasks: Array<{ id: string }> } | undefined;
    for (let i = 0; i < 150 && !first; i++) {
      const list = (await http.get(`/workflows?schedule_id=${s.id}&limit=10`)).body.items as Array<{ id: string }>;
      if (list.length >= 1) first = (await http.get(`/workflows/${list.at(-1)!.id}`)).body;
      else await new Promise((r) => setTimeout(r, 100));
    }
    const a = first!.tasks[0].id;
    await waitingForRetry(a);
    // The next tick replaces it: cancelled while it waited for its retry.
    await http.waitForTask(a, (t) => t.status === 'cancelled', 15_000);
    expect((await http.call('PATCH', `/schedules/${s.id}`, { paused: true })).status).toBe(200);
    const events = (await http.get(`/tasks/${a}/events`)).body.items.map((e: { status: string }) => e.status);
    expect(events.slice(-2)).toEqual(['queued', 'cancelled']);
    expect((await http.post(`/workflows/${first!.id}/retry`)).status).toBe(200);
    await secondAttemptPlaced(a);
  });
});

describe('a retry removes a pending job a cancel left', () => {
  it("the workflow's retry", async () => {
    const wf = (await http.post('/workflows', { name: 'stale-wf', tasks: [failing('a')] })).body;
    const a = wf.tasks[0].id as string;
    await waitingForRetry(a);
    expect((await http.post(`/workflows/${wf.id}/cancel`)).status).toBe(200);
    await leaveStaleJob(a);
    expect((await http.post(`/workflows/${wf.id}/retry`)).status).toBe(200);
    await secondAttemptPlaced(a);
  });

  it("a task's own retry, once its workflow has ended", async () => {
    const wf = (await http.post('/workflows', { name: 'stale-task', tasks: [failing('a')] })).body;
    const a = wf.tasks[0].id as string;
    await waitingForRetry(a);
    expect((await http.post(`/workflows/${wf.id}/cancel`)).status).toBe(200);
    await leaveStaleJob(a);
    expect((await http.post(`/tasks/${a}/retry`)).status).toBe(200);
    await secondAttemptPlaced(a);
  });
});
