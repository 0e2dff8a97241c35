// Room kept on one node for the task that goes first but fits nowhere now (reservation with
// backfill, as Slurm's and Kubernetes' batch schedulers do it). Without it, a task bigger than
// any room that frees never starts while smaller tasks wait behind it: each time a slot frees,
// the big task does not fit, and the same batch gives the slot to the next small task. So when
// the first task of a batch's order that must wait (the front of the tenant with the least
// weighted share, or of a higher class: the order rules of fair-share.ts) could run on a node
// once that node's tasks end, and room is about to go to a task behind it, the node with the
// least to free is kept for it: from then on, in this batch and the next, nothing is placed
// there unless it leaves room for the kept task (tasks that fit beside it still go there).
//
// The room is kept by counting the kept task's ask against the node in the batch's view while
// the batch is decided (apply), up to the node's capacity in each resource: everything that
// chooses a node then sees the node without that room, at no cost to anything else, and a task
// fits there only if the node could hold it and the kept task together once the tasks it has
// now end (in a resource it does not ask for, such as GPUs for a CPU task, it always fits). One room is kept at a time; it is let go when its task is
// placed, fails, is gone (cancelled, or not seen for KEPT_UNSEEN_MS), is held by its quota, or a
// task that goes before it must wait too (its tenant is no longer the most under-served, or
// work of a higher class came): the room is then kept for that one. It moves to another node
// only when that one has strictly less to free, so the room to free only shrinks.
//
// Only the dispatcher of the leading control plane keeps room, in memory: a new leader keeps
// none until its own batches find a task in this position again (the first batch in which room
// would go past it).
//
// Room is kept only for a task that has waited at least keepAfterMs since it began to wait
// (scheduler.keep_room_after_seconds; waitingSince, as aging uses), like Slurm's
// bf_min_age_reserve: before that, tasks that fit take the room it cannot use (backfill in full,
// which mixed sizes' throughput depends on), and the first task of the order that has waited that
// long is the one room is kept for. 0: from its first wait.
import { ACCEPTS_WORK, couldEverFit, FIT_TERMS, hasRoom, type FitTerm, type PlacementNode } from '../domain/fit.ts';
import { ROOM_KEPT } from '../domain/status-reasons.ts';
import { selectorMatches } from './placement.ts';
import { waitingSince } from './aging.ts';

/** What a task asks, which task, and since when it waits (aging.ts, waitingSince). */
export interface KeptAsk {
  id: string;
  cpu: number;
  memoryMb: number;
  gpu: number;
  nodeSelector: Record<string, string>;
  createdAt: Date;
  waitingSince: Date | null;
}

/** A task room may be kept for, as the batch has it. */
export interface KeptCandidate {
  tenant: string;
  priority: string;
  task: KeptAsk;
}

/** A room kept: for which task, on which node. */
export interface Kept extends KeptCandidate {
  nodeId: string;
  /** When a batch last had its task in it (ms). */
  seenAt: number;
}

/**
 * A kept room whose task is in no batch for this long is let go. Every batch has the tasks held
 * waiting in memory in it, the kept one included, so this is the time a task can be out of the
 * dispatcher's hands (an offered task that must wait goes round its tenant's queue), or gone
 * without the dispatcher seeing it.
 */
export const KEPT_UNSEEN_MS = 10_000;

const fmt = (n: number) => String(Math.round(n * 1000) / 1000);

/** Whether the node could take the ask once its tasks end (it accepts work and its labels match). */
export function couldHost(n: PlacementNode, ask: KeptAsk): boolean {
  return n.status === ACCEPTS_WORK && n.maxTasks >= 1 && couldEverFit(n, ask) && selectorMatches(ask.nodeSelector, n.labels);
}

/** By how much a term is short for the ask (0: it fits). */
function over(t: FitTerm, n: PlacementNode, ask: KeptAsk): number {
  const o = n[t.allocated] + (t.asked === null ? 1 : ask[t.asked]) - n[t.capacity];
  return o > t.slack ? o : 0;
}

/** How much must be freed on the node before the ask fits: each term's shortfall over its capacity, summed. */
export function toFree(n: PlacementNode, ask: KeptAsk): number {
  let sum = 0;
  for (const t of FIT_TERMS) {
    const o = over(t, n, ask);
    if (o > 0) sum += o / Math.max(n[t.capacity], 1);
  }
  return sum;
}

