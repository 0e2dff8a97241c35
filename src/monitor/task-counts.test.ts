// jarvis_tasks' figures without a database: the unfinished statuses counted on every read, the
// final ones at most once per final_counts_seconds, in the background, one count at a time.
import { describe, expect, it } from 'vitest';
import { FINAL_STATUSES, UNFINISHED_STATUSES, type TaskStatus } from '../domain/task.ts';
import { TaskCounts, type StatusCounts } from './task-counts.ts';

/** A table whose final counts answer when the test says (or at once). */
function table() {
  const t = {
    rows: { queued: 2, running: 1, succeeded: 10 } as StatusCounts,
    unfinishedReads: 0,
    finalReads: 0,
    /** Final counts held until released (in order). */
    held: [] as Array<{ resolve(): void; reject(err: Error): void }>,
    hold: false,
    failFinal: false,
    clock: 0,
    async count(statuses: readonly TaskStatus[]): Promise<StatusCounts> {
      const pick = () => Object.fromEntries(Object.entries(t.rows).filter(([s]) => statuses.includes(s as TaskStatus))) as StatusCounts;
      if (statuses === UNFINISHED_STATUSES) {
        t.unfinishedReads++;
        return pick();
      }
      expect(statuses).toBe(FINAL_STATUSES);
      t.finalReads++;
      const snapshot = pick();
      if (t.hold) await new Promise<void>((resolve, reject) => t.held.push({ resolve, reject }));
      if (t.failFinal) throw new Error('connection refused');
      return snapshot;
    },
  };
  return t;
}

const settle = () => new Promise((r) => setTimeout(r, 0));

describe('TaskCounts', () => {
  it('counts the unfinished statuses on every read and the final ones once per max age', async () => {
    const t = table();
    const counts = new TaskCounts({ count: (s) => t.count(s), finalMaxAgeMs: 60_000, now: () => t.clock });
    expect(await counts.read()).toEqual({ queued: 2, running: 1, succeeded: 10 });
    expect([t.unfinishedReads, t.finalReads]).toEqual([1, 1]);

    // Two tasks end and one more is queued: the unfinished figures follow at once, the final ones
    // are those of the last count until it is 60 s old.
    t.rows = { queued: 1, succeeded: 12 };
    t.clock = 59_999;
    expect(await counts.read()).toEqual({ queued: 1, succeeded: 10 });
    expect([t.unfinishedReads, t.finalReads]).toEqual([2, 1]);

    // 60 s on: this read starts a count and answers with the old figures; the next has the new.
    t.clock = 60_000;
    expect(await counts.read()).toEqual({ queued: 1, succeeded: 10 });
    await settle();
    expect(await counts.read()).toEqual({ queued: 1, succeeded: 12 });
    expect([t.unfinishedReads, t.finalReads]).toEqual([4, 2]);
  });

  it('never runs two counts of the final statuses at once, and waits for none once it has figures', async () => {
    const t = table();
    const counts = new TaskCounts({ count: (s) => t.count(s), finalMaxAgeMs: 1_000, now: () => t.clock });
    await counts.read();
    t.hold = true;
    t.clock = 5_000;
    // Reads while a slow count is under way answer at once, with the last figures.
    for (let i = 0; i < 5; i++) expect(await counts.read()).toEqual({ queued: 2, running: 1, succeeded: 10 });
    expect(t.finalReads).toBe(2);
    t.rows = { succeeded: 13 };
    // (The count under way saw the table before this change: released, its figures are kept.)
    t.held.shift()!.resolve();
    await settle();
    expect(await counts.read()).toEqual({ succeeded: 10 });
    // Its age counts from when it started (5 s), so at 6 s the next read counts again.
    t.hold = false;
    t.clock = 6_000;
    await counts.read();
    await settle();
    expect(await counts.read()).toEqual({ succeeded: 13 });
    expect(t.finalReads).toBe(3);
  });

  it('waits for a count of its own after a count failed, so a failure is not hidden behind old figures', async () => {
    const t = table();
    const counts = new TaskCounts({ count: (s) => t.count(s), finalMaxAgeMs: 1_000, now: () => t.clock });
    await counts.read();
    t.failFinal = true;
    t.clock = 2_000;
    // The background count fails: this read had its answer already.
    expect(await counts.read()).toEqual({ queued: 2, running: 1, succeeded: 10 });
    await settle();
    // The next waits for a count, which fails: the read fails (the scrape leaves the series out).
    await expect(counts.read()).rejects.toThrow('connection refused');
    t.failFinal = false;
    t.rows = { running: 1, failed: 1 };
    expect(await counts.read()).toEqual({ running: 1, failed: 1 });
  });

  it('waits for the first count, shared by reads that come meanwhile', async () => {
    const t = table();
    t.hold = true;
    const counts = new TaskCounts({ count: (s) => t.count(s), finalMaxAgeMs: 1_000, now: () => t.clock });
    const reads = [counts.read(), counts.read()];
    await settle();
    expect(t.finalReads).toBe(1);
    t.held.shift()!.resolve();
    expect(await Promise.all(reads)).toEqual([
      { queued: 2, running: 1, succeeded: 10 },
      { queued: 2, running: 1, succeeded: 10 },
    ]);
  });

  it('counts everything on every read with a max age of 0', async () => {
    const t = table();
    const counts = new TaskCounts({ count: (s) => t.count(s), finalMaxAgeMs: 0, now: () => t.clock });
    await counts.read();
    t.rows = { succeeded: 11 };
    expect(await counts.read()).toEqual({ succeeded: 11 });
    expect(t.finalReads).toBe(2);
  });
});
