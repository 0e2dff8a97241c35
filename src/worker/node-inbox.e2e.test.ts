// Nodes' inboxes against a real Redis: what the control plane hands over (scheduler/hand-over.ts)
// and what a worker process reads (node-inbox.ts). An attempt handed over twice arrives once; an
// entry taken and not done comes back, marked, to the node's next reader; a done one leaves the
// stream and its record expires; a paused node takes nothing until it resumes; one reader serves
// nodes that join while it is blocked, and sweeps up what a lost ring would leave. An attempt the
// control plane withdrew (a stopping node's) is not taken, and one taken is not withdrawn.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, expect, it } from 'vitest';
import { REDIS_URL } from '../../test/support/env.ts';
import { NodeHandOver, withdrawUntaken } from '../scheduler/hand-over.ts';
import { cancelCovers, cancelMessage, cancelOf, cancelValue, consumerConnection, parseCancelMessage, RECORD_AFTER_DONE_S, redisNames } from '../scheduler/queues.ts';
import type { TaskRow } from '../state/schema.ts';
import { NodeInbox, type InboxEntry } from './node-inbox.ts';
import { takeAttempt } from './attempt-commands.ts';

const names = redisNames(`inbox-${randomUUID().slice(0, 8)}`);
const logger = pino({ level: 'silent' });
const opened: Array<{ close(): Promise<void> } | Redis> = [];
const redis = consumerConnection(REDIS_URL, {}, { pipelined: true });
const handOver = new NodeHandOver({ connection: redis, names, logCapBytes: 1024 });

