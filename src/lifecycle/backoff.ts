// The wait before trying something again: `firstMs`, doubling with each try, at most `maxMs`.
// The worker's retries (taking an attempt, asking for its secrets, a kill the engine refused) use it.

/** The wait after failed try number `tries` (1-based). */
export function doublingWaitMs(tries: number, firstMs: number, maxMs: number): number {
  return Math.min(maxMs, firstMs * 2 ** Math.min(tries - 1, 30));
}
