// /ui/tasks: one page of tasks from GET /tasks (never more than the page asks for), filtered by
// status, label, workflow, name (a prefix) and (operators and admins) tenant, all kept in the URL;
// a whole task id in the search box opens that task. The list re-renders live (client-script.ts).
import { reachesEveryTenant } from '../../auth/policy.ts';
import type { Context } from 'hono';
import { detailOf } from '../api-client.ts';
import { apiErrorPage } from '../error-page.tsx';
import { ago, duration, flashOf, Layout, Status } from '../layout.tsx';
import { TASK_STATUSES, type Page, type Task } from '../wire.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const PAGE = 50;

export function taskName(t: Task): string {
  return t.name ?? t.workflow_key ?? t.id.slice(0, 8);
}

export function TaskTable(p: { tasks: Task[]; now: number }) {
  return (
    <div class="scroll">
      <table>
        <thead>
          <tr>
            <th scope="col">Task</th>
            <th scope="col">Status</th>
            <th scope="col">Tenant</th>
            <th scope="col">Priority</th>
            <th scope="col" class="hide-narrow">Node</th>
            <th scope="col">Age</th>
            <th scope="col">Duration</th>
          </tr>
        </thead>
        <tbody>
          {p.tasks.map((t) => (
            <tr>
              <td>
                <a href={`/ui/tasks/${t.id}`}>{taskName(t)}</a> <small class="mono hide-narrow">{t.id.slice(0, 8)}</small>
              </td>
              <td>
                <Status value={t.status} />
              </td>
              <td>{t.tenant ?? '—'}</td>
              <td>{t.priority}</td>
              <td class="mono hide-narrow">{t.node_id ? t.node_id.slice(0, 8) : '—'}</td>
              <td>{ago(t.created_at, p.now)}</td>
              <td>{duration(t, p.now)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {p.tasks.length === 0 && <p>No tasks match.</p>}
    </div>
  );
}

export async function tasksPage(c: Context) {
  const viewer = c.get('viewer');
  const q = c.req.query();
  const search = (q.q ?? '').trim();
  // A whole task id opens the task; anything else is the start of a task name.
  if (UUID.test(search)) return c.redirect(`/ui/tasks/${search.toLowerCase()}`, 303);
  const offset = Math.max(0, Math.floor(Number(q.offset) || 0));
  // Every filter is kept in the page's URL (and in the pager's links), so a view can be shared.
  const filters = new URLSearchParams();
  if (search) filters.set('q', search.slice(0, 200));
  if (q.status && (TASK_STATUSES as readonly string[]).includes(q.status)) filters.set('status', q.status);
  if (q.label) filters.set('label', q.label);
  if (q.workflow_id) filters.set('workflow_id', q.workflow_id);
  // Operators and admins see every tenant's work and may pick one; others see only their own.
  const everyTenant = reachesEveryTenant(viewer.principal.role);
  if (everyTenant && q.tenant) filters.set('tenant', q.tenant);
  const apiQuery = new URLSearchParams(filters);
  apiQuery.delete('q');
  if (search) apiQuery.set('name', search.slice(0, 200));
  apiQuery.set('limit', String(PAGE));
  apiQuery.set('offset', String(offset));
  let r = await viewer.api.get<Page<Task>>(`/tasks?${apiQuery}`);
  // A page of tasks too large to send at once (a tenant's batches of big tasks; control/page-bytes.ts):
  // the ones that fit, and the pager goes on from after them.
  const fits = tooLargeFits(r);
  if (fits !== null && fits > 0) {
    apiQuery.set('limit', String(fits));
    r = await viewer.api.get<Page<Task>>(`/tasks?${apiQuery}`);
  }
  if (r.status === 422 && fits !== null) return apiErrorPage(c, 422, `The task list could not be shown: ${detailOf(r.body)}`);
  if (r.status === 422) return apiErrorPage(c, 422, `These filters cannot be used: ${detailOf(r.body)}`);
  if (r.status !== 200) return apiErrorPage(c, r.status, `The task list could not be read: ${detailOf(r.body)}`);
  const page = r.body;
  const link = (o: number) => `/ui/tasks?${new URLSearchParams({ ...Object.fromEntries(filters), offset: String(o) })}`;
  const now = Date.now();
  const described = [...filters.entries()].map(([k, v]) => `${k === 'q' ? 'name starts with' : k.replace('_', ' ')} "${v}"`).join(', ');
  return c.html(
    <Layout title="Tasks" viewer={viewer} section="tasks" flash={flashOf(c)}>
      <h1>Tasks</h1>
      <form class="filters" method="get" action="/ui/tasks" role="search" aria-label="Filter tasks">
        <label>
          Task id or name
          <input name="q" value={search} placeholder="uuid, or the start of a name" type="search" />
        </label>
        <label>
          Status
          <select name="status">
            <option value="">any</option>
            {TASK_STATUSES.map((s) => (
              <option value={s} selected={filters.get('status') === s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Label (key:value)
          <input name="label" value={filters.get('label') ?? ''} placeholder="team:ml" />
        </label>
        <label>
          Workflow id
          <input name="workflow_id" value={filters.get('workflow_id') ?? ''} />
        </label>
        {everyTenant && (
          <label>
            Tenant
            <input name="tenant" value={filters.get('tenant') ?? ''} placeholder="any" />
          </label>
        )}
        <button type="submit">Show</button>
        {[...filters.keys()].length > 0 && <a href="/ui/tasks">Clear filters</a>}
      </form>
      <section id="task-list" data-live="5000">
        <p data-testid="list-summary">
          {page.total === 0 ? 'No tasks' : `Tasks ${offset + 1}–${offset + page.items.length} of ${page.total}`}
          {described && ` · ${described}`}
          {fits !== null && page.items.length < PAGE && offset + page.items.length < page.total && ` · the next tasks are too large to show more than ${page.items.length} at once`}
        </p>
        <TaskTable tasks={page.items} now={now} />
        <nav class="pager" aria-label="Pages">
          {offset > 0 && <a href={link(Math.max(0, offset - PAGE))}>← Newer</a>}
          {offset + page.items.length < page.total && page.items.length > 0 && <a href={link(offset + page.items.length)}>Older →</a>}
        </nav>
      </section>
    </Layout>,
  );
}

/** How many of the page's tasks fit when the API refused it as too large (`page_too_large`), else null. */
function tooLargeFits(r: { status: number; body: unknown }): number | null {
  if (r.status !== 422) return null;
  const detail = (r.body as { detail?: unknown } | null)?.detail;
  const first = Array.isArray(detail) ? (detail[0] as { type?: unknown; ctx?: { fits?: unknown } } | undefined) : undefined;
  return first?.type === 'page_too_large' && typeof first.ctx?.fits === 'number' ? first.ctx.fits : null;
}
