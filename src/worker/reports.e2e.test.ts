// A worker process's reports against a real Redis: reports given together leave in few jobs,
// "finished" ones split so no job holds much more than 256 KiB of them (a report may carry a
// 64 KiB result), each report in exactly one job, and each resolves once its job is queued,
// with its attempt's record marked as reported (what the node health check looks for).
import { randomUUID } from 'node:crypto';
import { Backoffs, Queue, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { REDIS_URL } from '../../test/support/env.ts';
import { forgetPrefix } from '../../test/support/leftovers.ts';
import { consumerConnection, EventsQueueJob, redisNames, type TaskEventJob } from '../scheduler/queues.ts';
import { Reports } from './reports.ts';

const prefix = `rep-${randomUUID().slice(0, 8)}`;
const names = redisNames(prefix);
let redis: Redis;
let events: Queue;

beforeAll(() => {
  redis = consumerConnection(REDIS_URL);
  events = new Queue(names.eventsQueue, { connection: redis, prefix: names.bullPrefix });
});
afterAll(async () => {
  await events?.obliterate({ force: true }).catch(() => undefined);
  await forgetPrefix(prefix).catch(() => undefined); // the attempts' records
  await events?.close();
  await redis?.quit();
});

type Finished = Extract<TaskEventJob, { type: 'finished' }>;
const finished = (result: string | null): Finished => ({
  type: 'finished',
  taskId: randomUUID(),
  attempt: 1,
  nodeId: randomUUID(),
  status: 'succeeded',
  exitCode: 0,
  error: null,
  startedAt: new Date().toISOString(),
  finishedAt: new Date().toISOString(),
  truncated: false,
  outputs: null,
  result,
});

/** Every job in the queue, parsed as the control plane parses it. */
async function queued() {
  const jobs = await events.getJobs(['waiting', 'prioritized', 'delayed', 'active']);
  return jobs.map((j) => ({ data: EventsQueueJob.parse(j.data), bytes: JSON.stringify(j.data).length }));
}

it('sends reports given together in few jobs, large ones split near 256 KiB, each once', async () => {
  const reports = new Reports(events, { connection: redis, names });
  const big = Array.from({ length: 10 }, (_, i) => finished(String(i).repeat(60 * 1024)));
  const small = Array.from({ length: 50 }, () => finished('ok'));
  const started = Array.from({ length: 30 }, () => ({ type: 'started' as const, taskId: randomUUID(), attempt: 1, nodeId: randomUUID(), at: new Date().toISOString() }));
  await Promise.all([...big, ...small].map((r) => reports.finished(r)).concat(started.map((r) => reports.started(r))));

  const jobs = await queued();
  const ends = jobs.flatMap((j) => (j.data.type === 'finished-many' ? [j] : []));
  const starts = jobs.flatMap((j) => (j.data.type === 'started-many' ? [j] : []));
  expect(jobs.every((j) => j.data.type === 'finished-many' || j.data.type === 'started-many'), 'no report went alone').toBe(true);
  // Ten 60 KiB reports cannot share one job: four fit in 256 KiB at most.
  expect(ends.length).toBeGreaterThanOrEqual(3);
  expect(ends.length).toBeLessThan(big.length + small.length);
  for (const j of ends) expect(j.bytes).toBeLessThan(256 * 1024 + 4096);
  const sent = ends.flatMap((j) => (j.data.type === 'finished-many' ? j.data.reports.map((r) => r.taskId) : []));
  expect(sent.sort()).toEqual([...big, ...small].map((r) => r.taskId).sort());
  const sentStarts = starts.flatMap((j) => (j.data.type === 'started-many' ? j.data.reports.map((r) => r.taskId) : []));
  expect(sentStarts.sort()).toEqual(started.map((r) => r.taskId).sort());
  // The results arrive whole.
  const byId = new Map(ends.flatMap((j) => (j.data.type === 'finished-many' ? j.data.reports : [])).map((r) => [r.taskId, r]));
  for (const r of big) expect(byId.get(r.taskId)?.result).toBe(r.result);
  // Every finished attempt's record says it was reported, and goes away within the hour.
  for (const r of [...big, ...small]) {
    const key = names.attemptKey(r.taskId, r.attempt);
    expect(await redis.hexists(key, 'reported')).toBe(1);
    const ttl = await redis.ttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(3600);
  }
});

it('fails a report whose job could not be queued within the retry policy', async () => {
  const down = consumerConnection('redis://127.0.0.1:1', { maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
  down.on('error', () => undefined);
  const broken = new Queue(names.eventsQueue, { connection: down, prefix: names.bullPrefix });
  broken.on('error', () => undefined);
  const reports = new Reports(broken, { connection: redis, names }, undefined, { forMs: 300, delayMs: 50, maxDelayMs: 100 });
  const report = finished('x');
  await expect(reports.finished(report)).rejects.toThrow();
  // No mark without its report: the node health check must see this result as lost.
  expect(await redis.exists(names.attemptKey(report.taskId, report.attempt))).toBe(0);
  await broken.close().catch(() => undefined);
  down.disconnect();
});

/** Makes Redis refuse every job added to the events queue (its id counter is no integer) until undone. */
async function refuseJobs(): Promise<() => Promise<void>> {
  const key = `${names.bullPrefix}:${names.eventsQueue}:id`;
  const was = await redis.get(key);
  await redis.set(key, 'not-a-number');
  return async () => {
    await redis.set(key, was ?? '0');
  };
}

it('tries a job Redis refuses again, so its reports are queued and marked once Redis takes it', async () => {
  const reports = new Reports(events, { connection: redis, names }, undefined, { forMs: 30_000, delayMs: 50, maxDelayMs: 200 });
  const undo = await refuseJobs();
  const report = finished('later');
  const start = { type: 'started' as const, taskId: randomUUID(), attempt: 1, nodeId: randomUUID(), at: new Date().toISOString() };
  let settled = false;
  const sent = Promise.all([reports.finished(report), reports.started(start)]).finally(() => (settled = true));
  await new Promise((r) => setTimeout(r, 600));
  expect(settled).toBe(false);
  expect(await redis.exists(names.attemptKey(report.taskId, report.attempt))).toBe(0);
  await undo();
  await sent;
  const jobs = await queued();
  const ids = jobs.flatMap((j) => (j.data.type === 'finished-many' || j.data.type === 'started-many' ? j.data.reports.map((r) => r.taskId) : []));
  expect(ids).toContain(report.taskId);
  expect(ids).toContain(start.taskId);
  expect(await redis.hexists(names.attemptKey(report.taskId, report.attempt), 'reported')).toBe(1);
});

it('fails the reports it is still trying at once when stopped', async () => {
  const reports = new Reports(events, { connection: redis, names }, undefined, { forMs: 60_000, delayMs: 50, maxDelayMs: 200 });
  const undo = await refuseJobs();
  try {
    const report = finished('never');
    const sent = reports.finished(report);
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    reports.stop();
    await expect(sent).rejects.toThrow(/not an integer/);
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect(await redis.exists(names.attemptKey(report.taskId, report.attempt))).toBe(0);
  } finally {
    await undo();
  }
});

// The `reported` mark a worker leaves on an attempt's record must outlive every try the control
// plane may still make of the report's job. Node health (monitor/node-health.ts) takes a running
// attempt its node stopped listing for lost unless the mark is there: a report still being tried
// after the mark expired had its task run again, and was ignored as stale when it came (found by
// an audit: 250 ms doubling over 20 tries, and after 34 minutes of PostgreSQL failures the next
// try was 34 minutes away, past the mark's hour). A 35-minute outage cannot be waited for here:
// the job the worker queues and the mark it writes are read back from a real Redis, and the
// waits between tries computed by BullMQ's own backoff code from the job's options.
/** How long a job may wait in the queue before its first try (a control plane restarting). */
const FIRST_TRY_WITHIN_MS = 10 * 60_000;
/** What one failed try may take: the control plane's pool gives up connecting after 5 s. */
const TRY_MS = 5_000;

it('keeps the mark until the last try of the report, and tries it again promptly', async () => {
  const reports = new Reports(events, { connection: redis, names });
  const report = {
    type: 'finished' as const,
    taskId: randomUUID(),
    attempt: 3,
    nodeId: randomUUID(),
    status: 'succeeded' as const,
    exitCode: 0,
    error: null,
    startedAt: new Date().toISOString(),
    finishedAt: new Date().toISOString(),
    truncated: false,
    outputs: null,
    result: 'done',
  };
  await reports.finished(report);
  const key = names.attemptKey(report.taskId, report.attempt);
  expect(await redis.hexists(key, 'reported')).toBe(1);
  const markLeftMs = await redis.pttl(key);

  const job = ((await events.getJobs(['waiting', 'prioritized', 'delayed'])) as Job[]).find((j) => JSON.stringify(j.data).includes(report.taskId))!;
  const attempts = job.opts.attempts ?? 1;
  const backoff = Backoffs.normalize(job.opts.backoff ?? 0);
  expect(backoff, 'a report job is tried again').toBeDefined();
  // The wait after each refused try but the last, as the control plane's BullMQ computes it.
  const waits: number[] = [];
  for (let made = 1; made < attempts; made++) waits.push(Number(await Backoffs.calculate(backoff!, made, new Error('PostgreSQL is away'), job)));
  const allWaits = waits.reduce((a, b) => a + b, 0);
  const lastTryEndsBy = FIRST_TRY_WITHIN_MS + allWaits + attempts * TRY_MS;

  expect(lastTryEndsBy, `the last of ${attempts} tries ends ${Math.round(lastTryEndsBy / 1000)} s after the report was queued, the mark expires after ${Math.round(markLeftMs / 1000)} s`).toBeLessThanOrEqual(markLeftMs);
  // Once PostgreSQL is back, a report waits for at most one wait.
  expect(Math.max(...waits)).toBeLessThanOrEqual(15_000);
  // And it still rides out a half-hour outage.
  expect(allWaits).toBeGreaterThanOrEqual(30 * 60_000);
});
