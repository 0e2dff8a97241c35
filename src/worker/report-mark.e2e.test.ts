// The `reported` mark a worker leaves on an attempt's record must outlive every try the control
// plane may still make of the report's job. Node health (monitor/node-health.ts) takes a running
// attempt its node stopped listing for lost unless the mark is there: a report still being tried
// after the mark expired had its task run again, and was ignored as stale when it came (found by
// an audit: 250 ms doubling over 20 tries, and after 34 minutes of PostgreSQL failures the next
// try was 34 minutes away, past the mark's hour). A 35-minute outage cannot be waited for here:
// the job the worker queues and the mark it writes are read back from a real Redis, and the
// waits between tries computed by BullMQ's own backoff code from the job's options.
import { randomUUID } from 'node:crypto';
import { Backoffs, Queue, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { REDIS_URL } from '../../test/support/env.ts';
import { forgetPrefix } from '../../test/support/leftovers.ts';
import { consumerConnection, redisNames } from '../scheduler/queues.ts';
import { Reports } from './reports.ts';

const prefix = `mark-${randomUUID().slice(0, 8)}`;
const names = redisNames(prefix);
let redis: Redis;
let events: Queue;

beforeAll(() => {
  redis = consumerConnection(REDIS_URL);
  events = new Queue(names.eventsQueue, { connection: redis, prefix: names.bullPrefix });
});
afterAll(async () => {
  await events?.obliterate({ force: true }).catch(() => undefined);
  await forgetPrefix(prefix).catch(() => undefined);
  await events?.close();
  await redis?.quit();
});

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

  const [job] = (await events.getJobs(['waiting', 'prioritized', 'delayed'])) as Job[];
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
