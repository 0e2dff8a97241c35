// The leader lock against a real Redis that stops answering: a leader cut off from Redis (its
// commands held, not failed, as a partition or a stalled server does) steps down before its
// lock could have expired, so it never leads beside the replica that takes the lock next.
import { randomUUID } from 'node:crypto';
import { connect, createServer, type Socket } from 'node:net';
import { pino } from 'pino';
import { afterAll, expect, it } from 'vitest';
import { REDIS_URL } from '../../test/support/env.ts';
import { LeaderLock } from './leader.ts';
import { consumerConnection } from './queues.ts';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
});

/** A TCP forwarder to the shared Redis that can stop passing anything on (connections stay open). */
async function freezableRedis() {
  const target = new URL(REDIS_URL);
  const pairs: Array<[Socket, Socket]> = [];
  let frozen = false;
  const server = createServer((client) => {
    const upstream = connect(Number(target.port || 6379), target.hostname);
    pairs.push([client, upstream]);
    client.on('data', (d) => {
      if (!frozen) upstream.write(d);
    });
    upstream.on('data', (d) => {
      if (!frozen) client.write(d);
    });
    for (const s of [client, upstream]) s.on('error', () => undefined);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => {
    for (const [a, b] of pairs) {
      a.destroy();
      b.destroy();
    }
    return new Promise((r) => server.close(r));
  });
  return { url: `redis://127.0.0.1:${(server.address() as { port: number }).port}`, freeze: () => (frozen = true) };
}

it('steps down when Redis stops answering, before its lock could have expired', async () => {
  const proxy = await freezableRedis();
  const redis = consumerConnection(proxy.url);
  redis.on('error', () => undefined);
  const ttlMs = 1_500;
  let electedAt = 0;
  let deposedAt = 0;
  const lock = new LeaderLock({
    redis,
    key: `leader-test-${randomUUID()}`,
    logger: pino({ level: 'silent' }),
    ttlMs,
    renewMs: 200,
    onElected: () => {
      electedAt = Date.now();
    },
    onDeposed: () => {
      deposedAt = Date.now();
    },
  });
  cleanups.push(() => lock.close({ force: true }));
  // First of all (cleanups run last to first): the connection goes, failing what the freeze holds.
  cleanups.push(() => redis.disconnect());
  lock.start();
  for (let i = 0; i < 300 && !electedAt; i++) await new Promise((r) => setTimeout(r, 100));
  expect(lock.isLeader).toBe(true);

  await new Promise((r) => setTimeout(r, 500)); // a few renewals
  const frozenAt = Date.now();
  proxy.freeze();
  for (let i = 0; i < 300 && !deposedAt; i++) await new Promise((r) => setTimeout(r, 100));
  expect(lock.isLeader).toBe(false);
  expect(deposedAt).toBeGreaterThan(frozenAt);
  // Its last renewal was at most one renew period before the freeze; it stepped down within 0.8 ttl of it.
  expect(deposedAt - frozenAt).toBeLessThan(ttlMs);
});
