// A workflow's tasks as the graph the page draws: one box per task, except that a wide fan-out
// (more than FAN_OUT_LIMIT tasks at the same depth with the same parents) becomes one group box
// with its counts by status. Done depth by depth, so a fan-out of chains (A -> b1..b500 -> c1..c500)
// collapses at every level, not just the first. Then laid out by dagre (left to right), or listed
// in depth bands when that would be too big to read or to lay out (MAX_BOXES, MAX_LAYOUT_SIZE).
// The page is rendered in the API's process at every refresh, for workflows of up to 10,000 tasks
// that anyone may submit: the model is linear in tasks and dependencies (but a sort of each task's
// parent boxes), never recursive, and dagre only gets graphs it lays out in about 50 ms.
import dagre from '@dagrejs/dagre';
import type { Task } from '../wire.ts';

export const FAN_OUT_LIMIT = 20;
/** More boxes than this after collapsing fan-outs: tasks are drawn as bands of depth instead. */
export const MAX_BOXES = 150;
const MAX_BANDS = 60;
/**
 * More than this of layoutSize (boxes, and edges cut at every rank they cross): drawn in bands
 * too, as dagre would take more than about 50 ms. Its time is about linear in layoutSize, 0.08 to
 * 0.11 ms of CPU a unit whatever the shape; over 237 graphs (random DAGs of 5 to 150 tasks, meshes,
 * chains with long edges, dense graphs, layers joined all to all; CPU time, shared 2-core
 * machine) the slowest reached 50 ms at about 500 (500-550: median 42 ms, slowest 54) and the
 * median at about 600. Without it a 150-task mesh took 0.1-0.3 s at every refresh, and 60 tasks
 * each depending on all before it (1,770 edges, 26 KB of JSON) 10 to 34 s.
 */
export const MAX_LAYOUT_SIZE = 500;

