// /ui/workflows: one page of workflows from GET /workflows, with their task counts by status.
import type { Context } from 'hono';
import { detailOf } from '../api-client.ts';
import { apiErrorPage } from '../error-page.tsx';
import { ago, flashOf, Layout, Status } from '../layout.tsx';
import type { Page, WorkflowSummary } from '../wire.ts';

const PAGE = 50;

export async function workflowsPage(c: Context) {
  const viewer = c.get('viewer');
  const offset = Math.max(0, Math.floor(Number(c.req.query('offset')) || 0));
  const r = await viewer.api.get<Page<WorkflowSummary>>(`/workflows?limit=${PAGE}&offset=${offset}`);
  if (r.status !== 200) return apiErrorPage(c, r.status, `The workflows could not be read: ${detailOf(r.body)}`);
  const page = r.body;
  const now = Date.now();
  return c.html(
    <Layout title="Workflows" viewer={viewer} section="workflows" flash={flashOf(c)}>
      <h1>Workflows</h1>
      <section id="workflow-list" data-live="5000">
        <p>{page.total === 0 ? 'No workflows' : `Workflows ${offset + 1}–${offset + page.items.length} of ${page.total}`}</p>
        <div class="scroll">
          <table>
            <thead>
              <tr>
                <th scope="col">Workflow</th>
                <th scope="col">Status</th>
                <th scope="col">Tasks by status</th>
                <th scope="col">Age</th>
              </tr>
            </thead>
            <tbody>
              {page.items.map((w) => (
                <tr>
                  <td>
                    <a href={`/ui/workflows/${w.id}`}>{w.name}</a> <small class="mono hide-narrow">{w.id.slice(0, 8)}</small>
                  </td>
                  <td>
                    <Status value={w.status} />
                  </td>
                  <td>
                    {Object.entries(w.task_counts)
                      .map(([s, n]) => `${n} ${s}`)
                      .join(', ') || '—'}
                  </td>
                  <td>{ago(w.created_at, now)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
      <nav class="pager" aria-label="Pages">
        {offset > 0 && <a href={`/ui/workflows?offset=${Math.max(0, offset - PAGE)}`}>← Newer</a>}
        {offset + PAGE < page.total && <a href={`/ui/workflows?offset=${offset + PAGE}`}>Older →</a>}
      </nav>
    </Layout>,
  );
}
