// The pending queues' list of tenants against a real Redis: a scheduler in another process learns
// of a tenant from the Redis set, so the first add lists the tenant at once, and if Redis loses
// the set the tenant is listed again by the next add, at most a second later, or at once after
// the connection comes back (a Redis restarted without persistence).
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { REDIS_URL } from '../../test/support/env.ts';
import { PendingQueues } from './pending.ts';
import { consumerConnection, redisNames } from './queues.ts';

const names = redisNames(`pend-${randomUUID().slice(0, 8)}`);
let redis: Redis;
let other: Redis;
let pending: PendingQueues;
let elsewhere: PendingQueues;

beforeAll(async () => {
  redis = consumerConnection(REDIS_URL, {}, { pipelined: true });
  other = consumerConnection(REDIS_URL);
  pending = new PendingQueues(redis, names);
  // Another process's view: it has added nothing itself.
  elsewhere = new PendingQueues(other, names);
  // Connected (its 'ready' has been emitted) before the first add.
  await redis.ping();
});

afterAll(async () => {
  await pending?.close();
  await elsewhere?.close();
  const keys = await other.keys(`${names.bullPrefix}*`);
  if (keys.length > 0) await other.del(...keys);
  await redis?.quit();
  await other?.quit();
});

const task = (tenant: string) => ({ id: randomUUID(), priority: 'normal' as const, tenant });

it('lists a tenant for other processes on its first add, and again after Redis lost the list', async () => {
  await pending.add([task('acme')]);
  expect(await elsewhere.tenants()).toEqual(['acme']);

  // Redis loses the set while the connection stays up (FLUSHALL, say).
  await other.del(names.pendingTenantsKey);
  const lostAt = Date.now();
  let listed = false;
  while (!listed && Date.now() - lostAt < 3_000) {
    await pending.add([task('acme')]);
    listed = (await other.sismember(names.pendingTenantsKey, 'acme')) === 1;
    if (!listed) await new Promise((r) => setTimeout(r, 50));
  }
  expect(listed, 'listed again by an add within about a second').toBe(true);
  expect(Date.now() - lostAt).toBeLessThan(2_000);

  // Every add's jobs are in the queue, listed or not.
  expect(await pending.queue('acme').getJobCountByTypes('prioritized')).toBeGreaterThanOrEqual(2);
});

it('lists a tenant again at once when the connection comes back', async () => {
  await pending.add([task('globex')]);
  await other.del(names.pendingTenantsKey);
  // A Redis restart: the connection drops and comes back.
  const ready = new Promise((resolve) => redis.once('ready', resolve));
  redis.disconnect(true);
  await ready;
  await pending.add([task('globex')]);
  expect(await other.smembers(names.pendingTenantsKey)).toEqual(['globex']);
});