afterAll(async () => {
  for (const o of opened.reverse()) await ('quit' in o ? o.quit() : o.close()).catch(() => undefined);
  const keys = await redis.keys(`${names.bullPrefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

function inbox(sweepMs?: number): NodeInbox {
  const i = new NodeInbox({ connection: redis, names, logger, sweepMs });
  opened.push(i);
  return i;
}

function placed(nodeId: string, attempts = 1): TaskRow {
  return {
    id: randomUUID(), attempts, nodeId, tenant: 'default', image: 'img', command: ['true'], env: {}, cpu: 1, memoryMb: 64, gpu: 0,
    network: 'none', timeoutSeconds: null, labels: {}, outputSpec: {},
  } as unknown as TaskRow;
}

/** Collects what a node is given. */
function mailbox() {
  const got: InboxEntry[] = [];
  return {
    got,
    deliver: (entries: InboxEntry[]) => got.push(...entries),
    async until(n: number, ms = 5_000) {
      const end = Date.now() + ms;
      while (got.length < n && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      return got;
    },
  };
}

const taskOf = (e: InboxEntry) => (e.job as { taskId: string }).taskId;

it('delivers an attempt handed over twice once, with everything the worker needs, to a node that joined while the reader was blocked', async () => {
  const reader = inbox();
  const [a, b] = [randomUUID(), randomUUID()];
  const boxA = mailbox();
  const boxB = mailbox();
  await reader.join(a, boxA.deliver);
  await new Promise((r) => setTimeout(r, 100)); // the reader is blocked on A's inbox alone
  await reader.join(b, boxB.deliver);
  const t = placed(b);
  await handOver.handOver([t]);
  await handOver.handOver([t]);
  await boxB.until(1);
  await new Promise((r) => setTimeout(r, 300));
  expect(boxB.got).toHaveLength(1);
  expect(boxB.got[0]).toMatchObject({ redelivered: false, job: { taskId: t.id, attempt: 1, nodeId: b, image: 'img', command: ['true'], logCapBytes: 1024 } });
  expect(boxB.got[0].at).toBeGreaterThan(Date.now() - 10_000);
  expect(boxA.got).toHaveLength(0);
  // The next attempt of the same task is a new entry.
  await handOver.handOver([{ ...t, attempts: 2 }]);
  expect((await boxB.until(2)).map((e) => (e.job as { attempt: number }).attempt)).toEqual([1, 2]);
});

it("gives what a node took and did not finish back to its next reader, marked; what is done leaves the stream and its record expires", async () => {
  const node = randomUUID();
  const first = inbox();
  const box1 = mailbox();
  await first.join(node, box1.deliver);
  const [t1, t2] = [placed(node), placed(node)];
  await handOver.handOver([t1, t2]);
  expect((await box1.until(2)).map(taskOf)).toEqual([t1.id, t2.id]);
  await first.done(node, box1.got[0].id, { taskId: t1.id, attempt: 1 });
  await first.close(); // the process stops with t2 taken and not done

  const again = inbox();
  const box2 = mailbox();
  await again.join(node, box2.deliver);
  expect(box2.got.map((e) => [taskOf(e), e.redelivered])).toEqual([[t2.id, true]]);
  await again.done(node, box2.got[0].id, { taskId: t2.id, attempt: 1 });
  expect(await redis.xlen(names.nodeInbox(node))).toBe(0);
  const ttl = await redis.ttl(names.attemptKey(t2.id, 1));
  expect(ttl).toBeGreaterThan(0);
  expect(ttl).toBeLessThanOrEqual(RECORD_AFTER_DONE_S);
  // Handed over again within the hour (a late reconciler), it is not delivered again.
  await handOver.handOver([t2]);
  await new Promise((r) => setTimeout(r, 300));
  expect(box2.got).toHaveLength(1);
});

it("still takes an entry whose ring was lost, at its reader's next sweep", async () => {
  const node = randomUUID();
  const reader = inbox(500);
  const box = mailbox();
  await reader.join(node, box.deliver);
  await redis.del(names.nodeReader(node)); // as if Redis had lost it: the hand-over rings no one
  const t = placed(node);
  await handOver.handOver([t]);
  expect((await box.until(1)).map(taskOf)).toEqual([t.id]);
  // The sweep named the reader again: the next hand-over rings it.
  expect(await redis.get(names.nodeReader(node))).toBeTruthy();
});

it('takes nothing for a paused node until it resumes', async () => {
  const node = randomUUID();
  const reader = inbox();
  const box = mailbox();
  await reader.join(node, box.deliver, true);
  const t = placed(node);
  await handOver.handOver([t]);
  await new Promise((r) => setTimeout(r, 1_500));
  expect(box.got).toHaveLength(0);
  reader.pause(node, false);
  expect((await box.until(1)).map(taskOf)).toEqual([t.id]);
});

it('an attempt withdrawn before its node took it is not taken; one taken first is not withdrawn', async () => {
  const nodeId = randomUUID();
  const [untaken, taken, never] = [placed(nodeId), placed(nodeId), placed(nodeId)];
  await handOver.handOver([untaken, taken]);
  const keys = (t: TaskRow) => ({ logStream: names.logStream(t.id), cancelKey: names.cancelKey(t.id), attemptKey: names.attemptKey(t.id, t.attempts), attemptCancelKey: names.attemptCancelKey(t.id) });
  expect(await takeAttempt(redis, keys(taken), taken.attempts)).toBe('taken');
  // `never` was placed and not handed over yet: withdrawn, it is never handed over either.
  expect((await withdrawUntaken(redis, names, [untaken, taken, never])).map((t) => t.id)).toEqual([untaken.id, never.id]);
  expect(await takeAttempt(redis, keys(untaken), untaken.attempts)).toBe('withdrawn');
  expect(await takeAttempt(redis, keys(taken), taken.attempts)).toBe('taken');
  await handOver.handOver([never]);
  expect(await redis.xlen(names.nodeInbox(nodeId))).toBe(2);
  expect(await redis.ttl(names.attemptKey(never.id, 1))).toBeGreaterThan(0);
  // A second withdrawal of the same attempts changes nothing.
  expect((await withdrawUntaken(redis, names, [untaken, taken])).map((t) => t.id)).toEqual([untaken.id]);
});

it("a cancel stops the attempt it names and earlier ones, never a retry's later attempt", async () => {
  // Written late (Redis was away when the task was cancelled, or a cancel raced a retry), a key
  // that meant "cancel this task" stopped the retry's new attempt before it started.
  const taskId = randomUUID();
  const keysOf = (attempt: number) => ({
    logStream: names.logStream(taskId),
    cancelKey: names.cancelKey(taskId),
    attemptKey: names.attemptKey(taskId, attempt),
    attemptCancelKey: names.attemptCancelKey(taskId),
  });
  // A current control plane's cancel of attempt 1: both keys. A retry deletes the task's key
  // (older workers read it); the attempt's key alone stops attempt 1 and not attempt 2.
  await redis.set(names.attemptCancelKey(taskId), cancelValue(1), 'EX', 60);
  await redis.set(names.cancelKey(taskId), '1', 'EX', 60);
  expect(await takeAttempt(redis, keysOf(1), 1)).toBe('cancelled');
  expect(await takeAttempt(redis, keysOf(2), 2)).toBe('taken'); // the attempt's key decides, even beside the task's
  await redis.del(names.cancelKey(taskId));
  expect(await takeAttempt(redis, keysOf(1), 1)).toBe('cancelled');
  expect(await takeAttempt(redis, keysOf(2), 2)).toBe('taken');
  // An older control plane's cancel sets the task's key alone: it stops any attempt.
  const other = randomUUID();
  await redis.set(names.cancelKey(other), '1', 'EX', 60);
  expect(await takeAttempt(redis, { ...keysOf(3), cancelKey: names.cancelKey(other), attemptCancelKey: names.attemptCancelKey(other) }, 3)).toBe('cancelled');
  expect([cancelCovers(null, 1), cancelCovers('a2', 2), cancelCovers('a2', 3), cancelCovers('a0', 1), cancelCovers('1', 9)]).toEqual([false, true, false, false, true]);
  expect([cancelOf('a2', '1'), cancelOf(null, '1'), cancelOf(null, null)]).toEqual(['a2', '1', null]);
  expect(parseCancelMessage(cancelMessage(taskId, 2))).toEqual({ taskId, value: 'a2' });
});
