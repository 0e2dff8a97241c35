// /ui: the cluster at a glance. Totals by status come from GET /tasks?status=…&limit=1 (the
// API's count, scoped to what the key may see); queue depth by priority from /metrics, for
// roles that see every tenant (the queue is the whole cluster's); nodes from GET /nodes.
import type { Context } from 'hono';
import { allows, reachesEveryTenant } from '../../auth/policy.ts';
import { flashOf, Layout, Status } from '../layout.tsx';
import { PRIORITIES, TASK_STATUSES, type Node, type Page, type Task } from '../wire.ts';

/** `jarvis_queue_depth{priority="high"} 3` lines of the Prometheus text. */
export function queueDepthFrom(metrics: string): Record<string, number> {
  const depth: Record<string, number> = {};
  for (const m of metrics.matchAll(/^jarvis_queue_depth\{priority="(\w+)"\} ([0-9.e+]+)$/gm)) depth[m[1]] = Number(m[2]);
  return depth;
}

export async function overviewPage(c: Context) {
  const viewer = c.get('viewer');
  const role = viewer.principal.role;
  const [totals, nodes, depth, running] = await Promise.all([
    Promise.all(TASK_STATUSES.map(async (s) => [s, await viewer.api.get<Page<Task>>(`/tasks?status=${s}&limit=1`)] as const)),
    allows(role, 'nodes:read') ? viewer.api.get<{ items: Node[] }>('/nodes') : null,
    reachesEveryTenant(role) ? viewer.api.get<string>('/metrics') : null,
    viewer.api.get<Page<unknown>>('/workflows?status=running&limit=1'),
  ]);
  const counts = totals.map(([s, r]) => [s, r.status === 200 ? r.body.total : null] as const);
  const nodeList = nodes?.status === 200 ? nodes.body.items : null;
  const queue = depth?.status === 200 && typeof depth.body === 'string' ? queueDepthFrom(depth.body) : null;
  return c.html(
    <Layout title="Overview" viewer={viewer} section="overview" flash={flashOf(c.req.query())}>
      <h1>Overview</h1>
      <section id="overview-live" data-live="5000">
        <h2>Tasks by status</h2>
        <div class="cards">
          {counts.map(([s, n]) => (
            <a class="card" href={`/ui/tasks?status=${s}`} data-status={s}>
              <span class="n">{n ?? '?'}</span>
              <Status value={s} />
            </a>
          ))}
        </div>
        <p>{running.status === 200 ? `${running.body.total} workflows running.` : ''}</p>
        {queue && (
          <>
            <h2>Queue depth by priority</h2>
            <div class="cards">
              {PRIORITIES.map((p) => (
                <div class="card" data-priority={p}>
                  <span class="n">{queue[p] ?? 0}</span> {p}
                </div>
              ))}
            </div>
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
              CPU {nodeList.reduce((a, n) => a + n.allocated.cpu, 0)} of {nodeList.reduce((a, n) => a + n.capacity.cpu, 0)} cores allocated · slots{' '}
              {nodeList.reduce((a, n) => a + n.allocated.tasks, 0)} of {nodeList.reduce((a, n) => a + n.capacity.max_tasks, 0)}
            </p>
          </>
        )}
      </section>
    </Layout>,
  );
}
