// One batch's placement decisions, pure: fair share (fair-share.ts) says which candidate goes
// next, and each is tried on the nodes' view (placement.ts), which every choice updates. The
// dispatcher reads the view and the candidates, calls this, and stores what it decided.
import { clusterCapacity, FairShareOrder, type Candidate, type FairShareOptions, type TenantState } from './fair-share.ts';
import { chooseNode, reserve, type PlacementChoice, type PlacementNode, type PlacementStrategy, type ScanCursor } from './placement.ts';
import { hasRoom } from '../domain/fit.ts';
import { couldHost, type Kept, type KeptAsk, type RoomKeeper } from './room-keeper.ts';

/** What placing a task needs to know of it (and since when it waits: room is kept only for a task that has waited long enough). */
export type TaskAsk = KeptAsk;

export type BatchCandidate = Candidate & { task: TaskAsk };

export interface BatchDecisions<C extends BatchCandidate, N extends PlacementNode> {
  /** In the order decided; each is reserved in the view already. */
  placed: Array<{ c: C; node: N }>;
  /** Fit nowhere now, with the reason in words; `kept`: room is kept for it (room-keeper.ts), which the reason says. */
  waits: Array<{ c: C; reason: string; kept?: true }>;
  /** Can never fit (bigger than every matching node). */
  never: Array<{ c: C; reason: string }>;
  /** The batch's fair-share order, for its reasons (fairnessReason) and the tasks its quotas held (quotaHeld). */
  order: FairShareOrder<C>;
}

export interface BatchOptions extends FairShareOptions {
  strategy: PlacementStrategy;
  /** Where the search of a large cluster starts (placement.ts); default: a random node. */
  cursor?: ScanCursor;
  /**
   * Keeps room on a node for the first task of the order that must wait and has waited its
   * keepAfterMs (room-keeper.ts), from batch to batch; the view then counts the kept room until
   * keeper.end(). None: no room is kept.
   */
  keeper?: RoomKeeper;
}

const shapeOf = (t: TaskAsk) => `${t.cpu}|${t.memoryMb}|${t.gpu}|${JSON.stringify(t.nodeSelector)}`;

/**
 * Decides a batch: `candidates` in each tenant's own order (priority, aged, then age), the
 * tenants' settings and usage, and the nodes' view, which the placements decided reserve room in.
 */