const LACKS: Record<FitTerm['capacity'], (o: number) => string> = {
  maxTasks: () => 'a free task slot',
  cpu: (o) => `${fmt(o)} CPU`,
  memoryMb: (o) => `${o} MiB memory`,
  gpu: (o) => `${o} GPU`,
};

interface Counted {
  cpu: number;
  memoryMb: number;
  gpu: number;
  tasks: number;
}

export class RoomKeeper {
  private kept: Kept | null = null;
  /** The node of the view being decided that has the kept room counted against it, while it has, and how much was counted. */
  private carrier: PlacementNode | null = null;
  private counted: Counted = { cpu: 0, memoryMb: 0, gpu: 0, tasks: 0 };
  /** Whether the kept room's task is a candidate of the batch being decided. */
  private keptInBatch = false;
  /** Where the kept node was in the last view (views list the nodes in the same order). */
  private hint = 0;

  /** Room is kept only for a task that has waited this long (ms; scheduler.keep_room_after_seconds). */
  readonly keepAfterMs: number;
  private readonly unseenMs: number;
  private readonly now: () => number;
  /** The time of the batch being decided (begin), which tasks' waits are measured to. */
  private at = 0;

  constructor(options: { keepAfterMs?: number; unseenMs?: number; now?: () => number } = {}) {
    this.keepAfterMs = options.keepAfterMs ?? 0;
    this.unseenMs = options.unseenMs ?? KEPT_UNSEEN_MS;
    this.now = options.now ?? Date.now;
  }

  /** The room kept now, if any. */
  get current(): Readonly<Kept> | null {
    return this.kept;
  }

  /** Whether the room is kept for this task. */
  isFor(taskId: string): boolean {
    return this.kept !== null && this.kept.task.id === taskId;
  }

  /** Whether the room is kept for a task of this batch (so one before it in the order supersedes it). */
  get inBatch(): boolean {
    return this.kept !== null && this.keptInBatch;
  }

  /**
   * A batch (or a try of one) starts on this view: the kept room is counted against its node.
   * Costs nothing while no room is kept.
   */
  begin(view: PlacementNode[], candidates: ReadonlyArray<{ task: { id: string } }>): void {
    this.carrier = null;
    const t = (this.at = this.now());
    const k = this.kept;
    if (!k) return;
    this.keptInBatch = candidates.some((c) => c.task.id === k.task.id);
    if (this.keptInBatch) k.seenAt = t;
    else if (t - k.seenAt > this.unseenMs) {
      this.kept = null;
      return;
    }
    const n = this.find(view, k.nodeId);
    if (n && couldHost(n, k.task)) this.apply(n);
    // Its node left (or changed): its task chooses again at its turn; not in this batch, let go.
    else if (!this.keptInBatch) this.kept = null;
  }

  /**
   * Whether room may be kept for the task: it has waited keepAfterMs since it began to wait, by
   * the time of the batch (begin). Asked only of tasks that must wait.
   */
  due(task: KeptAsk): boolean {
    return this.keepAfterMs <= 0 || this.at - waitingSince(task).getTime() >= this.keepAfterMs;
  }

  /** The kept task's turn: its room is no longer counted against its node, so it can take it. */
  lift(): void {
    const n = this.carrier;
    if (!n) return;
    const d = this.counted;
    n.allocatedCpu -= d.cpu;
    n.allocatedMemoryMb -= d.memoryMb;
    n.allocatedGpu -= d.gpu;
    n.allocatedTasks -= d.tasks;
    this.carrier = null;
  }

