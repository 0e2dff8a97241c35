// A workflow's tasks as the graph the page draws: one box per task, except that a wide fan-out
// (more than FAN_OUT_LIMIT tasks at the same depth with the same parents) becomes one group box
// with its counts by status. Done depth by depth, so a fan-out of chains (A -> b1..b500 -> c1..c500)
// collapses at every level, not just the first. Then laid out by dagre (left to right).
import dagre from '@dagrejs/dagre';
import type { Task } from '../wire.ts';

export const FAN_OUT_LIMIT = 20;
/** More boxes than this after collapsing fan-outs: tasks are drawn as bands of depth instead. */
export const MAX_BOXES = 150;
const MAX_BANDS = 60;

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
/** Which status a group shows first: the one that needs a look. */
const SEVERITY = ['failed', 'timed_out', 'running', 'scheduled', 'queued', 'pending', 'cancelled', 'skipped', 'succeeded'];

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

/** Tasks grouped into boxes, and the edges between boxes. */
export function collapse(tasks: Task[]): { boxes: Box[]; edges: Array<[string, string]>; banded: boolean } {
  const byKey = new Map(tasks.filter((t) => t.workflow_key).map((t) => [t.workflow_key as string, t]));
  const depth = new Map<string, number>();
  const depthOf = (t: Task, seen = new Set<string>()): number => {
    const known = depth.get(t.id);
    if (known !== undefined) return known;
    if (seen.has(t.id)) return 0; // a cycle cannot pass the API's validation; stay finite anyway
    seen.add(t.id);
    const parents = t.depends_on.map((k) => byKey.get(k)).filter((p): p is Task => !!p);
    const d = parents.length ? 1 + Math.max(...parents.map((p) => depthOf(p, seen))) : 0;
    depth.set(t.id, d);
    return d;
  };
  for (const t of tasks) depthOf(t);

  const boxOf = new Map<string, string>(); // task id -> box id
  const boxes: Box[] = [];
  const levels = [...new Set(depth.values())].sort((a, b) => a - b);
  const edgesBetweenBoxes = () => {
    const edges = new Map<string, [string, string]>();
    for (const t of tasks) {
      const to = boxOf.get(t.id)!;
      for (const k of t.depends_on) {
        const p = byKey.get(k);
        const from = p ? boxOf.get(p.id) : undefined;
        if (from && from !== to) edges.set(`${from}>${to}`, [from, to]);
      }
    }
    return [...edges.values()];
  };
  for (const level of levels) {
    const sameParents = new Map<string, Task[]>();
    for (const t of tasks) {
      if (depth.get(t.id) !== level) continue;
      const parentBoxes = [...new Set(t.depends_on.map((k) => byKey.get(k)).map((p) => (p ? boxOf.get(p.id) : undefined)).filter(Boolean))].sort();
      const key = parentBoxes.join(' ');
      sameParents.set(key, [...(sameParents.get(key) ?? []), t]);
    }
    let n = 0;
    for (const members of sameParents.values()) {
      if (members.length > FAN_OUT_LIMIT) {
        const id = `group-${level}-${n++}`;
        for (const m of members) boxOf.set(m.id, id);
        boxes.push(groupBox(id, members));
      } else {
        for (const t of members) {
          boxOf.set(t.id, t.id);
          boxes.push(taskBox(t));
        }
      }
    }
  }
  if (boxes.length <= MAX_BOXES) return { boxes, edges: edgesBetweenBoxes(), banded: false };

  // Still too many to read (a long mesh): one box per band of consecutive depths.
  boxOf.clear();
  const perBand = Math.ceil(levels.length / MAX_BANDS);
  const bands = new Map<number, Task[]>();
  for (const t of tasks) {
    const band = Math.floor(levels.indexOf(depth.get(t.id)!) / perBand);
    bands.set(band, [...(bands.get(band) ?? []), t]);
  }
  const banded: Box[] = [];
  for (const [band, members] of [...bands.entries()].sort((a, b) => a[0] - b[0])) {
    const id = members.length === 1 ? members[0].id : `band-${band}`;
    for (const m of members) boxOf.set(m.id, id);
    banded.push(members.length === 1 ? taskBox(members[0]) : groupBox(id, members));
  }
  return { boxes: banded, edges: edgesBetweenBoxes(), banded: true };
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
