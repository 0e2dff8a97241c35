// When each task of a workflow ran. Up to ROW_LIMIT tasks: one row per task that started, a bar
// from start to finish (or to now while it runs), coloured by status with the status written after
// it. More tasks than that: bars are packed into lanes (a task takes the first lane free when it
// started), so the chart is as tall as the most tasks that ran at once, not as the workflow is
// long, and stays readable at 1,000 tasks; each bar keeps its name and status in a tooltip, and a
// table under the chart gives the counts in words. More than BAR_LIMIT bars are drawn at the chart's
// resolution instead (denseMarks): what the page sends is bounded by the chart, not the workflow.
import type { Task } from '../wire.ts';
import { SEVERITY } from './dag-model.ts';
import { STATUS_COLOUR } from './dag-svg.tsx';

export const ROW_LIMIT = 60;
/**
 * More bars than this: the lanes are drawn as marks of the chart's pixels, not a rect per task.
 * A bar with its tooltip is ~120 bytes: 2,000 are ~240 KB, 10,000 were 1.2 MB of every refresh.
 */
export const BAR_LIMIT = 2_000;
/** The most rows of marks: more lanes than this share rows. */
const MAX_DENSE_ROWS = 300;
const ROW = 16;
const LABEL_W = 170;
const PLOT_W = 760;
/** Packed lanes never make the chart taller than this. */
const MAX_PACKED_HEIGHT = 900;

interface Bar {
  task: Task;
  start: number;
  end: number;
  lane: number;
}

/** A binary min-heap of numbers in an array (the timeline's lanes, by end time or by index). */
class MinHeap {
  private readonly a: number[] = [];
  constructor(private readonly key: (v: number) => number) {}
  get size() {
    return this.a.length;
  }
  peek(): number {
    return this.a[0];
  }
  push(v: number): void {
    const a = this.a;
    let i = a.push(v) - 1;
    while (i > 0) {
      const up = (i - 1) >> 1;
      if (this.key(a[up]) <= this.key(v)) break;
      a[i] = a[up];
      i = up;
    }
    a[i] = v;
  }
  pop(): number {
    const a = this.a;
    const top = a[0];
    const last = a.pop()!;
    if (a.length === 0) return top;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= a.length) break;
      if (c + 1 < a.length && this.key(a[c + 1]) < this.key(a[c])) c++;
      if (this.key(a[c]) >= this.key(last)) break;
      a[i] = a[c];
      i = c;
    }
    a[i] = last;
    return top;
  }
}

/**
 * Greedy interval partitioning: each bar (by start) goes to the first lane that is free by then.
 * Lanes still busy wait in a heap by end, lanes free in a heap by number, so a bar costs
 * O(log lanes), not a look at every lane (10,000 tasks over 1,250 lanes: 80 ms of every render);
 * each time is parsed once, not in the sort's comparisons.
 */
export function packLanes(tasks: Task[], now: number): { bars: Bar[]; lanes: number } {
  const bars: Bar[] = [];
  for (const t of tasks) {
    if (!t.started_at) continue;
    const start = Date.parse(t.started_at);
    bars.push({ task: t, start, end: Math.max(start, t.finished_at ? Date.parse(t.finished_at) : now), lane: 0 });
  }
  bars.sort((a, b) => a.start - b.start);
  const endOf: number[] = [];
  const busy = new MinHeap((lane) => endOf[lane]);
  const free = new MinHeap((lane) => lane);
  for (const b of bars) {
    while (busy.size > 0 && endOf[busy.peek()] <= b.start) free.push(busy.pop());
    b.lane = free.size > 0 ? free.pop() : endOf.length;
    endOf[b.lane] = b.end;
    busy.push(b.lane);
  }
  return { bars, lanes: endOf.length };
}

export interface Mark {
  /** Row (lane, or row of lanes) and pixel columns [from, to) of the plot. */
  row: number;
  from: number;
  to: number;
  status: string;
}

/**
 * The bars on a grid of rows (lanes; several to a row past MAX_DENSE_ROWS) by the plot's pixel
 * columns, each cell the most telling status of the bars in it (failed before running … before
 * succeeded, as a group box), then one mark per run of equal cells in a row. The chart looks as
 * the bars would at its size, and its marks are at most rows × PLOT_W whatever the tasks (a few
 * per row in practice); the time spent is the bars' widths in pixels.
 */
export function denseMarks(bars: Bar[], lanes: number, px: (ms: number) => number, width = PLOT_W): { marks: Mark[]; rows: number } {
  const rows = Math.min(lanes, MAX_DENSE_ROWS);
  const rank = new Map(SEVERITY.map((s, i) => [s, i]));
  const cells = new Int16Array(rows * width).fill(-1);
  for (const b of bars) {
    const row = Math.floor((b.lane * rows) / lanes);
    const r = rank.get(b.task.status) ?? SEVERITY.length;
    const from = Math.max(0, Math.min(width - 1, Math.floor(px(b.start))));
    const to = Math.max(from + 1, Math.min(width, Math.ceil(px(b.end))));
    for (let c = row * width + from, end = row * width + to; c < end; c++) if (cells[c] < 0 || r < cells[c]) cells[c] = r;
  }
  const marks: Mark[] = [];
  for (let row = 0; row < rows; row++) {
    for (let c = 0; c < width; ) {
      const r = cells[row * width + c];
      let to = c + 1;
      while (to < width && cells[row * width + to] === r) to++;
      if (r >= 0) marks.push({ row, from: c, to, status: SEVERITY[r] ?? 'unknown' });
      c = to;
    }
  }
  return { marks, rows };
}

