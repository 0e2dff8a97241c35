// The nodes' view a placement batch decides on, kept for the next batch for a short while.
//
// Every batch read every node (NodeStore.placementView): with 1,000 nodes that is 1,000 rows,
// ~3 ms of the control plane's CPU and ~2 ms of PostgreSQL's, and a backlog drains in ~70
// batches a second (bench (e): 2,188 reads of 1,000 rows in one run, PostgreSQL's most-read
// statement by twenty times). A batch's decisions update the view in memory as they reserve room,
// so once the database has accepted all of them the view is what a new read would give, except
// for what changed without this dispatcher: room freed by tasks ending (a wake here drops the
// view), nodes registered, resumed, drained or gone silent, possibly in another process.
//
// So a kept view is used only where being out of date is harmless: the database refuses a
// reservation that no longer fits or a node that no longer accepts work (node-reservations.ts),
// and those tasks are decided again on a fresh read. The one decision a stale view could get
// wrong, that a task must wait or can never run, the dispatcher takes only on a fresh read.
import type { PlacementNode } from '../domain/fit.ts';

/** How long a view may be reused after it was read (the most its news of other processes' changes can lag); 0: never. */
export const VIEW_REUSE_MS = 200;

export interface View {
  nodes: PlacementNode[];
  /** When its read began (ms). */
  at: number;
  /** Kept from an earlier batch rather than read for this one. */
  kept: boolean;
}

export class KeptView {
  private kept: { nodes: PlacementNode[]; at: number } | null = null;

  constructor(
    private readonly read: () => Promise<PlacementNode[]>,
    private readonly maxAgeMs = VIEW_REUSE_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * The kept view if it is young enough, else a fresh read. Either way nothing stays kept until
   * keep() is called again: a batch that fails half-way leaves no view with reservations the
   * database never made.
   */
  async take(): Promise<View> {
    const k = this.kept;
    this.kept = null;
    if (k && this.maxAgeMs > 0 && this.now() - k.at <= this.maxAgeMs) return { nodes: k.nodes, at: k.at, kept: true };
    return this.fresh();
  }

  /** A view read now. */
  async fresh(): Promise<View> {
    const at = this.now();
    return { nodes: await this.read(), at, kept: false };
  }

  /** The view after a batch whose reservations the database all accepted: the next batch may start from it. */
  keep(view: View): void {
    this.kept = { nodes: view.nodes, at: view.at };
  }

  /** Something changed that the view does not show (room freed, a node came or went). */
  drop(): void {
    this.kept = null;
  }
}
