// Handing accepted work to the pending queue, and telling nodes to stop work: the Redis side of
// the use cases. Enqueueing has a deadline, so a request never hangs on a Redis that is down.
import type { PendingRow } from '../scheduler/pending.ts';
import type { Config } from '../config/index.ts';
import { Unavailable } from '../domain/errors.ts';
import type { ControlDeps } from './deps.ts';
import { hostOf } from '../config/log-redaction.ts';

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
 * Tells the nodes to kill these tasks' containers. The key covers a worker that picks a job up
 * after this moment; the message reaches one running it now.
 */
export async function tellNodesToCancel(deps: Pick<ControlDeps, 'redis' | 'names' | 'logger'>, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  try {
    const m = deps.redis.multi();
    for (const id of ids) m.set(deps.names.cancelKey(id), '1', 'EX', 86_400).publish(deps.names.cancelChannel, id);
    await m.exec();
  } catch (err) {
    deps.logger.error({ err, task_ids: ids }, 'cancel: recorded, but could not tell the nodes (Redis unavailable); their results will be ignored');
  }
}
