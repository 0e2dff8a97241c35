// The Redis commands a worker sends once per attempt, each as one script where it was three
// commands: whatever a command does, ioredis costs the worker ~12–15 µs of CPU to send it and
// read its answer, and a process running thousands of attempts a second (many simulated nodes)
// spent a large part of its time on them (docs/decisions.md "A worker's commands per attempt").
// Every key of a script has the prefix's hash tag (scheduler/queues.ts), so a script's keys are in
// one slot, as a Redis Cluster requires.
import type { Redis } from 'ioredis';

/**
 * Taking an attempt: a fresh live log (a job handed back after a restart replays the adopted
 * container's output from its start), whether the task was cancelled before it started, and
 * when the node took it (the attempt's record). An attempt the control plane withdrew (its node
 * was stopping and had not taken it: scheduler/hand-over.ts) is not taken: it answers 2. Nor is
 * one already reported (worker/reports.ts marks its record once the report is queued): the
 * worker stopped between its report and the entry's done, and running it again would run the
 * task twice and wipe its log; it answers 3. The
 * attempt's cancel key stops the attempt it names and earlier ones; without one, the task's
 * cancel key (an older control plane's) stops any (scheduler/queues.ts, cancelOf).
 * KEYS: log stream, the task's cancel key, attempt record, the attempt's cancel key. ARGV: now, the attempt.
 */
const TAKE = `
if redis.call('hexists', KEYS[3], 'withdrawn') == 1 then return 2 end
if redis.call('hexists', KEYS[3], 'reported') == 1 then return 3 end
redis.call('del', KEYS[1])
local cancelled = 0
local v = redis.call('get', KEYS[4])
if v then
  local n = string.match(v, '^a(%d+)$')
  if (not n) or tonumber(ARGV[2]) <= tonumber(n) then cancelled = 1 end
elseif redis.call('exists', KEYS[2]) == 1 then
  cancelled = 1
end
redis.call('hset', KEYS[3], 'taken', ARGV[1])
return cancelled`;

/**
 * An attempt is over: its inbox entry leaves the group's pending list and the stream, and its
 * record expires. KEYS: the inbox, the attempt record. ARGV: group, entry id, seconds.
 */
const DONE = `
redis.call('xack', KEYS[1], ARGV[1], ARGV[2])
redis.call('xdel', KEYS[1], ARGV[2])
redis.call('expire', KEYS[2], ARGV[3])
return 1`;

interface Scripts {
  jarvisTakeAttempt(logStream: string, cancelKey: string, attemptKey: string, attemptCancelKey: string, now: number, attempt: number): Promise<number>;
  jarvisAttemptDone(inbox: string, attemptKey: string, group: string, entryId: string, ttlSeconds: number): Promise<number>;
}

/** The connection with the scripts defined on it (once per connection). */
function scripts(redis: Redis): Scripts {
  const r = redis as Redis & Partial<Scripts>;
  if (!r.jarvisTakeAttempt) {
    redis.defineCommand('jarvisTakeAttempt', { numberOfKeys: 4, lua: TAKE });
    redis.defineCommand('jarvisAttemptDone', { numberOfKeys: 2, lua: DONE });
  }
  return r as Redis & Scripts;
}

export type Taken = 'taken' | 'cancelled' | 'withdrawn' | 'reported';

/**
 * Takes the attempt: 'cancelled' when the task was cancelled before it started, 'withdrawn'
 * when it is not this node's to run any more, 'reported' when its report is queued already
 * (nothing to run or report, for either).
 */
export async function takeAttempt(
  redis: Redis,
  keys: { logStream: string; cancelKey: string; attemptKey: string; attemptCancelKey: string },
  attempt: number,
): Promise<Taken> {
  const r = await scripts(redis).jarvisTakeAttempt(keys.logStream, keys.cancelKey, keys.attemptKey, keys.attemptCancelKey, Date.now(), attempt);
  return r === 3 ? 'reported' : r === 2 ? 'withdrawn' : r === 1 ? 'cancelled' : 'taken';
}

export async function attemptDone(redis: Redis, o: { inbox: string; group: string; entryId: string; attemptKey: string; ttlSeconds: number }): Promise<void> {
  await scripts(redis).jarvisAttemptDone(o.inbox, o.attemptKey, o.group, o.entryId, o.ttlSeconds);
}
