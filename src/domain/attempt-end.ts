// What the end of an attempt means for its task: nothing (it had already ended, e.g. cancelled
// while it ran), another attempt after a backoff (it failed or timed out with retries left), or
// its final state. Pure: the store applies the answer.
import { isOnNode, type FinishStatus } from './task.ts';

export interface AttemptOf {
  status: string;
  attempts: number;
  maxRetries: number;
  retryBackoffSeconds: number;
}

export type AttemptEnd = { kind: 'ignore' } | { kind: 'retry'; retryInMs: number; reason: string } | { kind: 'final' };

/** Exponential backoff: the configured delay, doubled for each attempt already made. */
export function retryDelayMs(backoffSeconds: number, attempt: number): number {
  return Math.round(backoffSeconds * 1000 * 2 ** (attempt - 1));
}

export function attemptEnd(t: AttemptOf, report: { status: FinishStatus; error: string | null }): AttemptEnd {
  if (!isOnNode(t.status)) return { kind: 'ignore' };
  const retryable = report.status === 'failed' || report.status === 'timed_out';
  if (!retryable || t.attempts > t.maxRetries) return { kind: 'final' };
  const retryInMs = retryDelayMs(t.retryBackoffSeconds, t.attempts);
  const why = report.error ?? report.status;
  const reason =
    `attempt ${t.attempts} ${report.status === 'timed_out' ? 'timed out' : 'failed'} (${why}); ` +
    `retrying in ${retryInMs / 1000} s (attempt ${t.attempts + 1} of ${t.maxRetries + 1})`;
  return { kind: 'retry', retryInMs, reason };
}
