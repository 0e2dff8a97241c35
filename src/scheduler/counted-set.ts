// A set that counts: an id added twice is in it until it has been deleted twice. The dispatcher
// counts the tasks it has in hand without a job this way, since one task can be in hand twice
// for a moment: an offered task that must wait is queued in a group job, which a queue reader
// can take (and decide the task again) before the first entry has ended (docs/decisions.md,
// "A reader's first job": with a plain set, the first entry's end made the reconciler think the
// task, held in memory by the second, had lost its job).
export class CountedSet<T> {
  private readonly counts = new Map<T, number>();

  add(value: T): void {
    this.counts.set(value, (this.counts.get(value) ?? 0) + 1);
  }

  /** Ends one of the value's additions; it stays in the set while others remain. */
  delete(value: T): void {
    const n = this.counts.get(value);
    if (n === undefined) return;
    if (n <= 1) this.counts.delete(value);
    else this.counts.set(value, n - 1);
  }

  has(value: T): boolean {
    return this.counts.has(value);
  }

  get size(): number {
    return this.counts.size;
  }
}
