// A value read at scrape time (from the database or Redis) that every collector of one scrape
// shares: the first collector to ask starts the read, the others of the same scrape join it.
// A read that fails or does not answer in time yields `undefined`, never a rejection, so one
// dependency being down never fails the whole /metrics; a read still hanging is joined by the
// next scrape instead of being started again, so a stuck dependency cannot pile reads up.

export interface SourceStatusListener {
  (source: string, error: Error | null): void;
}

export class ScrapeSource<T> {
  private inflight: Promise<T> | null = null;
  private failing = false;

  constructor(
    readonly name: string,
    private readonly read: () => Promise<T>,
    private readonly timeoutMs: number,
    private readonly onStatusChange?: SourceStatusListener,
  ) {}

  /** True when the last read failed or timed out. */
  get down(): boolean {
    return this.failing;
  }

  /** The value for this scrape, or undefined when the source failed or did not answer in time. */
  async get(): Promise<T | undefined> {
    const run = (this.inflight ??= this.start());
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    try {
      const value = await Promise.race([run, timeout]);
      this.setFailing(null);
      return value;
    } catch (err) {
      this.setFailing(err as Error);
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  private start(): Promise<T> {
    let settled: Promise<T>;
    try {
      settled = this.read();
    } catch (err) {
      settled = Promise.reject(err as Error);
    }
    const run = settled.finally(() => {
      if (this.inflight === run) this.inflight = null;
    });
    // The rejection is observed by get(); this keeps a late one (after a timeout) from being
    // reported as unhandled.
    run.catch(() => undefined);
    return run;
  }

  private setFailing(error: Error | null): void {
    const failing = error !== null;
    if (failing !== this.failing) this.onStatusChange?.(this.name, error);
    this.failing = failing;
  }
}