/** Round tick steps for the time axis (s). */
function ticks(seconds: number): number[] {
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400];
  const step = steps.find((s) => seconds / s <= 8) ?? 86400 * Math.ceil(seconds / 86400 / 8);
  const out: number[] = [];
  for (let s = step; s < seconds; s += step) out.push(s);
  return out;
}

const label = (s: number) => (s >= 3600 ? `${+(s / 3600).toFixed(1)} h` : s >= 120 ? `${+(s / 60).toFixed(1)} min` : `${s} s`);
const nameOf = (t: Task) => t.workflow_key ?? t.name ?? t.id.slice(0, 8);

export function Gantt(p: { tasks: Task[]; now: number }) {
  const { bars, lanes } = packLanes(p.tasks, p.now);
  if (bars.length === 0) return <p>No task of this workflow has started yet.</p>;
  const packed = bars.length > ROW_LIMIT;
  const t0 = bars[0].start;
  const t1 = bars.reduce((m, b) => Math.max(m, b.end), t0 + 1000); // not Math.max(...): 10,000 arguments
  const x = (ms: number) => LABEL_W + ((ms - t0) / (t1 - t0)) * PLOT_W;
  const dense = bars.length > BAR_LIMIT ? denseMarks(bars, lanes, (ms) => x(ms) - LABEL_W) : null;
  const rows = dense ? dense.rows : packed ? lanes : bars.length;
  const row = packed ? Math.max(3, Math.min(ROW, Math.floor(MAX_PACKED_HEIGHT / rows))) : ROW;
  const height = rows * row + 34;
  const seconds = (t1 - t0) / 1000;
  const counts: Record<string, number> = {};
  for (const b of bars) counts[b.task.status] = (counts[b.task.status] ?? 0) + 1;
  const summary = packed
    ? `Timeline of ${bars.length} tasks over ${label(+seconds.toFixed(1))}, packed into ${lanes} lanes (at most ${lanes} ran at once)${dense ? `, drawn pixel by pixel (each mark the most telling status of the tasks there${dense.rows < lanes ? `, ${Math.ceil(lanes / dense.rows)} lanes a row` : ''})` : ''}`
    : `Timeline of ${bars.length} tasks over ${seconds.toFixed(1)} s`;
  return (
    <figure class="gantt-figure">
      <svg class="gantt" role="img" aria-label={summary} viewBox={`0 0 ${LABEL_W + PLOT_W + 90} ${height}`} width={LABEL_W + PLOT_W + 90} height={height} xmlns="http://www.w3.org/2000/svg">
        <text x={LABEL_W} y={12}>
          0 s
        </text>
        {ticks(seconds)
          .filter((s) => x(t0 + s * 1000) < LABEL_W + PLOT_W - 40)
          .map((s) => (
          <g class="tick">
            <line x1={x(t0 + s * 1000)} x2={x(t0 + s * 1000)} y1={16} y2={height - 4} />
            <text x={x(t0 + s * 1000)} y={12} text-anchor="middle">
              {label(s)}
            </text>
          </g>
        ))}
        <text x={LABEL_W + PLOT_W + 4} y={12}>{`${seconds.toFixed(1)} s`}</text>
        {packed && (
          <text x={0} y={12}>
            {`${lanes} lanes`}
          </text>
        )}
        {dense?.marks.map((m) => (
          <rect x={LABEL_W + m.from} y={30 + m.row * row + (row < 8 ? 0 : 2)} width={m.to - m.from} height={Math.max(2, row - (row < 8 ? 1 : 5))} fill={STATUS_COLOUR[m.status] ?? '#8a8f98'}>
            <title>{m.status}</title>
          </rect>
        ))}
        {!dense && bars.map((b, i) => {
          const y = 30 + (packed ? b.lane : i) * row;
          const x0 = x(b.start);
          const w = Math.max(2, x(b.end) - x0);
          const c = STATUS_COLOUR[b.task.status] ?? '#8a8f98';
          return (
            <g>
              <title>{`${nameOf(b.task)}: ${b.task.status}, ${((b.end - b.start) / 1000).toFixed(1)} s`}</title>
              {!packed && <text x={0} y={y + 11}>{nameOf(b.task).slice(0, 24)}</text>}
              <rect x={x0} y={y + (packed && row < 8 ? 0 : 2)} width={w} height={Math.max(2, row - (row < 8 ? 1 : 5))} fill={c} />
              {!packed && <text x={x0 + w + 4} y={y + 11}>{b.task.status}</text>}
            </g>
          );
        })}
      </svg>
      <figcaption>
        {summary}: {Object.entries(counts).map(([s, n]) => `${n} ${s}`).join(', ')}.
      </figcaption>
    </figure>
  );
}