export interface GraphBox {
  id: string;
  /** The task this box is, or null for a group. */
  task: Task | null;
  label: string;
  /** The task's status, or the group's most telling status (failed > running > … > succeeded). */
  status: string;
  /** For a group: how many of its tasks are in each status. */
  counts: Record<string, number> | null;
  size: number;
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface GraphLine {
  from: string;
  to: string;
  points: Array<{ x: number; y: number }>;
}

export interface LaidOutGraph {
  boxes: GraphBox[];
  lines: GraphLine[];
  width: number;
  height: number;
  groups: number;
  /** True when the graph was too big even after collapsing fan-outs and is drawn by depth bands. */
  banded: boolean;
}

const BOX_W = 180;
const BOX_H = 44;
const GROUP_H = 62;
/** Which status a group shows first: the one that needs a look (the timeline's dense marks too). */
export const SEVERITY = ['failed', 'timed_out', 'running', 'scheduled', 'queued', 'pending', 'cancelled', 'skipped', 'succeeded'];

function groupStatus(counts: Record<string, number>): string {
  return SEVERITY.find((s) => counts[s]) ?? Object.keys(counts)[0] ?? 'pending';
}

type Box = Omit<GraphBox, 'x' | 'y'>;

function groupBox(id: string, members: Task[]): Box {
  const counts: Record<string, number> = {};
  for (const m of members) counts[m.status] = (counts[m.status] ?? 0) + 1;
  const first = members[0].workflow_key ?? members[0].id.slice(0, 8);
  const last = members[members.length - 1].workflow_key ?? members[members.length - 1].id.slice(0, 8);
  const label = members.length === 1 ? first : `${members.length} tasks (${first} … ${last})`;
  return { id, task: null, label, status: groupStatus(counts), counts, size: members.length, width: BOX_W + 40, height: GROUP_H };
}

function taskBox(t: Task): Box {
  return { id: t.id, task: t, label: t.workflow_key ?? t.name ?? t.id.slice(0, 8), status: t.status, counts: null, size: 1, width: BOX_W, height: BOX_H };
}

/**
 * Each task's depth (the longest path from a root), in topological order (Kahn's algorithm), not
 * by recursion: a 10,000-deep chain would overflow the stack. A task of a cycle (validation
 * refuses them) keeps the depth its other parents gave it.
 */
function depthsOf(parents: number[][]): Int32Array {
  const waiting = new Int32Array(parents.length);
  const children: number[][] = parents.map(() => []);
  parents.forEach((ps, i) => {
    waiting[i] = ps.length;
    for (const p of ps) children[p].push(i);
  });
  const depth = new Int32Array(parents.length);
  const order: number[] = [];
  for (let i = 0; i < parents.length; i++) if (waiting[i] === 0) order.push(i);
  for (let next = 0; next < order.length; next++) {
    const p = order[next];
    for (const c of children[p]) {
      depth[c] = Math.max(depth[c], depth[p] + 1);
      if (--waiting[c] === 0) order.push(c);
    }
  }
  return depth;
}

/** A task's parent boxes, sorted, as a key: tasks with the same key have the same parents. */
function parentBoxes(parents: number[], boxOf: Int32Array): string {
  if (parents.length === 1) return boxOf[parents[0]] >= 0 ? String(boxOf[parents[0]]) : '';
  const boxes = new Int32Array(parents.length);
  for (let j = 0; j < parents.length; j++) boxes[j] = boxOf[parents[j]];
  boxes.sort(); // a typed array sorts by number
  let key = '';
  for (let j = 0; j < boxes.length; j++) if (boxes[j] >= 0 && (j === 0 || boxes[j] !== boxes[j - 1])) key += key ? ` ${boxes[j]}` : `${boxes[j]}`;
  return key;
}

/** Each pair of boxes a dependency joins, once, in the order the tasks list them. */
function edgesBetween(boxOf: Int32Array, parents: number[][], boxCount: number): Array<[number, number]> {
  const seen = new Uint8Array(boxCount * boxCount); // at most MAX_BOXES², as graphs and bands are capped
  const edges: Array<[number, number]> = [];
  parents.forEach((ps, i) => {
    const to = boxOf[i];
    for (const p of ps) {
      const from = boxOf[p];
      if (from < 0 || from === to || seen[from * boxCount + to]) continue;
      seen[from * boxCount + to] = 1;
      edges.push([from, to]);
    }
  });
  return edges;
}

/**
 * How much dagre lays out: every box, and every edge cut at each rank it crosses. Its
 * 'longest-path' ranker puts a box at minus its longest path to a sink, it doubles each edge's
 * length (room for labels), and it puts a dummy node on each rank an edge crosses; so an edge
 * whose ends are k ranks apart here is 2k pieces. Boxes come depth by depth and every edge goes
 * to a deeper box, so one walk backwards ranks them.
 */
export function layoutSize(boxCount: number, edges: Array<[number, number]>): number {
  const out: number[][] = Array.from({ length: boxCount }, () => []);
  for (const [from, to] of edges) out[from].push(to);
  const rank = new Int32Array(boxCount);
  for (let b = boxCount - 1; b >= 0; b--) rank[b] = out[b].reduce((r, c) => Math.min(r, rank[c] - 1), out[b].length ? Infinity : 0);
  return edges.reduce((size, [from, to]) => size + 2 * (rank[to] - rank[from]), boxCount);
}

/** Tasks grouped into boxes, and the edges between boxes. */
export function collapse(tasks: Task[]): { boxes: Box[]; edges: Array<[string, string]>; banded: boolean } {
  const indexOf = new Map<string, number>();
  tasks.forEach((t, i) => t.workflow_key && indexOf.set(t.workflow_key, i));
  // Each task's parents by index; a dependency on a key not in the workflow (refused at submit) is left out.
  const parents = tasks.map((t) => {
    const ps: number[] = [];
    for (const k of t.depends_on) {
      const p = indexOf.get(k);
      if (p !== undefined) ps.push(p);
    }
    return ps;
  });
  const depth = depthsOf(parents);
  // A task at depth d > 0 has a parent at d - 1, so the depths are 0..max with none missing.
  const levels: number[][] = [];
  depth.forEach((d, i) => (levels[d] ??= []).push(i));

  const boxOf = new Int32Array(tasks.length).fill(-1); // task index -> box index
  const boxes: Box[] = [];
  levels.forEach((members, level) => {
    const sameParents = new Map<string, number[]>();
    for (const i of members) {
      const key = parentBoxes(parents[i], boxOf);
      const group = sameParents.get(key);
      if (group) group.push(i);
      else sameParents.set(key, [i]);
    }
    let n = 0;
    for (const group of sameParents.values()) {
      if (group.length > FAN_OUT_LIMIT) {
        const b = boxes.push(groupBox(`group-${level}-${n++}`, group.map((i) => tasks[i]))) - 1;
        for (const i of group) boxOf[i] = b;
      } else {
        for (const i of group) boxOf[i] = boxes.push(taskBox(tasks[i])) - 1;
      }
    }
  });
  const ids = (edges: Array<[number, number]>, of: Box[]) => edges.map(([from, to]): [string, string] => [of[from].id, of[to].id]);
  if (boxes.length <= MAX_BOXES) {
    const edges = edgesBetween(boxOf, parents, boxes.length);
    if (layoutSize(boxes.length, edges) <= MAX_LAYOUT_SIZE) return { boxes, edges: ids(edges, boxes), banded: false };
  }

  // Still too many to read or to lay out (a long mesh, a dense graph): one box per band of
  // consecutive depths, its tasks in the workflow's order.
  const perBand = Math.ceil(levels.length / MAX_BANDS);
  const bands: number[][] = [];
  depth.forEach((d, i) => (bands[Math.floor(d / perBand)] ??= []).push(i));
  const banded = bands.map((members, band) => (members.length === 1 ? taskBox(tasks[members[0]]) : groupBox(`band-${band}`, members.map((i) => tasks[i]))));
  bands.forEach((members, band) => members.forEach((i) => (boxOf[i] = band)));
  return { boxes: banded, edges: ids(edgesBetween(boxOf, parents, banded.length), banded), banded: true };
}

export function layOut(tasks: Task[]): LaidOutGraph {
  const { boxes, edges, banded } = collapse(tasks);
  // Bands follow one another: they are listed in order (dag-svg.tsx BandList), not laid out as a
  // 60-box chain that would be too wide to read.
  if (banded) return { boxes: boxes.map((b) => ({ ...b, x: 0, y: 0 })), lines: [], width: 0, height: 0, groups: boxes.filter((b) => !b.task).length, banded };
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: 'LR', nodesep: 14, ranksep: 50, marginx: 10, marginy: 10, ranker: 'longest-path' });
  g.setDefaultEdgeLabel(() => ({}));
  for (const b of boxes) g.setNode(b.id, { width: b.width, height: b.height });
  for (const [from, to] of edges) g.setEdge(from, to);
  dagre.layout(g);
  const graph = g.graph();
  return {
    boxes: boxes.map((b) => {
      const n = g.node(b.id);
      return { ...b, x: n.x - b.width / 2, y: n.y - b.height / 2 };
    }),
    lines: edges.map(([from, to]) => ({ from, to, points: g.edge(from, to).points ?? [] })),
    width: Math.ceil(graph.width ?? 0),
    height: Math.ceil(graph.height ?? 0),
    groups: boxes.filter((b) => !b.task).length,
    banded,
  };
}
