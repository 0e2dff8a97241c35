// What the end of an attempt means for its task: nothing (it had already ended, e.g. cancelled
// while it ran), another attempt after a backoff (it failed or timed out with retries left), or
// its final state. Pure: the store applies the answer.
import { isOnNode, type FinishStatus } from './task.ts';

export interface AttemptOf {
  status: string;
  attempts: number;
  /** Attempts lost with their node: they do not count against maxRetries. */
  lostAttempts: number;
  /** Attempts that counted before a user asked for a retry (which renews maxRetries). */
  retriedAttempts: number;
  maxRetries: number;
  retryBackoffSeconds: number;
}

export type AttemptEnd = { kind: 'ignore' } | { kind: 'retry'; retryInMs: number; reason: string } | { kind: 'final' };

/** The longest wait before a retry. */
export const MAX_RETRY_DELAY_MS = 86_400_000;

/** Exponential backoff: the configured delay, doubled for each attempt already made, at most a day. */
export function retryDelayMs(backoffSeconds: number, attempt: number): number {
  return Math.min(MAX_RETRY_DELAY_MS, Math.round(backoffSeconds * 1000 * 2 ** (attempt - 1)));
}

/**
 * Retries are counted over the attempts that ended on their node since the task was last retried
 * by a user: an attempt lost with its node (placed again by the control plane) neither spends a
 * retry nor lengthens the backoff, and the attempts a task may have grow by one for each; a user's
 * retry (POST /tasks/{id}/retry, or its workflow's) gives the task its max_retries afresh.
 */
export function attemptEnd(t: AttemptOf, report: { status: FinishStatus; error: string | null }): AttemptEnd {
  if (!isOnNode(t.status)) return { kind: 'ignore' };
  const retryable = report.status === 'failed' || report.status === 'timed_out';
  const ended = t.attempts - t.lostAttempts - t.retriedAttempts;
  if (!retryable || ended > t.maxRetries) return { kind: 'final' };
  const retryInMs = retryDelayMs(t.retryBackoffSeconds, ended);
  const why = report.error ?? report.status;
  const reason =
    `attempt ${t.attempts} ${report.status === 'timed_out' ? 'timed out' : 'failed'} (${why}); ` +
    `retrying in ${retryInMs / 1000} s (attempt ${t.attempts + 1} of ${t.maxRetries + 1 + t.lostAttempts + t.retriedAttempts})`;
  return { kind: 'retry', retryInMs, reason };
}
