// When each task of a workflow ran: one row per task that started, a bar from start to finish
// (or to now while it runs), coloured by status with the status written after the bar.
import type { Task } from '../wire.ts';
import { STATUS_COLOUR } from './dag-svg.tsx';

const ROW = 16;
const LABEL_W = 170;
const PLOT_W = 760;

export function Gantt(p: { tasks: Task[]; now: number }) {
  const ran = p.tasks.filter((t) => t.started_at).sort((a, b) => Date.parse(a.started_at!) - Date.parse(b.started_at!));
  if (ran.length === 0) return <p>No task of this workflow has started yet.</p>;
  const end = (t: Task) => (t.finished_at ? Date.parse(t.finished_at) : p.now);
  const t0 = Date.parse(ran[0].started_at!);
  const t1 = Math.max(...ran.map(end), t0 + 1000);
  const x = (ms: number) => LABEL_W + ((ms - t0) / (t1 - t0)) * PLOT_W;
  const height = ran.length * ROW + 30;
  const seconds = (t1 - t0) / 1000;
  return (
    <svg class="gantt" role="img" aria-label={`Timeline of ${ran.length} tasks over ${seconds.toFixed(1)} s`} viewBox={`0 0 ${LABEL_W + PLOT_W + 90} ${height}`} width={LABEL_W + PLOT_W + 90} height={height} xmlns="http://www.w3.org/2000/svg">
      <text x={LABEL_W} y={12}>0 s</text>
      <text x={LABEL_W + PLOT_W} y={12} text-anchor="end">{`${seconds.toFixed(1)} s`}</text>
      {ran.map((t, i) => {
        const y = 20 + i * ROW;
        const x0 = x(Date.parse(t.started_at!));
        const w = Math.max(2, x(end(t)) - x0);
        const c = STATUS_COLOUR[t.status] ?? '#8a8f98';
        return (
          <g>
            <title>{`${t.workflow_key ?? t.id}: ${t.status}, ${((end(t) - Date.parse(t.started_at!)) / 1000).toFixed(1)} s`}</title>
            <text x={0} y={y + 11}>{(t.workflow_key ?? t.id.slice(0, 8)).slice(0, 24)}</text>
            <rect x={x0} y={y + 2} width={w} height={ROW - 5} fill={c} />
            <text x={x0 + w + 4} y={y + 11}>{t.status}</text>
          </g>
        );
      })}
    </svg>
  );
}
