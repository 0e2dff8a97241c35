// The shared log stream reader (monitor/log-streams.ts) on a real Redis: many followers of many
// streams on one connection, a follower that joins while the read is blocked served at once (by
// CLIENT UNBLOCK, or by short reads where Redis refuses it), followers at different places in one
// stream, a follower that leaves, and the null after a quiet second.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LogStreamReader, compareIds, type StreamEntry } from './log-streams.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

describe('LogStreamReader', () => {
  const prefix = `{test-logstreams-${randomUUID().slice(0, 8)}}`;
  let redis: Redis;
  const readers: LogStreamReader[] = [];
  const keys: string[] = [];
  beforeAll(() => {
    redis = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    for (const r of readers) await r.close();
    if (keys.length) await redis.del(...keys);
    await redis.quit();
  });

  function reader(redisForUnblock: Pick<Redis, 'client'> = redis) {
    let connections = 0;
    const r = new LogStreamReader({
      connect: () => {
        connections++;
        return new Redis(REDIS_URL);
      },
      redis: redisForUnblock,
    });
    readers.push(r);
    return { r, connections: () => connections };
  }
  const key = () => {
    const k = `${prefix}:logs:${randomUUID()}`;
    keys.push(k);
    return k;
  };
  const lines = (entries: StreamEntry[] | null) => (entries ?? []).map(([, f]) => f[f.indexOf('d') + 1]);

  it('orders stream ids', () => {
    expect(compareIds('0', '1-0')).toBeLessThan(0);
    expect(compareIds('1700000000000-2', '1700000000000-10')).toBeLessThan(0);
    expect(compareIds('1700000000001-0', '1700000000000-10')).toBeGreaterThan(0);
    expect(compareIds('5-1', '5-1')).toBe(0);
  });

  it('serves 50 followers of 50 streams on one connection, each its own lines', async () => {
    const { r, connections } = reader();
    const streams = Array.from({ length: 50 }, key);
    const reads = streams.map((k) => r.read(k, '0'));
    await new Promise((res) => setTimeout(res, 50));
    for (const [i, k] of streams.entries()) await redis.xadd(k, '*', 'a', '1', 'd', `line of ${i}\n`);
    const got = await Promise.all(reads);
    expect(got.map(lines)).toEqual(streams.map((_, i) => [`line of ${i}\n`]));
    expect(connections()).toBe(1);
    expect(r.waiters).toBe(0);
  });

  it('serves a follower who joins while the read is blocked at once, not at the end of the block', async () => {
    const { r } = reader();
    const quiet = key();
    const busy = key();
    const waiting = r.read(quiet, '0');
    await new Promise((res) => setTimeout(res, 100)); // the read of `quiet` blocks now
    await redis.xadd(busy, '*', 'a', '1', 'd', 'already there\n');
    const t0 = Date.now();
    expect(lines(await r.read(busy, '0'))).toEqual(['already there\n']);
    expect(Date.now() - t0).toBeLessThan(300);
    // A line written after the join reaches it too.
    const lastId = (await redis.xrange(busy, '-', '+')).at(-1)![0];
    const next = r.read(busy, lastId);
    await redis.xadd(busy, '*', 'a', '1', 'd', 'next\n');
    expect(lines(await next)).toEqual(['next\n']);
    expect(await waiting).toBeNull();
  });

  it('reads briefly instead where Redis refuses CLIENT UNBLOCK', async () => {
    const refusing = {
      client: async () => {
        const err = new Error("NOPERM this user has no permissions to run the 'client|unblock' command");
        err.name = 'ReplyError';
        throw err;
      },
    } as unknown as Pick<Redis, 'client'>;
    const { r } = reader(refusing);
    const quiet = key();
    const busy = key();
    const waiting = r.read(quiet, '0');
    await new Promise((res) => setTimeout(res, 100));
    await redis.xadd(busy, '*', 'a', '1', 'd', 'x\n');
    // The first join finds out (and waits out that one read); the next ones are quick.
    await r.read(busy, '0');
    const other = key();
    await redis.xadd(other, '*', 'a', '1', 'd', 'y\n');
    const t0 = Date.now();
    expect(lines(await r.read(other, '0'))).toEqual(['y\n']);
    expect(Date.now() - t0).toBeLessThan(250);
    await waiting;
  });

  it('reads briefly where Redis refuses CLIENT as a whole (an ACL without @connection), and says so once', async () => {
    // Before, CLIENT ID failed silently every round: no id, so no unblocking, and no fallback
    // either: a follower joining a blocked read waited for its end (~600 ms and more).
    const user = `logstreams-${randomUUID().slice(0, 8)}`;
    await redis.call('ACL', 'SETUSER', user, 'on', '>logstreams-pw', '~*', '&*', '+@all', '-@connection');
    try {
      const url = new URL(REDIS_URL);
      url.username = user;
      url.password = 'logstreams-pw';
      const limited = new Redis(url.toString());
      const warnings: string[] = [];
      const r = new LogStreamReader({ connect: () => new Redis(url.toString()), redis: limited, logger: { warn: (_o: unknown, msg?: string) => void warnings.push(msg ?? '') } });
      readers.push(r);
      try {
        await expect(limited.client('ID')).rejects.toThrow(/NOPERM/);
        const quiet = key();
        const busy = key();
        const waiting = r.read(quiet, '0');
        await new Promise((res) => setTimeout(res, 150)); // the read of `quiet` blocks now
        await redis.xadd(busy, '*', 'a', '1', 'd', 'joined\n');
        const t0 = Date.now();
        expect(lines(await r.read(busy, '0'))).toEqual(['joined\n']);
        const took = Date.now() - t0;
        console.log(`a follower joining a blocked read, CLIENT refused: served in ${took} ms`);
        expect(took).toBeLessThan(300);
        expect(await waiting).toBeNull(); // a second of short reads
        expect(warnings).toEqual([expect.stringContaining('Redis refuses CLIENT ID')]);
      } finally {
        await r.close();
        limited.disconnect();
      }
    } finally {
      await redis.call('ACL', 'DELUSER', user);
    }
  });

  it('gives followers at different places in one stream what comes after their own', async () => {
    const { r } = reader();
    const k = key();
    const ids: string[] = [];
    for (const d of ['one\n', 'two\n', 'three\n']) ids.push((await redis.xadd(k, '*', 'a', '1', 'd', d))!);
    const [fromStart, fromTwo, fromEnd] = [r.read(k, '0'), r.read(k, ids[1]), r.read(k, ids[2])];
    expect(lines(await fromStart)).toEqual(['one\n', 'two\n', 'three\n']);
    expect(lines(await fromTwo)).toEqual(['three\n']);
    await redis.xadd(k, '*', 'a', '1', 'd', 'four\n');
    expect(lines(await fromEnd)).toEqual(['four\n']);
  });

  it('answers null at once to a follower who leaves, and after about a second without lines', async () => {
    const { r } = reader();
    const left = new AbortController();
    const leaving = r.read(key(), '0', left.signal);
    const t0 = Date.now();
    const quiet = r.read(key(), '0');
    await new Promise((res) => setTimeout(res, 50));
    left.abort();
    expect(await leaving).toBeNull();
    expect(Date.now() - t0).toBeLessThan(200);
    expect(await quiet).toBeNull();
    const waited = Date.now() - t0;
    expect(waited).toBeGreaterThanOrEqual(990);
    expect(waited).toBeLessThan(1_600);
  });
});
