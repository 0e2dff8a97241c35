// A group job taken from a tenant's queue (pending.ts): its tasks are decided one by one in the
// dispatcher's batches, like tasks offered without a job, and the group's job ends once each of
// them is placed, dropped, failed or held in memory. Tasks that must wait for room go back with
// the job: it is moved back to its queue (in front of its class, as a single job is) or to the
// delayed set, carrying only those tasks. A task of it held in memory leaves the group: if it
// goes back to the queue later, it goes in a job of its own (the held front is at most
// HELD_PER_TENANT tasks per tenant, waiting-room.ts).
import { DelayedError, WaitingError, type Job } from 'bullmq';
import type { PendingRow } from './pending.ts';

/** How a task of the group that must wait goes back: to its queue, or to the delayed set for ms. */
export type GroupReturn = { kind: 'back' } | { kind: 'later'; ms: number };

export class TaskGroup {
  /** Until the group's job has ended or moved: tasks that must wait still go back with it. */
  open = true;
  private readonly unresolved: Set<string>;
  private readonly back: PendingRow[] = [];
  private readonly later: Array<{ row: PendingRow; ms: number }> = [];
  /** The best rank (aged priority) among the tasks going back. */
  private bestRank = Number.POSITIVE_INFINITY;
  private resolveAll!: () => void;
  /** Resolves when every task of the group is resolved (see resolve). */
  readonly resolved: Promise<void>;

  constructor(
    /** The group's job (how many times it was taken sets a stepped-aside task's delay). */
    readonly job: Job,
    taskIds: string[],
    /** Called once per task as it is resolved. */
    private readonly onResolve: (taskId: string) => void = () => undefined,
  ) {
    this.unresolved = new Set(taskIds);
    this.resolved = new Promise((r) => (this.resolveAll = r));
    if (this.unresolved.size === 0) this.resolveAll();
  }

  /** A task of the group is done with, as far as the job is concerned: placed, dropped, failed, held, or given back. */
  resolve(taskId: string): void {
    if (!this.unresolved.delete(taskId)) return;
    this.onResolve(taskId);
    if (this.unresolved.size === 0) this.resolveAll();
  }

  /** A task of the group must wait: it goes back with the job (see GroupReturn); rank: its aged priority. */
  giveBack(row: PendingRow, how: GroupReturn, rank?: number): void {
    if (how.kind === 'back') this.back.push(row);
    else this.later.push({ row, ms: how.ms });
    if (rank !== undefined) this.bestRank = Math.min(this.bestRank, rank);
    this.resolve(row.id);
  }

  /**
   * What becomes of the job once every task is resolved (the group closes): it ends (nothing
   * given back: move null), or moves with the tasks given back (keep), at the best rank among
   * them: back to its queue when any must wait there (the cluster has room for nothing; those to
   * be delayed go back with them, a rare mix of two batches), else to the delayed set for the
   * shortest delay asked.
   */
  plan(): { keep: PendingRow[]; rank: number | null; move: GroupReturn | null } {
    this.open = false;
    const rank = Number.isFinite(this.bestRank) ? this.bestRank : null;
    const later = this.later.map((l) => l.row);
    if (this.back.length > 0) return { keep: [...this.back, ...later], rank, move: { kind: 'back' } };
    if (this.later.length > 0) return { keep: later, rank, move: { kind: 'later', ms: Math.min(...this.later.map((l) => l.ms)) } };
    return { keep: [], rank, move: null };
  }
}

/** The error a processor throws after moving its job (BullMQ then leaves the job where it was moved). */
export const movedError = (kind: 'back' | 'later'): Error => (kind === 'back' ? new WaitingError() : new DelayedError());

/**
 * How many tasks of group jobs each tenant may have in the dispatcher's hands, expanded and not
 * yet resolved; a group taken beyond that waits (unexpanded) for room here. Without it the
 * tenant's readers, which take up to hundreds of jobs each, would bring a whole backlog into
 * memory in groups, to be decided and given back when the cluster is full.
 */
export class GroupGate {
  private readonly inHand = new Map<string, number>();
  private readonly waiting = new Map<string, Array<{ n: number; go: () => void }>>();

  constructor(private readonly limit: number) {}

  /** Waits until `n` more of the tenant's tasks may be in hand (at once when none are). */
  enter(tenant: string, n: number): Promise<void> {
    const now = this.inHand.get(tenant) ?? 0;
    if ((now === 0 || now + n <= this.limit) && !this.waiting.get(tenant)?.length) {
      this.inHand.set(tenant, now + n);
      return Promise.resolve();
    }
    return new Promise((go) => {
      const list = this.waiting.get(tenant) ?? [];
      list.push({ n, go });
      this.waiting.set(tenant, list);
    });
  }

  /** One of the tenant's tasks in hand was resolved. */
  leave(tenant: string, n = 1): void {
    const now = Math.max(0, (this.inHand.get(tenant) ?? 0) - n);
    this.inHand.set(tenant, now);
    const list = this.waiting.get(tenant);
    let inHand = now;
    while (list && list.length > 0 && (inHand === 0 || inHand + list[0].n <= this.limit)) {
      const next = list.shift()!;
      inHand += next.n;
      next.go();
    }
    this.inHand.set(tenant, inHand);
    if (inHand === 0 && !list?.length) this.inHand.delete(tenant);
  }

  /** Lets every waiting group through (the dispatcher stops: each then sees that and sends its job back). */
  openAll(): void {
    for (const [tenant, list] of this.waiting) {
      for (const w of list.splice(0)) {
        this.inHand.set(tenant, (this.inHand.get(tenant) ?? 0) + w.n);
        w.go();
      }
    }
  }
}
