// /ui/workflows/:id: the workflow's graph (laid out on the server, or listed in bands when too big),
// a timeline of when each task ran, and cancel (running) or retry (failed, cancelled: POST
// /workflows/{id}/retry) for roles that may. Reads GET /workflows/{id} once (up to 10,000 tasks;
// the graph model is linear in them, graph/dag-model.ts). While the workflow runs, its live part
// carries a validator (data-etag: the API's ETag of the workflow and the minute it was drawn in);
// a refresh that sends it back gets 304 while nothing changed, and neither the tasks are read nor
// the page drawn (the API checks the key and the tenant first, as for any read).
import type { Context } from 'hono';
import { allows } from '../../auth/policy.ts';
import { detailOf } from '../api-client.ts';
import { apiErrorPage } from '../error-page.tsx';
import { BandList, DagSvg, STATUS_COLOUR } from '../graph/dag-svg.tsx';
import { FAN_OUT_LIMIT, layOut } from '../graph/dag-model.ts';
import { Gantt } from '../graph/gantt.tsx';
import { ActionButton, ago, flashOf, Layout, Status } from '../layout.tsx';
import type { Workflow } from '../wire.ts';

/**
 * How long what is drawn against the clock (the header's "started … ago", the bars of running
 * tasks) may stay as drawn while nothing changes: the page's validator holds the minute it was
 * drawn in, so an unchanged workflow is drawn again once a minute instead of every 4 s.
 */
export const REDRAW_MS = 60_000;

/** The page's validator: the API's tag of the workflow (weak, `W/"…"`), and the REDRAW_MS period it was drawn in. */
export const pageTag = (apiTag: string, now: number) => `W/"${apiTag.replace(/^W\//, '').replaceAll('"', '')}.${Math.floor(now / REDRAW_MS)}"`;

/** The API's tag inside a validator sent back (If-None-Match) in the period it was drawn in; else null (draw again). */
export function apiTagOf(sent: string | undefined, now: number): string | null {
  const m = /^W\/"([^".]+)\.(\d+)"$/.exec(sent?.trim() ?? '');
  return m && Number(m[2]) === Math.floor(now / REDRAW_MS) ? `W/"${m[1]}"` : null;
}

export async function workflowPage(c: Context) {
  const viewer = c.get('viewer');
  const id = encodeURIComponent(c.req.param('id') ?? '');
  const now = Date.now();
  const known = apiTagOf(c.req.header('if-none-match'), now);
  const r = await viewer.api.get<Workflow>(`/workflows/${id}`, known ? { 'if-none-match': known } : {});
  // Nothing changed since the browser's copy was drawn (the API said so, for this key): it keeps it.
  if (r.status === 304 && known) return c.body(null, 304, { etag: pageTag(known, now) });
  if (r.status === 404 || r.status === 422) return apiErrorPage(c, 404, 'No workflow with this id that your key can see.');
  if (r.status !== 200) return apiErrorPage(c, r.status, `The workflow could not be read: ${detailOf(r.body)}`);
  const w = r.body;
  const graph = layOut(w.tasks);
  const counts: Record<string, number> = {};
  for (const t of w.tasks) counts[t.status] = (counts[t.status] ?? 0) + 1;
  const back = `/ui/workflows/${w.id}`;
  return c.html(
    <Layout title={`Workflow ${w.name}`} viewer={viewer} section="workflows" flash={flashOf(c)}>
      <section id="workflow-live" data-live={w.status === 'running' ? '4000' : undefined} data-etag={w.status === 'running' && r.etag ? pageTag(r.etag, now) : undefined}>
        <h1>
          Workflow {w.name} <Status value={w.status} />
        </h1>
        <p>
          {w.tasks.length} tasks: {Object.entries(counts).map(([s, n]) => `${n} ${s}`).join(', ')} · started {ago(w.created_at, now)} ago · on
          failure: {w.on_failure} · <a href={`/ui/tasks?workflow_id=${w.id}`}>its tasks as a list</a>
        </p>
        <p>
          {w.status === 'running' && allows(viewer.principal.role, 'tasks:cancel') && (
            <ActionButton viewer={viewer} action={`/ui/workflows/${w.id}/cancel`} label="Cancel workflow" back={back} danger />
          )}
          {(w.status === 'failed' || w.status === 'cancelled') && allows(viewer.principal.role, 'tasks:retry') && (
            <ActionButton viewer={viewer} action={`/ui/workflows/${w.id}/retry`} label="Retry workflow" back={back} />
          )}
        </p>
        <h2>Graph</h2>
        <p>
          {graph.banded
            ? `Too many tasks or dependencies to draw as a graph: the graph is listed as bands of consecutive depths, in order, each with its counts by status.`
            : graph.groups > 0
              ? `Fan-outs of more than ${FAN_OUT_LIMIT} tasks with the same parents are drawn as one box with counts by status.`
              : 'Each box is a task; open it to see its log.'}
        </p>
        <div class="legend" aria-hidden="true">
          {Object.entries(STATUS_COLOUR).map(([s, col]) => (
            <span>
              <svg width="12" height="12">
                <rect width="12" height="12" fill={col} />
              </svg>{' '}
              {s}
            </span>
          ))}
        </div>
        {graph.banded ? (
          <BandList graph={graph} workflowId={w.id} />
        ) : (
          <div class="scroll">
            <DagSvg graph={graph} workflowId={w.id} />
          </div>
        )}
        <h2>Timeline</h2>
        <div class="scroll">
          <Gantt tasks={w.tasks} now={now} />
        </div>
      </section>
    </Layout>,
  );
}
