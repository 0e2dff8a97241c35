// The fit rule, once: a node can take a task when it accepts work and, for every resource, what
// is reserved on it plus what the task asks stays within its capacity. The scheduler checks it
// in memory (src/scheduler/placement.ts); the reservation store turns the same terms into the
// SQL guard of its UPDATE (src/state/node-reservations.ts), so the two cannot drift apart.
import type { NodeStatus } from './task.ts';

/** The status of a node that accepts new work. */
export const ACCEPTS_WORK = 'available';

/** What a task asks of a node, besides one task slot. */
export interface Ask {
  cpu: number;
  memoryMb: number;
  gpu: number;
}

/** A node's capacity and what is reserved on it, in the row's own field names. */
export interface NodeRoom {
  cpu: number;
  memoryMb: number;
  gpu: number;
  maxTasks: number;
  allocatedCpu: number;
  allocatedMemoryMb: number;
  allocatedGpu: number;
  allocatedTasks: number;
}

export interface FitTerm {
  /** The node's reserved amount. */
  allocated: 'allocatedCpu' | 'allocatedMemoryMb' | 'allocatedGpu' | 'allocatedTasks';
  /** The node's capacity. */
  capacity: 'cpu' | 'memoryMb' | 'gpu' | 'maxTasks';
  /** What the task asks; null: one task slot. */
  asked: keyof Ask | null;
  /** Tolerance for floating-point sums (CPU in fractions of a core). */
  slack: number;
}

/** allocated + asked <= capacity + slack, for each term. */
export const FIT_TERMS: readonly FitTerm[] = [
  { allocated: 'allocatedTasks', capacity: 'maxTasks', asked: null, slack: 0 },
  { allocated: 'allocatedCpu', capacity: 'cpu', asked: 'cpu', slack: 1e-9 },
  { allocated: 'allocatedMemoryMb', capacity: 'memoryMb', asked: 'memoryMb', slack: 0 },
  { allocated: 'allocatedGpu', capacity: 'gpu', asked: 'gpu', slack: 0 },
];

/** Whether one term holds: the node has room for this part of the ask. */
export function termFits(t: FitTerm, n: NodeRoom, ask: Ask): boolean {
  return n[t.allocated] + (t.asked === null ? 1 : ask[t.asked]) <= n[t.capacity] + t.slack;
}

/** Whether the node has room for the ask now (its status and labels are checked apart). */
export function hasRoom(n: NodeRoom, ask: Ask): boolean {
  for (const t of FIT_TERMS) if (!termFits(t, n, ask)) return false;
  return true;
}

/** Whether the node could take the ask were it empty. */
export function couldEverFit(n: Pick<NodeRoom, 'cpu' | 'memoryMb' | 'gpu'>, ask: Ask): boolean {
  return ask.cpu <= n.cpu + 1e-9 && ask.memoryMb <= n.memoryMb && ask.gpu <= n.gpu;
}

/** What placement needs to know of a node (NodeStore.placementView reads just this). */
export interface PlacementNode extends NodeRoom {
  id: string;
  name: string;
  status: NodeStatus;
  labels: Record<string, string>;
}
