// /ui: the cluster at a glance, scoped to what the key may see. Figures from GET /overview (tasks
// by status, queued tasks by priority, queued demand by resource shape, the last hour's status
// changes), GET /workflows (running count) and GET /nodes (roles that read nodes). Per-tenant
// usage against quota and share comes from GET /tenants, shown only when that route answers.
import type { Context } from 'hono';
import { allows, reachesEveryTenant } from '../../auth/policy.ts';
import { STATUS_COLOUR } from '../graph/dag-svg.tsx';
import { flashOf, Layout, Status } from '../layout.tsx';
import { PRIORITIES, TASK_STATUSES, type Node, type Page } from '../wire.ts';

export interface OverviewBody {
  tasks_by_status: Record<string, number>;
  queued_by_priority: Record<string, number>;
  queued_demand: Array<{ cpu: number; memory_mb: number; gpu: number; tasks: number; cpu_total: number; memory_mb_total: number; gpu_total: number }>;
  last_hour: { since: string; bucket_seconds: number; buckets: Array<{ start: string; counts: Record<string, number> }> };
}

const memory = (mb: number) => (mb >= 1024 ? `${+(mb / 1024).toFixed(1)} GiB` : `${mb} MiB`);
const cpus = (n: number) => `${+n.toFixed(2)} CPU`;
const hhmm = (iso: string) => iso.slice(11, 16);

