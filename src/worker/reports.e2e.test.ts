// A worker process's reports against a real Redis: reports given together leave in few jobs,
// "finished" ones split so no job holds much more than 256 KiB of them (a report may carry a
// 64 KiB result), each report in exactly one job, and each resolves once its job is queued,
// with its attempt's record marked as reported (what the node health check looks for).
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { REDIS_URL } from '../../test/support/env.ts';
import { consumerConnection, EventsQueueJob, redisNames, type TaskEventJob } from '../scheduler/queues.ts';
import { Reports } from './reports.ts';

const names = redisNames(`rep-${randomUUID().slice(0, 8)}`);
let redis: Redis;
let events: Queue;

beforeAll(() => {
  redis = consumerConnection(REDIS_URL);
  events = new Queue(names.eventsQueue, { connection: redis, prefix: names.bullPrefix });
});
afterAll(async () => {
  await events?.obliterate({ force: true }).catch(() => undefined);
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

it('fails a report whose job could not be queued', async () => {
  const down = consumerConnection('redis://127.0.0.1:1', { maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
  down.on('error', () => undefined);
  const broken = new Queue(names.eventsQueue, { connection: down, prefix: names.bullPrefix });
  broken.on('error', () => undefined);
  const reports = new Reports(broken, { connection: redis, names });
  const report = finished('x');
  await expect(reports.finished(report)).rejects.toThrow();
  // No mark without its report: the node health check must see this result as lost.
  expect(await redis.exists(names.attemptKey(report.taskId, report.attempt))).toBe(0);
  await broken.close().catch(() => undefined);
  down.disconnect();
});
