import { describe, expect, it } from 'vitest';
import { agedPriority } from './aging.ts';

describe('aging', () => {
  const at = new Date('2026-01-01T00:00:00Z');
  const after = (s: number) => at.getTime() + s * 1000;

  it('keeps the class until a full aging period has passed', () => {
    expect(agedPriority('low', at, 60, after(59))).toBe(4);
    expect(agedPriority('low', at, 60, after(60))).toBe(3);
  });

  it('rises one class per period, never past critical', () => {
    expect(agedPriority('low', at, 60, after(150))).toBe(2);
    expect(agedPriority('low', at, 60, after(3600))).toBe(1);
    expect(agedPriority('critical', at, 60, after(3600))).toBe(1);
  });

  it('keeps the class of a task stamped by a clock running ahead of this one', () => {
    expect(agedPriority('normal', at, 60, at.getTime() - 1)).toBe(3);
  });
});
