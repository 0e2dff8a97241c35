// How long one read of the tenants' usage serves placement batches, by how many tasks hold capacity.
import { describe, expect, it } from 'vitest';
import { freshFor } from './tenant-usage.ts';

describe('freshFor', () => {
  it('is 200 ms up to 10,000 tasks holding capacity, grows with them, and stops at 2 s', () => {
    expect(freshFor(2_001)).toBe(200);
    expect(freshFor(10_000)).toBe(200);
    expect(freshFor(50_000)).toBe(1_000);
    expect(freshFor(100_000)).toBe(2_000);
    expect(freshFor(1_000_000)).toBe(2_000);
  });
});
