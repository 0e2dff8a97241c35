import { describe, expect, it } from 'vitest';
import { attemptEnd, retryDelayMs } from './attempt-end.ts';

const running = { status: 'running', attempts: 1, lostAttempts: 0, retriedAttempts: 0, maxRetries: 2, retryBackoffSeconds: 1.5 };

describe('the end of an attempt', () => {
  it('doubles the backoff with each attempt', () => {
    expect([1, 2, 3].map((a) => retryDelayMs(1.5, a))).toEqual([1500, 3000, 6000]);
  });

  it('retries a failure with retries left, saying why and when', () => {
    expect(attemptEnd(running, { status: 'failed', error: 'exit code 1' })).toEqual({
      kind: 'retry',
      retryInMs: 1500,
      reason: 'attempt 1 failed (exit code 1); retrying in 1.5 s (attempt 2 of 3)',
    });
    expect(attemptEnd({ ...running, attempts: 2 }, { status: 'timed_out', error: null })).toMatchObject({
      kind: 'retry',
      reason: 'attempt 2 timed out (timed_out); retrying in 3 s (attempt 3 of 3)',
    });
  });

  it('does not count attempts lost with their node against the retries, nor in the backoff', () => {
    // Attempt 2 was lost (its node went offline): attempt 3 is the second to end, one retry spent.
    expect(attemptEnd({ ...running, attempts: 3, lostAttempts: 1 }, { status: 'failed', error: 'exit code 1' })).toEqual({
      kind: 'retry',
      retryInMs: 3000,
      reason: 'attempt 3 failed (exit code 1); retrying in 3 s (attempt 4 of 4)',
    });
    expect(attemptEnd({ ...running, attempts: 4, lostAttempts: 1 }, { status: 'failed', error: 'x' })).toEqual({ kind: 'final' });
    expect(attemptEnd({ ...running, maxRetries: 0, attempts: 3, lostAttempts: 2 }, { status: 'failed', error: 'x' })).toEqual({ kind: 'final' });
  });

  it("gives a task retried by a user its retries afresh, the backoff starting again", () => {
    // Three attempts (one lost) before the retry: two counted. Attempt 4 is the first since.
    const retried = { ...running, attempts: 4, lostAttempts: 1, retriedAttempts: 2 };
    expect(attemptEnd(retried, { status: 'failed', error: 'exit code 1' })).toEqual({
      kind: 'retry',
      retryInMs: 1500,
      reason: 'attempt 4 failed (exit code 1); retrying in 1.5 s (attempt 5 of 6)',
    });
    expect(attemptEnd({ ...retried, attempts: 6 }, { status: 'failed', error: 'x' })).toEqual({ kind: 'final' });
  });

  it('ends the task when retries are spent, or on success or cancel', () => {
    expect(attemptEnd({ ...running, attempts: 3 }, { status: 'failed', error: 'x' })).toEqual({ kind: 'final' });
    expect(attemptEnd(running, { status: 'succeeded', error: null })).toEqual({ kind: 'final' });
    expect(attemptEnd(running, { status: 'cancelled', error: 'killed' })).toEqual({ kind: 'final' });
  });

  it('ignores a report for a task no longer on a node', () => {
    expect(attemptEnd({ ...running, status: 'cancelled' }, { status: 'failed', error: 'x' })).toEqual({ kind: 'ignore' });
  });
});
