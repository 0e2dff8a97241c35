// The laid-out workflow graph as SVG, drawn on the server: each box coloured by status and
// labelled with the status in words; a task box links to its task, a group box to the task list
// of the workflow (and, for one status, that status), and every link is reachable by keyboard.
import type { LaidOutGraph } from './dag-model.ts';

/** Stroke colours by status; the status is also written in every box. */
export const STATUS_COLOUR: Record<string, string> = {
  succeeded: '#2e9d4f',
  failed: '#d64545',
  timed_out: '#d64545',
  running: '#3b7ddd',
  scheduled: '#3b7ddd',
  queued: '#c99a06',
  pending: '#c99a06',
  cancelled: '#8a8f98',
  skipped: '#8a8f98',
};

const colour = (s: string) => STATUS_COLOUR[s] ?? '#8a8f98';
const ORDER = Object.keys(STATUS_COLOUR);
/** "20 succeeded, 1 failed", always in the same order of statuses. */
const countsText = (counts: Record<string, number>) =>
  Object.entries(counts)
    .sort(([a], [b]) => ORDER.indexOf(a) - ORDER.indexOf(b))
    .map(([s, n]) => `${n} ${s}`)
    .join(', ');
const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

export function DagSvg(p: { graph: LaidOutGraph; workflowId: string }) {
  const g = p.graph;
  const path = (pts: Array<{ x: number; y: number }>) => pts.map((pt, i) => `${i ? 'L' : 'M'}${pt.x.toFixed(1)},${pt.y.toFixed(1)}`).join(' ');
  return (
    <svg class="dag" role="group" aria-label={`Workflow graph: ${g.boxes.length} boxes`} viewBox={`0 0 ${g.width} ${g.height}`} width={g.width} height={g.height} xmlns="http://www.w3.org/2000/svg">
      <defs>
        <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse">
          <path d="M0,0 L10,5 L0,10 z" fill="#8a8f98" />
        </marker>
      </defs>
      {g.lines.map((l) => (
        <path class="edge" d={path(l.points)} marker-end="url(#arrow)" />
      ))}
      {g.boxes.map((b) => {
        const href = b.task ? `/ui/tasks/${b.task.id}` : `/ui/tasks?workflow_id=${p.workflowId}`;
        const counts = b.counts ? countsText(b.counts) : '';
        const title = b.task ? `${b.label}: ${b.status}` : `${b.label}: ${counts}`;
        return (
          <a href={href} aria-label={title} data-status={b.status} data-box={b.task ? 'task' : 'group'}>
            <title>{title}</title>
            <rect x={b.x} y={b.y} width={b.width} height={b.height} rx="6" fill={colour(b.status)} fill-opacity="0.15" stroke={colour(b.status)} stroke-width="2" />
            <rect x={b.x} y={b.y} width="6" height={b.height} rx="2" fill={colour(b.status)} />
            <text x={b.x + 12} y={b.y + 18} font-weight="600">
              {clip(b.label, b.task ? 26 : 32)}
            </text>
            {b.counts ? (
              <>
                <text x={b.x + 12} y={b.y + 36}>
                  {clip(counts, 34)}
                </text>
                <text x={b.x + 12} y={b.y + 52} font-style="italic">
                  {`${b.size} tasks, see list`}
                </text>
              </>
            ) : (
              <text x={b.x + 12} y={b.y + 35}>
                {b.status}
              </text>
            )}
          </a>
        );
      })}
    </svg>
  );
}

/**
 * A graph too big to draw box by box (graph.banded): its bands of consecutive depths in order,
 * each a link with its counts by status in words and its most telling status as a colour bar.
 * Wraps to the width of the page, so 60 bands stay readable without sideways scrolling.
 */
export function BandList(p: { graph: LaidOutGraph; workflowId: string }) {
  return (
    <ol class="bands" aria-label={`Workflow graph in ${p.graph.boxes.length} bands of consecutive depths, in order`}>
      {p.graph.boxes.map((b, i) => {
        const counts = b.counts ? countsText(b.counts) : b.status;
        const href = b.task ? `/ui/tasks/${b.task.id}` : `/ui/tasks?workflow_id=${p.workflowId}`;
        return (
          <li style={`border-left-color:${colour(b.status)}`}>
            <a href={href} data-box={b.task ? 'task' : 'group'} data-status={b.status}>
              <span class="band-n">{i + 1}.</span> {b.label}
            </a>
            <span class="band-counts">{counts}</span>
          </li>
        );
      })}
    </ol>
  );
}