  /**
   * Keeps room for a task that must wait, on the node of the view with the least to free, or
   * (when room is kept for it already) on a node with strictly less to free than its own.
   * Returns false when no node could ever take it (then nothing is kept for it).
   */
  keepFor(c: KeptCandidate, view: PlacementNode[]): boolean {
    const { task } = c;
    this.lift();
    const mine = this.kept?.task.id === task.id ? this.find(view, this.kept.nodeId) : undefined;
    let best: PlacementNode | null = mine && couldHost(mine, task) ? mine : null;
    let bestFree = best ? toFree(best, task) : Infinity;
    let bestTasks = best ? best.allocatedTasks : Infinity;
    for (const n of view) {
      if (n === best || !couldHost(n, task)) continue;
      const free = toFree(n, task);
      if (free < bestFree - 1e-9 || (!mine && Math.abs(free - bestFree) <= 1e-9 && n.allocatedTasks < bestTasks)) {
        best = n;
        bestFree = free;
        bestTasks = n.allocatedTasks;
      }
    }
    if (!best) {
      if (this.isFor(task.id)) this.kept = null;
      return false;
    }
    this.kept = { tenant: c.tenant, priority: c.priority, task, nodeId: best.id, seenAt: this.now() };
    this.keptInBatch = true;
    this.apply(best);
    return true;
  }

  /** Lets the kept room go (its task was placed, failed or is gone, or another goes before it). */
  drop(): void {
    this.lift();
    this.kept = null;
  }

  /** The task is no longer waiting (placed before, cancelled, gone): room kept for it is let go. */
  forget(taskId: string): void {
    if (this.isFor(taskId)) this.drop();
  }

  /** Whether the ask would fit on the kept node but for the kept room (so the kept room is why it waits there). */
  keptFrom(ask: KeptAsk): PlacementNode | null {
    const n = this.carrier;
    if (!n || !couldHost(n, ask)) return null;
    return hasRoom(this.uncounted(n), ask) ? n : null;
  }

  /** Why the kept task waits, in words: the node kept for it, and what must end there first. */
  reason(view: PlacementNode[]): string | null {
    const k = this.kept;
    if (!k) return null;
    const n = this.carrier ?? this.find(view, k.nodeId);
    if (!n) return null;
    const room = n === this.carrier ? this.uncounted(n) : n;
    const lacks = FIT_TERMS.map((t) => ({ t, o: over(t, room, k.task) }))
      .filter((x) => x.o > 0)
      .map((x) => LACKS[x.t.capacity](x.o));
    const tasks = room.allocatedTasks === 1 ? 'the task' : `enough of the ${room.allocatedTasks} tasks`;
    return (
      `${ROOM_KEPT} on node ${n.name}: it lacks ${lacks.length > 0 ? lacks.join(', ') : 'room'} there until ${tasks} placed on it end; ` +
      'no other task is placed in that room meanwhile'
    );
  }

  /** End of a batch's try: the view no longer counts the kept room (it may be kept for the next batch). */
  end(): void {
    this.lift();
  }

  /** What is kept, to go back to when a try is decided again (restore). */
  snapshot(): Kept | null {
    return this.kept;
  }

  restore(kept: Kept | null): void {
    this.carrier = null;
    this.kept = kept;
  }

  /** Counts the kept task's ask against the node, up to its capacity in each resource. */
  private apply(n: PlacementNode): void {
    const a = this.kept!.task;
    const part = (ask: number, allocated: number, capacity: number) => Math.max(0, Math.min(ask, capacity - allocated));
    const d = (this.counted = {
      cpu: part(a.cpu, n.allocatedCpu, n.cpu),
      memoryMb: part(a.memoryMb, n.allocatedMemoryMb, n.memoryMb),
      gpu: part(a.gpu, n.allocatedGpu, n.gpu),
      tasks: part(1, n.allocatedTasks, n.maxTasks),
    });
    n.allocatedCpu += d.cpu;
    n.allocatedMemoryMb += d.memoryMb;
    n.allocatedGpu += d.gpu;
    n.allocatedTasks += d.tasks;
    this.carrier = n;
  }

  /** The node as it is without the kept room (what is placed on it). */
  private uncounted(n: PlacementNode): PlacementNode {
    const d = this.counted;
    return { ...n, allocatedCpu: n.allocatedCpu - d.cpu, allocatedMemoryMb: n.allocatedMemoryMb - d.memoryMb, allocatedGpu: n.allocatedGpu - d.gpu, allocatedTasks: n.allocatedTasks - d.tasks };
  }

  private find(view: PlacementNode[], id: string): PlacementNode | undefined {
    if (view[this.hint]?.id === id) return view[this.hint];
    const i = view.findIndex((n) => n.id === id);
    if (i < 0) return undefined;
    this.hint = i;
    return view[i];
  }
}
