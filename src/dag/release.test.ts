import { describe, expect, it } from 'vitest';
import { waitingOn } from './release.ts';

describe('waitingOn', () => {
  it('names up to five parents, and counts a wide fan-in', () => {
    expect(waitingOn(2, ['a', 'b'], 3)).toBe('waiting on a, b');
    expect(waitingOn(998, ['m3', 'm7', 'm9', 'm11'], 1000)).toBe('waiting on 998 of 1000 parents: m3, m7, m9, …');
  });
});
