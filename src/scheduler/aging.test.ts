// agedPriority: a waiting task moves up one priority class per aging period, never past critical.
// BullMQ priorities: 1 = critical (taken first) … 4 = low.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { agedPriority } from './dispatcher.ts';

const NOW = new Date('2026-12-01T12:00:00.000Z');
const ago = (seconds: number) => new Date(NOW.getTime() - seconds * 1000);

describe('agedPriority', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(NOW);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('keeps each class as it is while the task is younger than one aging period', () => {
    expect(agedPriority('critical', ago(0), 60)).toBe(1);
    expect(agedPriority('high', ago(0), 60)).toBe(2);
    expect(agedPriority('normal', ago(59.999), 60)).toBe(3);
    expect(agedPriority('low', ago(59), 60)).toBe(4);
  });

  it('moves up one class per whole period waited', () => {
    expect(agedPriority('low', ago(60), 60)).toBe(3);
    expect(agedPriority('low', ago(119), 60)).toBe(3);
    expect(agedPriority('low', ago(120), 60)).toBe(2);
    expect(agedPriority('low', ago(180), 60)).toBe(1);
    expect(agedPriority('normal', ago(60), 60)).toBe(2);
  });

  it('never goes past critical, however long the wait', () => {
    expect(agedPriority('low', ago(10 * 365 * 86400), 60)).toBe(1);
    expect(agedPriority('critical', ago(3600), 60)).toBe(1);
  });

  it('follows the aging period given (fractions of a second included)', () => {
    expect(agedPriority('low', ago(1), 0.5)).toBe(2);
    expect(agedPriority('low', ago(599), 300)).toBe(3);
    expect(agedPriority('low', ago(600), 300)).toBe(2);
  });
});
