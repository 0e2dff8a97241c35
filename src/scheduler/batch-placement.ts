// One batch's placement decisions, pure: fair share (fair-share.ts) says which candidate goes
// next, and each is tried on the nodes' view (placement.ts), which every choice updates. The
// dispatcher reads the view and the candidates, calls this, and stores what it decided.
import { clusterCapacity, FairShareOrder, type Candidate, type FairShareOptions, type TenantState } from './fair-share.ts';
import { chooseNode, reserve, type PlacementChoice, type PlacementNode, type PlacementStrategy, type ScanCursor } from './placement.ts';

/** What placing a task needs to know of it. */
export interface TaskAsk {
  id: string;
  cpu: number;
  memoryMb: number;
  gpu: number;
  nodeSelector: Record<string, string>;
}

export type BatchCandidate = Candidate & { task: TaskAsk };

export interface BatchDecisions<C extends BatchCandidate, N extends PlacementNode> {
  /** In the order decided; each is reserved in the view already. */
  placed: Array<{ c: C; node: N }>;
  /** Fit nowhere now, with the reason in words. */
  waits: Array<{ c: C; reason: string }>;
  /** Can never fit (bigger than every matching node). */
  never: Array<{ c: C; reason: string }>;
  /** The batch's fair-share order, for its reasons (fairnessReason) and the tasks its quotas held (quotaHeld). */
  order: FairShareOrder<C>;
}

export interface BatchOptions extends FairShareOptions {
  strategy: PlacementStrategy;
  /** Where the search of a large cluster starts (placement.ts); default: a random node. */
  cursor?: ScanCursor;
}

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
  // of it, so the many waiting tasks of a full cluster cost one scan of the nodes per shape.
  const noRoom = new Map<string, PlacementChoice>();
  const cursor: ScanCursor = options.cursor ?? { next: Math.floor(Math.random() * view.length) };
  for (let c = order.next(); c !== null; c = order.next()) {
    const shape = `${c.task.cpu}|${c.task.memoryMb}|${c.task.gpu}|${JSON.stringify(c.task.nodeSelector)}`;
    const choice = (noRoom.get(shape) as PlacementChoice<N> | undefined) ?? chooseNode(c.task, view, options.strategy, cursor);
    if (choice.kind === 'wait') noRoom.set(shape, choice);
    if (choice.kind === 'node') {
      reserve(choice.node, c.task);
      out.placed.push({ c, node: choice.node });
      order.placed(c);
    } else {
      order.unplaced(c);
      (choice.kind === 'wait' ? out.waits : out.never).push({ c, reason: choice.reason });
    }
  }
  return out;
}