/** The last hour as one row per 5-minute bucket: a stacked bar (colour) and the counts (words). */
function LastHour(p: { hour: OverviewBody['last_hour'] }) {
  const seen = TASK_STATUSES.filter((s) => p.hour.buckets.some((b) => b.counts[s]));
  const max = Math.max(1, ...p.hour.buckets.map((b) => Object.values(b.counts).reduce((a, n) => a + n, 0)));
  const minutes = p.hour.bucket_seconds / 60;
  if (seen.length === 0) return <p>No task changed status in the last hour.</p>;
  return (
    <div class="scroll">
      <table class="hour" data-testid="last-hour">
        <caption>Status changes per {minutes} minutes (UTC), by the status entered</caption>
        <thead>
          <tr>
            <th scope="col">From</th>
            {seen.map((s) => (
              <th scope="col">
                <Status value={s} />
              </th>
            ))}
            <th scope="col" class="hide-narrow">
              Bar
            </th>
          </tr>
        </thead>
        <tbody>
          {p.hour.buckets.map((b) => {
            const total = Object.values(b.counts).reduce((a, n) => a + n, 0);
            return (
              <tr>
                <th scope="row">
                  <time datetime={b.start}>{hhmm(b.start)}</time>
                </th>
                {seen.map((s) => (
                  <td class="num">{b.counts[s] ?? 0}</td>
                ))}
                <td class="hide-narrow bar-cell" aria-hidden="true">
                  <span class="stack" style={`width:${Math.round((total / max) * 100)}%`}>
                    {seen
                      .filter((s) => b.counts[s])
                      .map((s) => (
                        <span style={`flex:${b.counts[s]};background:${STATUS_COLOUR[s] ?? '#8a8f98'}`} title={`${b.counts[s]} ${s}`}></span>
                      ))}
                  </span>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

function Demand(p: { demand: OverviewBody['queued_demand'] }) {
  if (p.demand.length === 0) return <p>No task is queued.</p>;
  return (
    <div class="scroll">
      <table data-testid="demand">
        <thead>
          <tr>
            <th scope="col">Shape (each task asks at most)</th>
            <th scope="col">Tasks</th>
            <th scope="col">CPU asked</th>
            <th scope="col">Memory asked</th>
            <th scope="col">GPU asked</th>
          </tr>
        </thead>
        <tbody>
          {p.demand.map((d) => (
            <tr>
              <td>
                ≤ {cpus(d.cpu)}, ≤ {memory(d.memory_mb)}, {d.gpu} GPU
              </td>
              <td class="num">{d.tasks}</td>
              <td class="num">{cpus(d.cpu_total)}</td>
              <td class="num">{memory(d.memory_mb_total)}</td>
              <td class="num">{d.gpu_total}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/**
 * Per-tenant usage against quota and share, from GET /tenants. Rendered only when that route
 * answers 200 (it is being built); each item's fields are shown as the API gives them.
 */
function Tenants(p: { body: unknown }) {
  const items = (p.body as { items?: unknown } | null)?.items;
  if (!Array.isArray(items)) return null;
  const show = (v: unknown) => (v === null || v === undefined ? '—' : typeof v === 'object' ? JSON.stringify(v) : String(v));
  const columns = [...new Set(items.flatMap((i) => (i && typeof i === 'object' ? Object.keys(i) : [])))];
  return (
    <section id="tenants" aria-labelledby="tenants-heading">
      <h2 id="tenants-heading">Tenants: usage against quota and share</h2>
      <div class="scroll">
        <table data-testid="tenants">
          <thead>
            <tr>
              {columns.map((k) => (
                <th scope="col">{k}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {items.map((i) => (
              <tr>
                {columns.map((k) => (
                  <td class="mono">{show((i as Record<string, unknown>)[k])}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

export async function overviewPage(c: Context) {
  const viewer = c.get('viewer');
  const role = viewer.principal.role;
  const tenant = reachesEveryTenant(role) ? (c.req.query('tenant') ?? '') : '';
  const scope = /^[a-z0-9][a-z0-9_-]{0,62}$/.test(tenant) ? `?tenant=${tenant}` : '';
  const [overview, nodes, running, tenants] = await Promise.all([
    viewer.api.get<OverviewBody>(`/overview${scope}`),
    allows(role, 'nodes:read') ? viewer.api.get<{ items: Node[] }>('/nodes') : null,
    viewer.api.get<Page<unknown>>(`/workflows?status=running&limit=1${scope ? `&${scope.slice(1)}` : ''}`),
    viewer.api.get<unknown>('/tenants'),
  ]);
  const o = overview.status === 200 ? overview.body : null;
  const nodeList = nodes?.status === 200 ? nodes.body.items : null;
  return c.html(
    <Layout title="Overview" viewer={viewer} section="overview" flash={flashOf(c.req.query())}>
      <h1>Overview{scope ? ` of tenant ${tenant}` : ''}</h1>
      {reachesEveryTenant(role) && (
        <form class="filters" method="get" action="/ui" aria-label="Whose figures">
          <label>
            Tenant
            <input name="tenant" value={scope ? tenant : ''} placeholder="all tenants" />
          </label>
          <button type="submit">Show</button>
        </form>
      )}
      <section id="overview-live" data-live="5000">
        {!o && <p class="flash error">The overview could not be read ({overview.status}).</p>}
        <h2>Tasks by status</h2>
        <div class="cards">
          {TASK_STATUSES.map((s) => (
            <a class="card" href={`/ui/tasks?status=${s}`} data-status={s}>
              <span class="n">{o ? (o.tasks_by_status[s] ?? 0) : '?'}</span>
              <Status value={s} />
            </a>
          ))}
        </div>
        <p>{running.status === 200 ? `${running.body.total} workflows running.` : ''}</p>
        {o && (
          <>
            <h2>Queue depth by priority</h2>
            <div class="cards">
              {PRIORITIES.map((p) => (
                <a class="card" href={`/ui/tasks?status=queued`} data-priority={p}>
                  <span class="n">{o.queued_by_priority[p] ?? 0}</span> {p}
                </a>
              ))}
            </div>
            <h2>Queued demand by resource shape</h2>
            <Demand demand={o.queued_demand} />
            <h2>Tasks by status over the last hour</h2>
            <LastHour hour={o.last_hour} />
          </>
        )}
        {nodeList && (
          <>
            <h2>Nodes</h2>
            <p>
              <a href="/ui/nodes">{nodeList.length} nodes</a>:{' '}
              {Object.entries(
                nodeList.reduce<Record<string, number>>((acc, n) => ({ ...acc, [n.status]: (acc[n.status] ?? 0) + 1 }), {}),
              )
                .map(([s, n]) => `${n} ${s}`)
                .join(', ') || 'none registered'}
              {' · '}
              CPU {nodeList.reduce((a, n) => a + n.allocated.cpu, 0)} of {nodeList.reduce((a, n) => a + n.capacity.cpu, 0)} cores allocated · memory{' '}
              {memory(nodeList.reduce((a, n) => a + n.allocated.memory_mb, 0))} of {memory(nodeList.reduce((a, n) => a + n.capacity.memory_mb, 0))} · GPU{' '}
              {nodeList.reduce((a, n) => a + n.allocated.gpu, 0)} of {nodeList.reduce((a, n) => a + n.capacity.gpu, 0)} · slots{' '}
              {nodeList.reduce((a, n) => a + n.allocated.tasks, 0)} of {nodeList.reduce((a, n) => a + n.capacity.max_tasks, 0)}
            </p>
          </>
        )}
        {tenants.status === 200 && <Tenants body={tenants.body} />}
      </section>
    </Layout>,
  );
}
