// Which of the node's GPUs each running attempt holds. The scheduler counts a node's GPUs; the
// node must also say which card each task gets: Docker's `Count: N` means devices 0..N-1, so
// every `gpu: 1` task of a node would share card 0 while the others idled. Attempts get the
// lowest free indices; a container adopted after a restart keeps the cards its label names.
//
// The control plane frees a node's GPUs as soon as a task is cancelled (or its outcome
// reported), while its container may still run its kill grace (or be removed): an attempt placed
// in that window waits (takeWhenFree) for the cards of such an ending attempt rather than sharing them.
export class GpuSlots {
  private readonly held = new Map<string, string[]>();
  /** Holders whose attempt is ending (being stopped, or its outcome known): their cards come back soon. */
  private readonly endingHolders = new Set<string>();
  /** Takes waiting for cards, woken by each release. */
  private readonly waiters = new Set<() => void>();

  constructor(private readonly count: number) {}

  /** The cards `taskId` holds: those it held already (adopted), else `n` free ones; null when not enough are free. */
  take(taskId: string, n: number): string[] | null {
    const had = this.held.get(taskId);
    // Taken again (a redelivered entry adopting its container): its holder is that attempt now.
    this.endingHolders.delete(taskId);
    if (had && had.length === n) return had;
    this.held.delete(taskId);
    const busy = new Set([...this.held.values()].flat());
    const free: string[] = [];
    for (let i = 0; i < this.count && free.length < n; i++) if (!busy.has(String(i))) free.push(String(i));
    if (free.length < n) return null;
    this.held.set(taskId, free);
    return free;
  }

  /**
   * take(), waiting while the cards missing are held by ending attempts: until release() gives
   * enough back, `signal` aborts or `maxWaitMs` have passed; then null, as take(), if still not
   * enough are free. Null at once when even the ending attempts' cards would not be enough (more
   * was placed here than the node has). `onWait` is told once, when the wait begins, which cards it waits for.
   */
  async takeWhenFree(taskId: string, n: number, o: { signal: AbortSignal; maxWaitMs: number; onWait?: (cards: string[]) => void }): Promise<string[] | null> {
    const until = Date.now() + o.maxWaitMs;
    let waiting = false;
    for (;;) {
      const got = this.take(taskId, n);
      if (got || o.signal.aborted) return got;
      const soon = [...this.endingHolders].flatMap((id) => (id === taskId ? [] : (this.held.get(id) ?? [])));
      if (this.freeCount() + soon.length < n) return null;
      const left = until - Date.now();
      if (left <= 0) return null;
      if (!waiting) o.onWait?.(soon.sort((a, b) => Number(a) - Number(b)));
      waiting = true;
      await this.nextRelease(left, o.signal);
    }
  }

  /** The attempt holding these cards is ending: one that needs them waits for them (takeWhenFree). */
  ending(taskId: string): void {
    if (this.held.has(taskId)) this.endingHolders.add(taskId);
  }

  /** Cards a container left running before a restart holds (its label), until its attempt ends. */
  reserve(taskId: string, ids: string[]): void {
    if (ids.length === 0) return;
    this.held.set(taskId, [...ids]);
    this.endingHolders.delete(taskId);
  }

  release(taskId: string): void {
    this.held.delete(taskId);
    this.endingHolders.delete(taskId);
    for (const wake of [...this.waiters]) wake();
  }

  private freeCount(): number {
    const busy = new Set([...this.held.values()].flat());
    let free = 0;
    for (let i = 0; i < this.count; i++) if (!busy.has(String(i))) free++;
    return free;
  }

  /** Resolves at the next release, after `ms`, or when `signal` aborts. */
  private nextRelease(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', wake);
        this.waiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      signal.addEventListener('abort', wake, { once: true });
      this.waiters.add(wake);
    });
  }
}

/** The label that names a container's cards (`0,2`), read back after a restart. */
export const LABEL_GPUS = 'jarvis.gpus';

export function gpusOfLabel(value: string | undefined): string[] {
  return value ? value.split(',').filter((x) => /^\d+$/.test(x)) : [];
}
