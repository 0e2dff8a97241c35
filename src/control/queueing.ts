// Handing accepted work to the pending queue, and telling nodes to stop work: the Redis side of
// the use cases. Enqueueing has a deadline, so a request never hangs on a Redis that is down.
import type { PendingRow } from '../scheduler/pending.ts';
import type { Config } from '../config/index.ts';
import { Unavailable } from '../domain/errors.ts';
import type { ControlDeps } from './deps.ts';
import { hostOf } from '../config/log-redaction.ts';
import { cancelMessage } from '../scheduler/queues.ts';
import type { TaskRow } from '../state/schema.ts';
import type { ReleasedTask } from '../state/task-store.ts';

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
 * Tells the nodes to kill these attempts' containers. The keys cover a worker that picks the job
 * up after this moment, or missed the message (workers read them for what they run once a
 * heartbeat); the messages reach one running it now. Two of each (scheduler/queues.ts): the
 * attempt's (`a<N>`, which never stops a retry's later attempt, however late it is written, and
 * is only ever raised, never lowered), and the task's (any attempt) for workers before session 30.
 * When Redis refuses or stalls, the cancel (already recorded) is told again in the background, 1 s
 * then doubling to 30 s apart, for up to ten minutes, with the attempt's key and message only (the
 * task's, told late, would stop a retry on an older worker): the container would otherwise run to
 * its timeout, or for ever, on capacity the control plane counts as free. A control plane that
 * stops meanwhile loses those retries.
 */
export async function tellNodesToCancel(deps: Pick<ControlDeps, 'redis' | 'names' | 'logger'>, attempts: Array<{ id: string; attempt: number }>): Promise<void> {
  if (attempts.length === 0) return;
  if (await tell(deps, attempts, true)) return;
  deps.logger.error(
    { task_ids: attempts.map((a) => a.id) },
    'cancel: recorded, but could not tell the nodes (Redis unavailable); telling them again in the background for up to 10 minutes',
  );
  void tellLater(deps, attempts);
}

/**
 * Tells the nodes again about cancels recorded earlier (the node health check, for a cancel a
 * node still runs: monitor/node-health.ts): as the background tries, the attempts' keys and
 * messages only. False when Redis refused or did not answer within the deadline.
 */
export function tellNodesAgain(deps: Pick<ControlDeps, 'redis' | 'names' | 'logger'>, attempts: Array<{ id: string; attempt: number }>): Promise<boolean> {
  return attempts.length === 0 ? Promise.resolve(true) : tell(deps, attempts, false);
}

/** Sets an attempt's cancel key to a<N> unless it already names N or a later attempt. KEYS: the key. ARGV: N, seconds. */
const RAISE = `
local v = redis.call('get', KEYS[1])
local n = v and tonumber(string.match(v, '^a(%d+)$'))
if n and n >= tonumber(ARGV[1]) then return 0 end
redis.call('set', KEYS[1], 'a' .. ARGV[1], 'EX', ARGV[2])
return 1`;

async function tell(deps: Pick<ControlDeps, 'redis' | 'names' | 'logger'>, attempts: Array<{ id: string; attempt: number }>, now: boolean): Promise<boolean> {
  const { redis, names } = deps;
  try {
    const m = redis.multi();
    for (const a of attempts) {
      m.eval(RAISE, 1, names.attemptCancelKey(a.id), a.attempt, 86_400).publish(names.attemptCancelChannel, cancelMessage(a.id, a.attempt));
      if (now) m.set(names.cancelKey(a.id), '1', 'EX', 86_400).publish(names.cancelChannel, a.id);
    }
    await withTimeout(m.exec(), ENQUEUE_TIMEOUT_MS, 'Redis');
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
    if (await tell(deps, attempts, false)) {
      deps.logger.info({ task_ids: attempts.map((a) => a.id) }, 'cancel: the nodes are told now');
      return;
    }
  }
  deps.logger.error({ task_ids: attempts.map((a) => a.id) }, 'cancel: could not tell the nodes within 10 minutes; their containers run to their timeouts (their results are ignored)');
}

/**
 * A retry's new attempts must not be stopped by the cancel of earlier ones. The tasks' "any
 * attempt" keys go (as before session 30: older workers read them); their attempts' keys stay, as
 * they never stop a later attempt, and a node that takes a cancelled attempt late (its inbox was
 * paused while its engine was away) still finds it cancelled.
 */
export async function forgetTaskCancels(deps: Pick<ControlDeps, 'redis' | 'names'>, taskIds: string[]): Promise<void> {
  if (taskIds.length === 0) return;
  await deps.redis.del(...taskIds.map((id) => deps.names.cancelKey(id)));
}

