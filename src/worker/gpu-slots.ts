// Which of the node's GPUs each running attempt holds. The scheduler counts a node's GPUs; the
// node must also say which card each task gets: Docker's `Count: N` means devices 0..N-1, so
// every `gpu: 1` task of a node would share card 0 while the others idled. Attempts get the
// lowest free indices; a container adopted after a restart keeps the cards its label names.
export class GpuSlots {
  private readonly held = new Map<string, string[]>();

  constructor(private readonly count: number) {}

  /** The cards `taskId` holds: those it held already (adopted), else `n` free ones; null when not enough are free. */
  take(taskId: string, n: number): string[] | null {
    const had = this.held.get(taskId);
    if (had && had.length === n) return had;
    this.held.delete(taskId);
    const busy = new Set([...this.held.values()].flat());
    const free: string[] = [];
    for (let i = 0; i < this.count && free.length < n; i++) if (!busy.has(String(i))) free.push(String(i));
    if (free.length < n) return null;
    this.held.set(taskId, free);
    return free;
  }

  /** Cards a container left running before a restart holds (its label), until its attempt ends. */
  reserve(taskId: string, ids: string[]): void {
    if (ids.length > 0) this.held.set(taskId, [...ids]);
  }

  release(taskId: string): void {
    this.held.delete(taskId);
  }
}

/** The label that names a container's cards (`0,2`), read back after a restart. */
export const LABEL_GPUS = 'jarvis.gpus';

export function gpusOfLabel(value: string | undefined): string[] {
  return value ? value.split(',').filter((x) => /^\d+$/.test(x)) : [];
}
