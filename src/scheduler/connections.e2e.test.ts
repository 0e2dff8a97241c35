// The Redis connections of queues.ts against a real Redis: a pipelined connection sends what it
// is given in one turn of the event loop as one pipeline, answers each command in order, leaves
// the connections BullMQ derives from it for blocking reads unpipelined, and a BullMQ worker on
// it takes a job added while it was blocked at once.
import { randomUUID } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, expect, it } from 'vitest';
import { REDIS_URL } from '../../test/support/env.ts';
import { consumerConnection, producerConnection } from './queues.ts';

const prefix = `{conn-${randomUUID().slice(0, 8)}}`;
const opened: Redis[] = [];
const open = (r: Redis) => {
  opened.push(r);
  return r;
};
afterAll(async () => {
  const r = open(consumerConnection(REDIS_URL));
  const keys = await r.keys(`${prefix}*`);
  if (keys.length > 0) await r.del(...keys);
  await Promise.all(opened.map((c) => c.quit().catch(() => undefined)));
});

it('queues the commands of one turn into one pipeline and answers each in order', async () => {
  const pipelined = open(consumerConnection(REDIS_URL, {}, { pipelined: true }));
  await pipelined.ping();
  const writes = Array.from({ length: 200 }, (_, i) => pipelined.set(`${prefix}:k${i}`, String(i)));
  // Still queued in ioredis's pipeline: nothing has been written yet in this turn.
  expect(pipelined.autoPipelineQueueSize).toBe(200);
  expect(await Promise.all(writes)).toEqual(Array(200).fill('OK'));
  const reads = Array.from({ length: 200 }, (_, i) => pipelined.get(`${prefix}:k${i}`));
  expect(await Promise.all(reads)).toEqual(Array.from({ length: 200 }, (_, i) => String(i)));

  const plain = open(consumerConnection(REDIS_URL));
  await plain.ping();
  const one = plain.get(`${prefix}:k0`);
  expect(plain.autoPipelineQueueSize).toBe(0);
  expect(plain.options.enableAutoPipelining).toBe(false);
  expect(await one).toBe('0');
});

it('leaves the connections derived for blocking reads unpipelined', () => {
  const pipelined = open(producerConnection(REDIS_URL, {}, { pipelined: true }));
  expect(pipelined.options.enableAutoPipelining).toBe(true);
  const derived = open(pipelined.duplicate({ connectionName: 'blocking' }));
  expect(derived.options).toMatchObject({ enableAutoPipelining: false, connectionName: 'blocking', enableOfflineQueue: false });
});

it('lets a BullMQ worker on a pipelined connection take a job added while it was blocked', async () => {
  const connection = open(consumerConnection(REDIS_URL, {}, { pipelined: true }));
  const queue = new Queue('blocked', { connection, prefix });
  const taken: Array<{ id: string; at: number }> = [];
  const worker = new Worker('blocked', async (job) => void taken.push({ id: job.id as string, at: Date.now() }), { connection, prefix, concurrency: 4 });
  try {
    await worker.waitUntilReady();
    // Let it find the queue empty and block on its marker.
    await new Promise((r) => setTimeout(r, 300));
    const added = Date.now();
    await queue.addBulk(Array.from({ length: 20 }, (_, i) => ({ name: 'j', data: {}, opts: { jobId: `j${i}` } })));
    const deadline = Date.now() + 5_000;
    while (taken.length < 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(taken.map((t) => t.id).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `j${i}`).sort());
    // Woken by the marker, not by its block timeout (seconds).
    expect(taken[0].at - added).toBeLessThan(1_000);
  } finally {
    await worker.close();
    await queue.close();
  }
});
