// /ui: the cluster at a glance, scoped to what the key may see. Figures from GET /overview (tasks
// by status, queued tasks by priority, queued demand by resource shape, the last hour's status
// changes), GET /workflows (running count) and GET /nodes (roles that read nodes). Per-tenant
// usage against quota and fair share comes from GET /tenants.
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

interface TenantItem {
  name: string;
  weight: number;
  quota: { cpu: number | null; memory_mb: number | null; gpu: number | null; max_running: number | null };
  usage: { cpu: number; memory_mb: number; gpu: number; running: number };
  pending: { tasks: number };
  dominant_share: number;
  dominant_resource: string;
  entitled_share: number;
}

const pct = (n: number) => `${Math.round(n * 100)}%`;
const against = (used: number, limit: number | null) => (limit === null ? `${Math.round(used * 100) / 100} (no quota)` : `${Math.round(used * 100) / 100} / ${limit}`);

/**
 * Per-tenant usage against quota and fair share, from GET /tenants (a key limited to one tenant
 * sees its own row only). The share bar is the dominant share, its marker the entitled share;
 * both are also given as text.
 */
function Tenants(p: { items: TenantItem[] }) {
  if (p.items.length === 0) return null;
  return (
    <section id="tenants" aria-labelledby="tenants-heading">
      <h2 id="tenants-heading">Fair share: usage against quota</h2>
      <div class="scroll">
        <table data-testid="tenants">
          <thead>
            <tr>
              <th scope="col">tenant</th>
              <th scope="col">weight</th>
              <th scope="col">running</th>
              <th scope="col">cpu</th>
              <th scope="col">memory MiB</th>
              <th scope="col">gpu</th>
              <th scope="col">queued</th>
              <th scope="col">share now / entitled</th>
            </tr>
          </thead>
          <tbody>
            {p.items.map((t) => (
              <tr data-tenant={t.name}>
                <th scope="row">{t.name}</th>
                <td>{t.weight}</td>
                <td>{against(t.usage.running, t.quota.max_running)}</td>
                <td>{against(t.usage.cpu, t.quota.cpu)}</td>
                <td>{against(t.usage.memory_mb, t.quota.memory_mb)}</td>
                <td>{against(t.usage.gpu, t.quota.gpu)}</td>
                <td>{t.pending.tasks}</td>
                <td>
                  <span class="share-text">
                    {pct(t.dominant_share)} of {t.dominant_resource} / {pct(t.entitled_share)}
                  </span>{' '}
                  <meter min={0} max={1} value={Math.min(1, t.dominant_share)} optimum={t.entitled_share} aria-label={`${t.name}: share now`} />
                </td>
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
    <Layout title="Overview" viewer={viewer} section="overview" flash={flashOf(c)}>
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
        {tenants.status === 200 && <Tenants items={((tenants.body as { items?: TenantItem[] } | null)?.items ?? [])} />}
      </section>
    </Layout>,
  );
}
