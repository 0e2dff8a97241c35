// Following a task's output to its end (control/task-logs.ts) on a real Redis: the worker writes
// its end marker before the control plane records the result, so the end must wait for that
// record and carry it, go on into the next attempt when the record is a retry, and give up with
// the status as it is when no record comes. The task store
// here is a stand-in holding one row whose status the test changes (the store's own reads are
// tested against PostgreSQL in state/); the route's end-to-end follow is in test/logs.e2e.test.ts.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisNames } from '../scheduler/queues.ts';
import type { ControlDeps } from './deps.ts';
import { TaskLogs, type EndWait } from './task-logs.ts';
import { LogStreamReader } from '../monitor/log-streams.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

describe('following a task to its end', () => {
  const names = redisNames(`test-follow-${randomUUID().slice(0, 8)}`);
  let redis: Redis;
  const readers: Redis[] = [];
  beforeAll(() => {
    redis = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    for (const r of readers) r.disconnect();
    await redis.quit();
  });

  /**
   * A TaskLogs over one task whose status the test sets (`others` more, running), each of which
   * `gone` deletes; counts the reads of them, and of statuses (statements).
   */
  function setup(endWait: EndWait, others = 0) {
    const id: string = randomUUID();
    const row = { id, tenant: 'default', status: 'running', exitCode: null as number | null, attempts: 1 };
    const rows = new Map([row, ...Array.from({ length: others }, () => ({ ...row, id: randomUUID() as string }))].map((r) => [r.id, r]));
    let reads = 0;
    let statusReads = 0;
    const tasks = {
      get: async (taskId: string) => {
        reads++;
        const r = rows.get(taskId);
        return r ? { ...r } : null;
      },
      statuses: async (ids: string[]) => {
        reads++;
        statusReads++;
        return new Map(ids.filter((i) => rows.has(i)).map((i) => [i, rows.get(i)!.status]));
      },
      logs: async () => null,
    };
    const logStreams = new LogStreamReader({
      connect: () => {
        const r = new Redis(REDIS_URL);
        readers.push(r);
        return r;
      },
      redis,
    });
    const deps = { tasks, redis, names, logStreams } as unknown as Pick<ControlDeps, 'tasks' | 'redis' | 'names' | 'logStreams'>;
    return { id, row, ids: [...rows.keys()], logs: new TaskLogs(deps, endWait), reads: () => reads, statusReads: () => statusReads, gone: (taskId: string) => rows.delete(taskId) };
  }

  it('sends the lines, then waits for the recorded result and ends with it', async () => {
    const { id, row, logs, reads } = setup({ quickMs: 5, quickForMs: 100, slowMs: 50, giveUpMs: 5_000 });
    const lines: string[] = [];
    const following = logs.follow(id, () => false, async (line) => void lines.push(line));
    // As the worker does: output, then the end marker; the result is recorded 120 ms later
    // (past the quick reads), as when the control plane is slow to take the report.
    await redis.xadd(names.logStream(id), '*', 'a', '1', 'd', 'hello\nwor');
    await redis.xadd(names.logStream(id), '*', 'a', '1', 'd', 'ld\n');
    await redis.xadd(names.logStream(id), '*', 'a', '1', 'end', '1');
    const marked = Date.now();
    setTimeout(() => Object.assign(row, { status: 'succeeded', exitCode: 0 }), 120);
    const end = await following;
    expect(lines).toEqual(['hello', 'world']);
    expect(end).toEqual({ status: 'succeeded', exit_code: 0 });
    expect(Date.now() - marked).toBeGreaterThanOrEqual(115);
    // Read at once, every 5 ms for 100 ms, then every 50 ms: about 20 reads, not one per ms.
    expect(reads()).toBeGreaterThan(5);
    expect(reads()).toBeLessThan(40);
    await redis.del(names.logStream(id));
  });

  it('follows a retried task into its next attempt, and ends with the last', async () => {
    const { id, row, logs } = setup({ quickMs: 5, quickForMs: 100, slowMs: 50, giveUpMs: 5_000 });
    const lines: string[] = [];
    const following = logs.follow(id, () => false, async (line) => void lines.push(line));
    const stream = names.logStream(id);
    await redis.xadd(stream, '*', 'a', '1', 'd', 'try 1\n');
    await redis.xadd(stream, '*', 'a', '1', 'end', '1');
    // The control plane records a retry: back to queued, the attempt's exit code kept.
    setTimeout(() => Object.assign(row, { status: 'queued', exitCode: 3 }), 20);
    await new Promise((r) => setTimeout(r, 150));
    expect(lines).toEqual(['try 1']);
    // The next attempt: its worker starts the stream afresh (worker/attempt-commands.ts).
    Object.assign(row, { status: 'running', exitCode: null, attempts: 2 });
    await redis.del(stream);
    await redis.xadd(stream, '*', 'a', '2', 'd', 'try 2\n');
    await redis.xadd(stream, '*', 'a', '2', 'end', '1');
    setTimeout(() => Object.assign(row, { status: 'failed', exitCode: 3 }), 20);
    expect(await following).toEqual({ status: 'failed', exit_code: 3 });
    expect(lines).toEqual(['try 1', 'try 2']);
    await redis.del(stream);
  });

  it('ends with the status as it is when no result is recorded in time', async () => {
    const { id, logs } = setup({ quickMs: 5, quickForMs: 20, slowMs: 20, giveUpMs: 150 });
    const following = logs.follow(id, () => false, async () => undefined);
    await redis.xadd(names.logStream(id), '*', 'a', '1', 'end', '1');
    const marked = Date.now();
    expect(await following).toEqual({ status: 'running', exit_code: null });
    expect(Date.now() - marked).toBeGreaterThanOrEqual(140);
    await redis.del(names.logStream(id));
  });

  it('ends with Unauthorized once its key is refused, sending nothing read after that', async () => {
    const { id, logs } = setup({ quickMs: 5, quickForMs: 100, slowMs: 50, giveUpMs: 5_000 });
    const lines: string[] = [];
    let allowed = true;
    let asked = 0;
    const following = logs
      .follow(id, () => false, async (line) => void lines.push(line), {
        allowed: async () => {
          asked++;
          return allowed;
        },
      })
      .catch((err: Error) => err);
    const stream = names.logStream(id);
    await redis.xadd(stream, '*', 'a', '1', 'd', 'before\n');
    await expect.poll(() => lines).toEqual(['before']);
    allowed = false;
    await redis.xadd(stream, '*', 'a', '1', 'd', 'after\n');
    expect(await following).toMatchObject({ name: 'Unauthorized', message: expect.stringMatching(/no longer accepted/) });
    expect(lines).toEqual(['before']);
    expect(asked).toBeGreaterThanOrEqual(2);
    await redis.del(stream);
  });

  it('asks about its key at each quiet second too', async () => {
    const { id, logs } = setup({ quickMs: 5, quickForMs: 100, slowMs: 50, giveUpMs: 5_000 });
    let asked = 0;
    const t0 = Date.now();
    const following = logs.follow(id, () => false, async () => undefined, { allowed: async () => ++asked < 2 });
    await expect(following).rejects.toThrow(/no longer accepted/);
    // Nothing printed: the first quiet second allows it, the second ends it.
    expect(asked).toBe(2);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1_900);
    expect(Date.now() - t0).toBeLessThan(3_500);
  });

  it('stops waiting when the reader has left', async () => {
    const { id, logs, reads } = setup({ quickMs: 5, quickForMs: 100, slowMs: 50, giveUpMs: 60_000 });
    let closed = false;
    const following = logs.follow(id, () => closed, async () => undefined);
    await redis.xadd(names.logStream(id), '*', 'a', '1', 'end', '1');
    setTimeout(() => (closed = true), 30);
    expect(await following).toEqual({ status: 'running', exit_code: null });
    const after = reads();
    await new Promise((r) => setTimeout(r, 60));
    expect(reads()).toBe(after);
    await redis.del(names.logStream(id));
  });

  it('reads the statuses of its quiet followers together, and ends a follow whose task is gone', async () => {
    const { ids, logs, reads, statusReads, gone } = setup({ quickMs: 5, quickForMs: 100, slowMs: 50, giveUpMs: 5_000 }, 9);
    const left = Array.from({ length: 60 }, () => new AbortController());
    // 60 quiet followers of 10 tasks, asking at different moments over a quarter second.
    const follows: Array<Promise<unknown>> = [];
    for (let i = 0; i < 60; i++) {
      const { signal } = left[i];
      follows.push(logs.follow(ids[i % 10], () => signal.aborted, async () => undefined, { signal }));
      if (i % 15 === 14) await new Promise((r) => setTimeout(r, 80));
    }
    try {
      await new Promise((r) => setTimeout(r, 2_600));
      // Each has had two quiet seconds: 120 reads of a row before, now a statement per group
      // of followers the shared reader answered together (at most 4 a second).
      expect(reads()).toBeLessThanOrEqual(12);
      expect(statusReads()).toBeGreaterThan(0);
      // A task deleted meanwhile (retention): its followers end at their next quiet second.
      gone(ids[3]);
      const ended = await Promise.race([Promise.all(follows.filter((_, i) => i % 10 === 3)), new Promise((r) => setTimeout(() => r(null), 3_000))]);
      expect(ended).toEqual(Array.from({ length: 6 }, () => ({ status: undefined, exit_code: null })));
    } finally {
      for (const l of left) l.abort();
      await Promise.all(follows);
    }
  });
});
