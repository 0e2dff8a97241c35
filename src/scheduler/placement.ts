// Chooses the node a task runs on. Pure: given the task's request and the nodes as they are,
// it answers "this node", "none now (and why, in words)" or "none ever (and why)". The caller
// reserves atomically; a lost race simply asks again.
import { ACCEPTS_WORK, couldEverFit, FIT_TERMS, hasRoom, termFits, type FitTerm, type PlacementNode } from '../domain/fit.ts';

export type { PlacementNode };

export type PlacementChoice<N extends PlacementNode = PlacementNode> =
  | { kind: 'node'; node: N }
  | { kind: 'wait'; reason: string }
  | { kind: 'never'; reason: string };

interface Request {
  cpu: number;
  memoryMb: number;
  gpu: number;
  nodeSelector: Record<string, string>;
}

const plural = (n: number, one: string, many = one + 's') => `${n} ${n === 1 ? one : many}`;
const fmt = (n: number) => String(Math.round(n * 1000) / 1000);

/** Whether the node's labels have every label the selector asks for. */
export function selectorMatches(sel: Record<string, string>, labels: Record<string, string>): boolean {
  for (const k in sel) if (labels[k] !== sel[k]) return false;
  return true;
}

/** Whether the node can take the request now (the fast check; shortfall says why not). */
function fitsNow(r: Request, n: PlacementNode): boolean {
  return n.status === ACCEPTS_WORK && hasRoom(n, r) && selectorMatches(r.nodeSelector, n.labels);
}

/** Counts a placement decided but not yet stored against the node (batch placement's view). */
export function reserve(n: PlacementNode, r: Request): void {
  n.allocatedCpu += r.cpu;
  n.allocatedMemoryMb += r.memoryMb;
  n.allocatedGpu += r.gpu;
  n.allocatedTasks += 1;
}

/** How a node falls short on one fit term, in words. */
const LACKS: Record<FitTerm['capacity'], (r: Request) => string> = {
  maxTasks: () => 'have no free task slot',
  cpu: (r) => `lack ${fmt(r.cpu)} CPU free`,
  memoryMb: (r) => `lack ${r.memoryMb} MiB memory free`,
  gpu: (r) => `lack ${r.gpu} GPU free`,
};

/** Why the node cannot take the request now, or null when it can. */
function shortfall(r: Request, n: PlacementNode): string | null {
  if (n.status === 'draining') return 'draining';
  if (n.status === 'unhealthy') return 'unhealthy';
  if (n.status === 'offline') return 'offline';
  if (!selectorMatches(r.nodeSelector, n.labels)) return 'do not match node_selector';
  for (const t of FIT_TERMS) if (!termFits(t, n, r)) return LACKS[t.capacity](r);
  return null;
}

export type PlacementStrategy = 'binpack' | 'spread';

/** Whether any node accepts work and has a task slot, some CPU and some memory free: room for a task of some shape. */
export function roomForAny(all: PlacementNode[]): boolean {
  return all.some((n) => n.status === ACCEPTS_WORK && n.allocatedTasks < n.maxTasks && n.cpu - n.allocatedCpu > 1e-9 && n.memoryMb > n.allocatedMemoryMb);
}

/** Clusters up to this size score every node with room; larger ones score a few (see chooseNode). */
export const SCORE_EVERY_NODE_UP_TO = 64;

/**
 * Where the next search of a large cluster starts: the caller keeps one per batch, so the
 * searches of a batch go round the nodes instead of all starting at the first.
 */
export interface ScanCursor {
  next: number;
}

/**
 * Among nodes with room: `binpack` (best fit) takes the one left with the least free share
 * after placing the task, which packs work onto few nodes and keeps big holes for big tasks;
 * `spread` takes the one left with the most, which evens the load out.
 *
 * Up to SCORE_EVERY_NODE_UP_TO nodes, every node with room is scored. Beyond, as Nomad's
 * scheduler does, only the first log2(nodes) nodes with room found from the cursor are scored
 * (10 of 1,000): the best of a few is nearly as good as the best of all, and a thousand nodes
 * then cost a thousand checks only when almost none has room (the whole scan was 9 % of the
 * control plane's CPU placing 100,000 tasks on 1,000 nodes).
 */
export function chooseNode<N extends PlacementNode>(r: Request, all: N[], strategy: PlacementStrategy = 'binpack', cursor?: ScanCursor): PlacementChoice<N> {
  if (all.length === 0) {
    return { kind: 'wait', reason: 'no worker node is registered yet: start one with `jarvis worker`' };
  }
  const sampled = cursor !== undefined && all.length > SCORE_EVERY_NODE_UP_TO;
  const limit = sampled ? Math.ceil(Math.log2(all.length)) : all.length;
  const start = sampled ? cursor.next % all.length : 0;
  let best: N | null = null;
  let bestScore = Infinity;
  let scored = 0;
  for (let i = 0; i < all.length && scored < limit; i++) {
    const n = all[(start + i) % all.length];
    if (!fitsNow(r, n)) continue;
    scored++;
    if (sampled) cursor.next = start + i + 1;
    const freeCpu = (n.cpu - n.allocatedCpu - r.cpu) / n.cpu;
    const freeMem = (n.memoryMb - n.allocatedMemoryMb - r.memoryMb) / n.memoryMb;
    const free = freeCpu + freeMem;
    const score = strategy === 'binpack' ? free : -free;
    if (score < bestScore) {
      best = n;
      bestScore = score;
    }
  }
  if (best) return { kind: 'node', node: best };
  return whyNot(r, all);
}

/** Nothing fits now: never (bigger than every matching node) or wait, with the reason in words. */
function whyNot(r: Request, all: PlacementNode[]): PlacementChoice<never> {
  const live = all.some((n) => n.status !== 'offline');
  const selectable = all.filter((n) => selectorMatches(r.nodeSelector, n.labels));
  if (live && selectable.length > 0 && !selectable.some((n) => couldEverFit(n, r))) {
    const biggest = selectable.reduce((a, b) => (b.cpu > a.cpu ? b : a));
    return {
      kind: 'never',
      reason:
        `no node can ever fit this task (cpu ${fmt(r.cpu)}, memory ${r.memoryMb} MiB, gpu ${r.gpu}); ` +
        `the largest matching node has cpu ${fmt(biggest.cpu)}, memory ${biggest.memoryMb} MiB, gpu ${biggest.gpu}. ` +
        'Ask for less or add a bigger node.',
    };
  }
  const reasons = new Map<string, number>();
  for (const n of all) {
    const why = shortfall(r, n) as string; // not null: fitsNow said no
    reasons.set(why, (reasons.get(why) ?? 0) + 1);
  }
  const parts = [...reasons].map(([why, k]) => `${k} ${why.replace(/^do not/, k === 1 ? 'does not' : 'do not').replace(/^have/, k === 1 ? 'has' : 'have').replace(/^lack/, k === 1 ? 'lacks' : 'lack')}`);
  return { kind: 'wait', reason: `no node fits: ${plural(all.length, 'node')}, ${parts.join(', ')}` };
}
