// Handing accepted work to the pending queue, and telling nodes to stop work: the Redis side of
// the use cases. Enqueueing has a deadline, so a request never hangs on a Redis that is down.
import type { PendingRow } from '../scheduler/pending.ts';
import type { Config } from '../config/index.ts';
import { Unavailable } from '../domain/errors.ts';
import type { ControlDeps } from './deps.ts';
import { hostOf } from '../config/log-redaction.ts';
import { cancelMessage, cancelValue } from '../scheduler/queues.ts';

export const ENQUEUE_TIMEOUT_MS = 3_000;

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Adds the tasks to the pending queue, or throws when Redis does not answer within the deadline. */
export function enqueueWithin(deps: Pick<ControlDeps, 'pending'>, rows: PendingRow[]): Promise<void> {
  return withTimeout(deps.pending.add(rows), ENQUEUE_TIMEOUT_MS, 'Redis');
}

export function queueUnavailable(config: Config, what: string): Unavailable {
  return new Unavailable(
    `The task queue (Redis at ${hostOf(config.redis.url, 6379)}) is unavailable, so ${what} was not accepted and nothing was stored. Retry when Redis is back.`,
  );
}

/**
 * Tells the nodes to kill these attempts' containers. The key covers a worker that picks the job
 * up after this moment, or missed the message (workers read the keys of what they run once a
 * heartbeat); the message reaches one running it now. The key names the attempt it cancels
 * (`cancelValue`): a retry's later attempt is never stopped by it, however late it is written.
 * When Redis refuses, the cancel (already recorded) is told again in the background, 1 s then
 * doubling to 30 s apart, for up to ten minutes: the container would otherwise run to its
 * timeout, or for ever, on capacity the control plane counts as free.
 */
export async function tellNodesToCancel(deps: Pick<ControlDeps, 'redis' | 'names' | 'logger'>, attempts: Array<{ id: string; attempt: number }>): Promise<void> {
  if (attempts.length === 0) return;
  if (await tell(deps, attempts)) return;
  deps.logger.error(
    { task_ids: attempts.map((a) => a.id) },
    'cancel: recorded, but could not tell the nodes (Redis unavailable); telling them again in the background for up to 10 minutes',
  );
  void tellLater(deps, attempts);
}

async function tell(deps: Pick<ControlDeps, 'redis' | 'names' | 'logger'>, attempts: Array<{ id: string; attempt: number }>): Promise<boolean> {
  try {
    const m = deps.redis.multi();
    for (const a of attempts) m.set(deps.names.cancelKey(a.id), cancelValue(a.attempt), 'EX', 86_400).publish(deps.names.cancelChannel, cancelMessage(a.id, a.attempt));
    await m.exec();
    return true;
  } catch {
    return false;
  }
}

const TELL_AGAIN_FOR_MS = 10 * 60_000;

async function tellLater(deps: Pick<ControlDeps, 'redis' | 'names' | 'logger'>, attempts: Array<{ id: string; attempt: number }>): Promise<void> {
  const until = Date.now() + TELL_AGAIN_FOR_MS;
  for (let delay = 1_000; Date.now() + delay < until; delay = Math.min(delay * 2, 30_000)) {
    await new Promise((r) => setTimeout(r, delay).unref());
    if (await tell(deps, attempts)) {
      deps.logger.info({ task_ids: attempts.map((a) => a.id) }, 'cancel: the nodes are told now');
      return;
    }
  }
  deps.logger.error({ task_ids: attempts.map((a) => a.id) }, 'cancel: could not tell the nodes within 10 minutes; their containers run to their timeouts (their results are ignored)');
}

/** Deletes the keys among these that an older control plane wrote (`1`: any attempt); keys that name their attempt stay. */
const FORGET_LEGACY = `
for _, k in ipairs(KEYS) do
  local v = redis.call('get', k)
  if v and not string.match(v, '^a%d+$') then redis.call('del', k) end
end
return 1`;

/**
 * A retry's new attempt must not be stopped by the cancel of an earlier one. A key that names its
 * attempt never stops a later one, and it stays: a node that takes the cancelled attempt late
 * (its inbox was paused while its engine was away) still finds it cancelled. Only a key from an
 * older control plane, which stops any attempt, is deleted.
 */
export async function forgetOldCancels(deps: Pick<ControlDeps, 'redis' | 'names'>, taskIds: string[]): Promise<void> {
  if (taskIds.length === 0) return;
  await deps.redis.eval(FORGET_LEGACY, taskIds.length, ...taskIds.map((id) => deps.names.cancelKey(id)));
}
