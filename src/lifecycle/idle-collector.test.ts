import { describe, expect, it } from 'vitest';
import { fullCollection, shouldCollect, startIdleCollector } from './idle-collector.ts';

const MB = 2 ** 20;
const rule = { idleBelow: 0.25, growthBytes: 32 * MB, maxHeapBytes: 512 * MB };

describe('shouldCollect', () => {
  it('collects when the loop was quiet and the heap grew by the threshold', () => {
    expect(shouldCollect(0.05, 200 * MB, 40 * MB, rule)).toBe(true);
    expect(shouldCollect(0.24, 72 * MB, 40 * MB, rule)).toBe(true);
  });

  it('leaves a busy process alone, however big its heap', () => {
    expect(shouldCollect(0.25, 500 * MB, 40 * MB, rule)).toBe(false);
    expect(shouldCollect(0.9, 500 * MB, 40 * MB, rule)).toBe(false);
  });

  it('does not collect again for growth below the threshold', () => {
    expect(shouldCollect(0, 71 * MB, 40 * MB, rule)).toBe(false);
  });

  it('leaves a heap above the cap to V8 (a big live state, not a burst: one long pause)', () => {
    expect(shouldCollect(0, 512 * MB, 40 * MB, rule)).toBe(true);
    expect(shouldCollect(0, 513 * MB, 40 * MB, rule)).toBe(false);
  });
});

describe('startIdleCollector', () => {
  it('gives a burst’s heap back once the process goes quiet', async () => {
    const collected: Array<{ heapBefore: number; heapAfter: number }> = [];
    const stop = startIdleCollector({ intervalMs: 100, onCollect: (c) => collected.push(c) });
    try {
      // A burst: ~100 MB of short-lived objects held at once, then let go.
      const held: { burst: Array<{ n: number; s: string }> | null } = { burst: [] };
      for (let i = 0; i < 1_000_000; i++) held.burst!.push({ n: i, s: `task-${i}` });
      // V8's last full collection came while the burst was still live (as at the end of a fill
      // of 100,000 tasks), so it sized the heap for it; then the burst ends.
      fullCollection()();
      const grown = process.memoryUsage().heapTotal;
      held.burst = null;
      expect(held.burst).toBeNull();
      // Quiet, and allocating next to nothing (as a server between bursts): V8 has no reason to
      // collect on its own, so the heap stays grown until the collector acts.
      await new Promise((r) => setTimeout(r, 1_000));
      expect(collected.length).toBeGreaterThan(0);
      expect(collected[0].heapBefore).toBeGreaterThanOrEqual(grown - 8 * MB);
      expect(collected[0].heapAfter).toBeLessThan(collected[0].heapBefore - 32 * MB);
      expect(process.memoryUsage().heapTotal).toBeLessThan(grown - 32 * MB);
    } finally {
      stop();
    }
  });

  it('stays out of the way while the loop is busy', async () => {
    const collected: unknown[] = [];
    const stop = startIdleCollector({ intervalMs: 50, idleBelow: 0.25, onCollect: (c) => collected.push(c) });
    let keep: unknown[] = [];
    try {
      // Busy in 40 ms slices with a yield between them (so the timer runs), allocating all along.
      const until = Date.now() + 600;
      while (Date.now() < until) {
        const slice = Date.now() + 40;
        while (Date.now() < slice) keep.push({ at: Date.now(), pad: 'x'.repeat(64) });
        if (keep.length > 400_000) keep = [];
        await new Promise((r) => setImmediate(r));
      }
      expect(collected).toEqual([]);
    } finally {
      stop();
      keep = [];
    }
  });
});
