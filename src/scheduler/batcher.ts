// Groups work that arrives one item at a time (BullMQ hands a worker's processor one job per
// call) into batches handled together, one batch at a time. While a batch is handled the next
// one fills up, so batches grow with the load and a lone item is handled at once.
export interface BatchEntry<T> {
  value: T;
  /** Ends the item: resolved, or rejected with the error (BullMQ then retries or delays it). */
  settle(err?: Error): void;
  /** Puts the item back for the next batch. */
  defer(): void;
  /** Keeps the item out of batches, unsettled, until Batcher.readd() brings it back. */
  hold(): void;
  /** Ends a hold without queueing the item: the handler has put it in the batch it handles. */
  unhold(): void;
  readonly settled: boolean;
  readonly held: boolean;
}

/**
 * What handling a batch may leave running: the next batch starts once `handle` returns, while
 * `tail` (e.g. handing placed tasks to their nodes) finishes and settles its items.
 */
export type BatchHandled = void | { tail: Promise<void> };

export class Batcher<T> {
  private queue: Array<BatchEntry<T>> = [];
  private draining = false;

  /**
   * `handle` settles each item, now or in its tail, or defers it. An item left neither settled
   * nor deferred fails; if `handle` (or its tail) throws, every unsettled item fails with it.
   */
  constructor(
    private readonly max: number,
    private readonly handle: (batch: Array<BatchEntry<T>>) => Promise<BatchHandled>,
  ) {}

  add(value: T): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      let held = false;
      const entry: BatchEntry<T> = {
        value,
        settle(err?: Error) {
          if (settled) return;
          settled = true;
          if (err) reject(err);
          else resolve();
        },
        defer: () => this.deferred.add(entry),
        hold: () => {
          held = true;
        },
        unhold: () => {
          held = false;
        },
        get settled() {
          return settled;
        },
        get held() {
          return held;
        },
      };
      this.queue.push(entry);
      this.kick();
    });
  }

  /** Brings held items back into the next batch. */
  readd(entries: Array<BatchEntry<T>>): void {
    for (const e of entries) {
      if (e.settled || !e.held) continue;
      e.unhold();
      this.queue.push(e);
    }
    this.kick();
  }

  private kick(): void {
    if (!this.draining && this.queue.length > 0) {
      this.draining = true;
      setImmediate(() => void this.drain());
    }
  }

  private readonly deferred = new Set<BatchEntry<T>>();

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.max);
        let handled: BatchHandled;
        try {
          handled = await this.handle(batch);
        } catch (err) {
          for (const e of batch) {
            this.deferred.delete(e);
            e.settle(err as Error);
          }
          continue;
        }
        const again = new Set(batch.filter((e) => this.deferred.delete(e) && !e.settled));
        this.queue.unshift(...again);
        const rest = batch.filter((e) => !again.has(e) && !e.held);
        const finishRest = (err?: Error) => {
          for (const e of rest) if (!e.settled) e.settle(err ?? new Error('internal error: a batch left an item unhandled'));
        };
        if (handled?.tail) handled.tail.then(() => finishRest(), (err: Error) => finishRest(err));
        else finishRest();
      }
    } finally {
      this.draining = false;
    }
  }
}
