import { describe, expect, it } from 'vitest';
import { placementGaps } from './scale-db.ts';

describe('placementGaps', () => {
  it('lists each stretch of over a second with nothing placed, from the first placement', () => {
    const times = [1_000, 1_010, 1_020, 3_500, 3_600, 3_700, 9_000];
    expect(placementGaps(times)).toEqual([
      { after_ms: 20, gap_ms: 2_480, placed_before: 3 },
      { after_ms: 2_700, gap_ms: 5_300, placed_before: 6 },
    ]);
  });

  it('finds none in a steady drain, or with fewer than two placements', () => {
    expect(placementGaps([0, 400, 800, 1_200, 1_600])).toEqual([]);
    expect(placementGaps([5])).toEqual([]);
    expect(placementGaps([])).toEqual([]);
  });
});