export function decidePlacements<C extends BatchCandidate, N extends PlacementNode>(
  candidates: C[],
  tenants: ReadonlyMap<string, TenantState>,
  view: N[],
  options: BatchOptions,
): BatchDecisions<C, N> {
  // Fair share across tenants: the candidate of the tenant with the least weighted dominant
  // share goes first; its tenant's quota is checked, and its usage grows as it is placed.
  const order = new FairShareOrder(candidates, tenants, clusterCapacity(view), { criticalJumpsTenants: options.criticalJumpsTenants });
  const out: BatchDecisions<C, N> = { placed: [], waits: [], never: [], order };
  // Within a batch nodes only fill up: a shape that fitted nowhere fits nowhere for the rest
  // of it, so the many waiting tasks of a full cluster cost one scan of the nodes per shape
  // (unless kept room is let go: then it is forgotten).
  const noRoom = new Map<string, PlacementChoice<N>>();
  const cursor: ScanCursor = options.cursor ?? { next: Math.floor(Math.random() * view.length) };
  const { keeper } = options;
  keeper?.begin(view, candidates);
  // Room kept (room-keeper.ts): the first candidate that must wait and has waited the keeper's
  // keepAfterMs is the batch's head. Room is kept for it only once room is about to go to a
  // candidate behind it (so a batch where all wait, a full cluster's, costs nothing more), and
  // only if a node could ever take it. One that must wait but has not waited that long keeps no
  // room: the candidates behind it take what fits, and the first of them that waited long enough
  // may be the head; the first such young one is told when room would be kept for it (young).
  let head: C | null = null;
  let headDone = keeper === undefined;
  let young: C | null = null;
  /** The task room is kept for whose turn came in this batch. */
  let turned: string | null = null;
  /** Shapes no node could take even emptied (a node_selector no node matches): they get no room kept. */
  let unhostable: Set<string> | null = null;
  const choose = (c: C) => chooseNode(c.task, view, options.strategy, cursor);
  for (let c = order.next(); c !== null; c = order.next()) {
    const shape = shapeOf(c.task);
    let choice: PlacementChoice<N>;
    if (keeper?.isFor(c.task.id)) {
      // Its turn: the room kept for it is its own (or, fitting elsewhere now, let go).
      turned = c.task.id;
      keeper.lift();
      noRoom.clear();
      choice = choose(c);
      if (choice.kind === 'wait') {
        keeper.keepFor(c, view);
        headDone = true;
      } else keeper.drop();
    } else {
      choice = noRoom.get(shape) ?? choose(c);
      if (choice.kind === 'wait') {
        noRoom.set(shape, choice);
        if (!headDone && !unhostable?.has(shape)) {
          if (!keeper!.due(c.task)) {
            // Not waited long enough: room goes past it as it did without a keeper. Told so if
            // room would be kept for it now (none is kept, or it goes before the kept room's task).
            if (young === null && (!keeper!.current || (keeper!.inBatch && goesBefore(c, keeper!.current, order, options)))) {
              if (view.some((n) => couldHost(n, c!.task))) young = c;
              else (unhostable ??= new Set()).add(shape);
            }
          } else if (keeper!.inBatch && goesBefore(c, keeper!.current!, order, options)) {
            // It goes before the task room is kept for, which is in this batch: its tenant holds
            // less (or it is of a higher class), so room is kept for it instead, if it can use some.
            if (view.some((n) => couldHost(n, c!.task))) {
              keeper!.drop();
              noRoom.clear();
              choice = choose(c);
              if (choice.kind === 'wait') {
                noRoom.set(shape, choice);
                head = c;
                headDone = true;
              }
            } else (unhostable ??= new Set()).add(shape);
          } else if (keeper!.current) headDone = true; // kept for a task that is out of this batch a moment: one room at a time
          else {
            head = c;
            headDone = true;
          }
        }
      } else if (choice.kind === 'node' && head !== null) {
        // Room is about to go to a task behind the head, which must wait: room is kept for the
        // head first, and this one goes there only if it fits beside it (else elsewhere, or waits).
        const h = head;
        head = null;
        if (keeper!.keepFor(h, view)) {
          turned = h.task.id;
          if (!hasRoom(choice.node, c.task)) {
            choice = choose(c);
            if (choice.kind === 'wait') noRoom.set(shape, choice);
          }
        } else {
          (unhostable ??= new Set()).add(shapeOf(h.task));
          headDone = false;
        }
      }
    }
    if (choice.kind === 'node') {
      reserve(choice.node, c.task);
      out.placed.push({ c, node: choice.node });
      order.placed(c);
    } else {
      order.unplaced(c);
      if (choice.kind === 'never') out.never.push({ c, reason: choice.reason });
      else out.waits.push({ c, reason: c === young ? choice.reason + keptLater(keeper!) : choice.reason });
    }
  }
  if (keeper?.current) {
    // Its task was in this batch but had no turn: its quota holds it. The room is let go.
    if (keeper.inBatch && keeper.current.task.id !== turned) keeper.drop();
    else explainKept(keeper, out.waits, view);
  }
  return out;
}

const seconds = (ms: number) => `${Math.round(ms / 10) / 100} s`;

/** The reason's words for the first task that must wait but has not waited long enough for room to be kept for it. */
function keptLater(keeper: RoomKeeper): string {
  return `; tasks that fit take the room it cannot use until it has waited ${seconds(keeper.keepAfterMs)} (scheduler.keep_room_after_seconds), then room is kept for it if it still goes first`;
}

/**
 * Whether a candidate the order gave before the task room is kept for takes the room from it:
 * one of its own tenant's (ahead of it in the tenant's order: a higher class), a critical task
 * that jumps tenants, or one whose tenant holds strictly less by weight. Not on a tie: with both
 * tenants holding nothing, the order's tie rule (the least share after the task) puts a small
 * task first every time, and the big one would never keep its room.
 */
function goesBefore(c: BatchCandidate, kept: Kept, order: FairShareOrder<BatchCandidate>, options: BatchOptions): boolean {
  if (c.tenant === kept.tenant) return true;
  if (options.criticalJumpsTenants && c.priority === 'critical' && kept.priority !== 'critical') return true;
  return order.weightedShare(c.tenant) < order.weightedShare(kept.tenant) - 1e-12;
}

/** The reasons of tasks that wait while room is kept: the kept task's names the node; one that fits there but for it says so. */
function explainKept<C extends BatchCandidate>(keeper: RoomKeeper, waits: Array<{ c: C; reason: string; kept?: true }>, view: PlacementNode[]): void {
  // With a keepAfterMs, the kept task may come after a younger one in the order: it goes first of the older ones.
  const who = keeper.keepAfterMs > 0 ? `goes first of those that have waited ${seconds(keeper.keepAfterMs)} or more` : 'goes before this one';
  for (const w of waits) {
    if (keeper.isFor(w.c.task.id)) {
      const reason = keeper.reason(view);
      if (reason) {
        w.reason = reason;
        w.kept = true;
      }
      continue;
    }
    const n = keeper.keptFrom(w.c.task);
    if (n) w.reason += `; room on node ${n.name} is kept for a task that ${who}, until tasks there end`;
  }
}
