// A tenant's queue readers against a real Redis: a reader hands each job to the dispatcher as
// soon as it has it, also when it starts on a long queue, when work arrives after the queue was
// empty, and when its paused queue is read again. BullMQ's worker fetches jobs one after another
// until it holds `concurrency` of them before handing out the first, so with the dispatcher's
// 500 per reader a backlog's first job waited for 2,000 round trips to Redis (seconds under load,
// with nothing placed meanwhile: docs/decisions.md, "A reader's first job").
import { randomUUID } from 'node:crypto';
import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { REDIS_URL } from '../../test/support/env.ts';
import { PendingQueues } from './pending.ts';
import { consumerConnection, redisNames } from './queues.ts';
import { FETCHERS, TenantReaders } from './tenant-readers.ts';

const names = redisNames(`readers-${randomUUID().slice(0, 8)}`);
const TENANT = 'acme';
/** The dispatcher's jobs per reader (MAX_BATCH / 2). */
const CONCURRENCY = 500;
/** More than the readers would hold at once with BullMQ's fill: FETCHERS × CONCURRENCY. */
const JOBS = FETCHERS * CONCURRENCY;

let redis: Redis;
let other: Redis;
let pending: PendingQueues;
let readers: TenantReaders;
let taken = 0;
/** Jobs active in the queue when the first job of the current round reached the dispatcher. */
let activeAtFirst: Promise<number> | null = null;
/** Set: the next job taken pauses every reader (as the dispatcher does when the cluster is full). */
let pauseOnTake = false;

beforeAll(async () => {
  redis = consumerConnection(REDIS_URL);
  other = consumerConnection(REDIS_URL);
  pending = new PendingQueues(redis, names);
  readers = new TenantReaders({
    connection: redis,
    names,
    pending,
    logger: pino({ level: 'silent' }),
    concurrency: CONCURRENCY,
    idleTenantMs: 600_000,
    take: (job: Job) => {
      // A job the dispatcher cannot read throws before any promise exists (PendingJob.parse).
      if (job.data.unreadable) throw new Error('not a task job');
      return takeReadable();
    },
    busy: () => false,
  });
});

async function takeReadable(): Promise<void> {
  taken++;
  if (pauseOnTake) {
    pauseOnTake = false;
    for (const w of readers.of(TENANT)) void w.pause(true);
    return;
  }
  // Counted from another connection, a moment after the first job arrived.
  activeAtFirst ??= pending.queue(TENANT).getActiveCount();
}

afterAll(async () => {
  await readers?.close(true);
  await pending?.close();
  const keys = await other.keys(`${names.bullPrefix}*`);
  if (keys.length > 0) await other.del(...keys);
  await redis?.quit();
  await other?.quit();
});

async function queueJobs(n: number): Promise<void> {
  const jobs = Array.from({ length: n }, () => {
    const id = randomUUID();
    return { name: 'place', data: { taskId: id }, opts: { jobId: id, priority: 3, removeOnComplete: true } };
  });
  for (let i = 0; i < jobs.length; i += 1000) await pending.queue(TENANT).addBulk(jobs.slice(i, i + 1000));
}

async function allTaken(target: number): Promise<void> {
  const until = Date.now() + 60_000;
  while (taken < target && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  expect(taken).toBe(target);
}

it('hands out the first job of a long queue before taking the rest', async () => {
  await queueJobs(JOBS);
  readers.read(TENANT);
  await allTaken(JOBS);
  // BullMQ's own fill would have moved CONCURRENCY jobs per reader to active first.
  expect(await activeAtFirst).toBeLessThan(CONCURRENCY / 5);
}, 90_000);

it('hands out the first job of work arriving on an empty queue at once, too', async () => {
  // The readers found the queue empty (drained) and wait on it; BullMQ hands out the job that
  // wait returns before fetching more, so this case never waited (checked here all the same).
  await new Promise((r) => setTimeout(r, 200));
  activeAtFirst = null;
  await queueJobs(JOBS);
  await allTaken(2 * JOBS);
  expect(await activeAtFirst).toBeLessThan(CONCURRENCY / 5);
}, 90_000);

it('hands out the first job at once when a paused queue is read again', async () => {
  // Paused while working through a backlog, as the dispatcher pauses a tenant's queue when the
  // cluster has room for nothing: each reader's loop ends once the jobs it fetched are handed out.
  const workers = readers.of(TENANT);
  pauseOnTake = true;
  await queueJobs(JOBS);
  const until = Date.now() + 10_000;
  while (workers.some((w) => w.isRunning()) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  expect(workers.every((w) => w.isPaused() && !w.isRunning())).toBe(true);
  const left = 3 * JOBS - taken;
  expect(left, 'most of the backlog is still queued').toBeGreaterThan(JOBS / 2);
  activeAtFirst = null;
  await Promise.all(workers.map((w) => w.resume()));
  await pending.nudge(TENANT, workers.length);
  await allTaken(3 * JOBS);
  expect(await activeAtFirst).toBeLessThan(CONCURRENCY / 5);
}, 90_000);

it('counts nothing in hand for a job the dispatcher throws on at once', async () => {
  // A reader's concurrency restarts from the jobs it holds when it is resumed; a job whose
  // take() threw synchronously is failed by BullMQ and must not stay counted as held.
  const queue = pending.queue(TENANT);
  const bad = 20;
  await queue.addBulk(
    Array.from({ length: bad }, () => {
      const id = randomUUID();
      return { name: 'place', data: { taskId: id, unreadable: true }, opts: { jobId: id, priority: 3 } };
    }),
  );
  const until = Date.now() + 20_000;
  while ((await queue.getFailedCount()) < bad && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  expect(await queue.getFailedCount()).toBe(bad);
  const workers = readers.of(TENANT);
  await Promise.all(workers.map((w) => w.pause(true)));
  await Promise.all(workers.map((w) => w.resume()));
  expect(workers.map((w) => w.concurrency)).toEqual(workers.map(() => 1));
  // And the readers still hand out readable work.
  await queueJobs(10);
  await allTaken(3 * JOBS + 10);
}, 60_000);
