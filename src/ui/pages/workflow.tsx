// /ui/workflows/:id: the workflow's graph (laid out on the server, or listed in bands when too big),
// a timeline of when each task ran, and cancel (running) or retry (failed, cancelled: POST
// /workflows/{id}/retry) for roles that may. Reads GET /workflows/{id} once (up to 10,000 tasks;
// the graph model is linear in them, graph/dag-model.ts).
import type { Context } from 'hono';
import { allows } from '../../auth/policy.ts';
import { detailOf } from '../api-client.ts';
import { apiErrorPage } from '../error-page.tsx';
import { BandList, DagSvg, STATUS_COLOUR } from '../graph/dag-svg.tsx';
import { FAN_OUT_LIMIT, layOut } from '../graph/dag-model.ts';
import { Gantt } from '../graph/gantt.tsx';
import { ActionButton, ago, flashOf, Layout, Status } from '../layout.tsx';
import type { Workflow } from '../wire.ts';

export async function workflowPage(c: Context) {
  const viewer = c.get('viewer');
  const id = encodeURIComponent(c.req.param('id') ?? '');
  const r = await viewer.api.get<Workflow>(`/workflows/${id}`);
  if (r.status === 404 || r.status === 422) return apiErrorPage(c, 404, 'No workflow with this id that your key can see.');
  if (r.status !== 200) return apiErrorPage(c, r.status, `The workflow could not be read: ${detailOf(r.body)}`);
  const w = r.body;
  const graph = layOut(w.tasks);
  const counts: Record<string, number> = {};
  for (const t of w.tasks) counts[t.status] = (counts[t.status] ?? 0) + 1;
  const now = Date.now();
  const back = `/ui/workflows/${w.id}`;
  return c.html(
    <Layout title={`Workflow ${w.name}`} viewer={viewer} section="workflows" flash={flashOf(c)}>
      <section id="workflow-live" data-live={w.status === 'running' ? '4000' : undefined}>
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