/** A task a cancel ended, as the steps after the cancel's commit need it. */
export interface CancelledTask {
  task: Pick<TaskRow, 'id' | 'tenant' | 'attempts'>;
  /** It was scheduled or running: its node had an attempt, and its reservation was freed. */
  wasOnNode: boolean;
}

/**
 * What follows cancels once they have committed, the same for a task's cancel, a workflow's and a
 * schedule's replace: the nodes told to kill the attempts they had (`tellEvery`: every task's
 * attempt, on a node or not, as a task's own cancel always did), each task's own pending job
 * removed, and waiting tasks woken when one freed room on a node. The job matters: a failed task
 * waiting out its retry's backoff is queued with a delayed job whose id is the task's, and an add
 * of that id is a no-op while it is there, so a later retry of the task (or of its workflow)
 * waited out the old backoff, up to a day, on an idle cluster (until session 32 a workflow's
 * cancel and a replace removed none). The three go at once, each waiting for Redis at most
 * ENQUEUE_TIMEOUT_MS, so a stalled Redis does not hold the answer: the nodes are then told in the
 * background, a job left behind is removed by the retry that would meet it (requeueWithin), and
 * waiting tasks are woken by the next change of capacity or their own delay.
 */
export async function afterCancels(deps: Pick<ControlDeps, 'redis' | 'names' | 'logger' | 'pending'>, cancelled: CancelledTask[], tellEvery = false): Promise<void> {
  if (cancelled.length === 0) return;
  const told = tellEvery ? cancelled : cancelled.filter((c) => c.wasOnNode);
  await Promise.all([
    tellNodesToCancel(deps, told.map((c) => ({ id: c.task.id, attempt: c.task.attempts }))),
    withTimeout(deps.pending.removeMany(cancelled.map((c) => c.task)), ENQUEUE_TIMEOUT_MS, 'Redis').catch((err) =>
      deps.logger.warn({ err, task_ids: cancelled.map((c) => c.task.id) }, 'cancel: could not remove the pending jobs of the cancelled tasks; a retry removes them'),
    ),
    cancelled.some((c) => c.wasOnNode) ? withTimeout(deps.pending.wake(), ENQUEUE_TIMEOUT_MS, 'Redis').catch(() => undefined) : undefined,
  ]);
}

/**
 * The Redis side of a retry (a task's own, or its workflow's), within one ENQUEUE_TIMEOUT_MS: the
 * cancels of the tasks' earlier attempts forgotten (forgetTaskCancels), the pending jobs of those
 * that had been cancelled removed, then the tasks queued now added. The removal is for a job a
 * cancel could not remove (Redis refused or stalled then, or a control plane before session 32
 * cancelled their workflow): an add of the same id would be a no-op beside it. Throws when Redis
 * refused the add or did not answer in time: the tasks are queued in the database, and the
 * reconciler enqueues them (a stalled Redis also runs what was sent, in order, once it answers).
 */
export function requeueWithin(
  deps: Pick<ControlDeps, 'pending' | 'redis' | 'names' | 'logger'>,
  again: { retried: string[]; wereCancelled: Array<Pick<TaskRow, 'id' | 'tenant'>>; queued: PendingRow[] },
): Promise<void> {
  const steps = async () => {
    await Promise.all([
      forgetTaskCancels(deps, again.retried).catch(() => undefined),
      again.wereCancelled.length === 0
        ? undefined
        : deps.pending.removeMany(again.wereCancelled).catch((err) =>
            deps.logger.warn({ err, task_ids: again.wereCancelled.map((t) => t.id) }, 'retry: could not remove the pending jobs a cancel may have left; a task that has one waits for it'),
          ),
    ]);
    await deps.pending.add(again.queued);
  };
  return withTimeout(steps(), ENQUEUE_TIMEOUT_MS, 'Redis');
}

/**
 * What follows a task's cancel once it has committed: afterCancels (its node told whatever its
 * status), the workflow tasks its end released queued, and the count of ended tasks. The cancel
 * use case and a schedule's replace of a task run (schedule-ticker.ts) both run it.
 */
export async function afterTaskCancel(
  deps: Pick<ControlDeps, 'redis' | 'names' | 'logger' | 'pending' | 'metrics'>,
  r: { task: TaskRow; wasOnNode: boolean; released: ReleasedTask[] },
): Promise<void> {
  const { task } = r;
  await afterCancels(deps, [r], true);
  if (r.released.length > 0) {
    await enqueueWithin(deps, r.released).catch((err) => deps.logger.warn({ err, task_id: task.id }, 'cancel: could not enqueue released workflow tasks; the reconciler will'));
  }
  deps.metrics.finished.inc({ status: 'cancelled', priority: task.priority });
}
