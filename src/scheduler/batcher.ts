// Groups work that arrives one item at a time (BullMQ hands a worker's processor one job per
// call) into batches handled together, one batch at a time. While a batch is handled the next
// one fills up, so batches grow with the load and a lone item is handled at once.
export interface BatchEntry<T> {
  value: T;
  /** Ends the item: resolved, or rejected with the error (BullMQ then retries or delays it). */
  settle(err?: Error): void;
  readonly settled: boolean;
}

export class Batcher<T> {
  private queue: Array<BatchEntry<T>> = [];
  private draining = false;

  /**
   * `handle` settles what it handled. Entries it leaves unsettled go back to the front of the
   * queue for the next batch (a batch may defer some); if it throws, they fail with the error.
   */
  constructor(
    private readonly max: number,
    private readonly handle: (batch: Array<BatchEntry<T>>) => Promise<void>,
  ) {}

  add(value: T): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      this.queue.push({
        value,
        settle(err?: Error) {
          if (settled) return;
          settled = true;
          if (err) reject(err);
          else resolve();
        },
        get settled() {
          return settled;
        },
      });
      if (!this.draining) {
        this.draining = true;
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.max);
        try {
          await this.handle(batch);
        } catch (err) {
          for (const e of batch) e.settle(err as Error);
          continue;
        }
        const left = batch.filter((e) => !e.settled);
        if (left.length === batch.length) {
          for (const e of left) e.settle(new Error('internal error: a batch handled none of its items'));
        } else this.queue.unshift(...left);
      }
    } finally {
      this.draining = false;
    }
  }
}
