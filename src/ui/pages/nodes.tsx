// /ui/nodes: each node's state, labels, allocated vs capacity (cpu, memory, gpu, slots), heartbeat
// age and running tasks; drain and resume for roles that manage nodes.
import type { Context } from 'hono';
import { allows } from '../../auth/policy.ts';
import { detailOf } from '../api-client.ts';
import { apiErrorPage } from '../error-page.tsx';
import { ActionButton, ago, flashOf, Layout, Status } from '../layout.tsx';
import type { Node } from '../wire.ts';

function Bar(p: { label: string; used: number; total: number; unit?: string }) {
  const fmt = (n: number) => String(Math.round(n * 100) / 100);
  const text = `${p.label}: ${fmt(p.used)} of ${fmt(p.total)}${p.unit ? ` ${p.unit}` : ''}`;
  return (
    <div class="bar">
      <span style="min-width:70px">{p.label}</span>
      <meter min={0} max={Math.max(p.total, 0.0001)} value={p.used} low={p.total * 0.7} high={p.total * 0.9} optimum={0} aria-label={text} title={text}>
        {text}
      </meter>
      <span class="mono">
        {fmt(p.used)}/{fmt(p.total)}
        {p.unit ? ` ${p.unit}` : ''}
      </span>
    </div>
  );
}

export async function nodesPage(c: Context) {
  const viewer = c.get('viewer');
  const r = await viewer.api.get<Node[] | { items: Node[] }>('/nodes');
  if (r.status !== 200) return apiErrorPage(c, r.status, `The nodes could not be read: ${detailOf(r.body)}`);
  const nodes = Array.isArray(r.body) ? r.body : r.body.items;
  const manage = allows(viewer.principal.role, 'nodes:manage');
  const now = Date.now();
  return c.html(
    <Layout title="Nodes" viewer={viewer} section="nodes" flash={flashOf(c)}>
      <h1>Nodes</h1>
      <section id="node-list" data-live="5000">
        <p>{nodes.length} nodes</p>
        <div class="scroll">
          <table>
            <thead>
              <tr>
                <th scope="col">Node</th>
                <th scope="col">State</th>
                <th scope="col">Labels</th>
                <th scope="col">Allocated / capacity</th>
                <th scope="col">Heartbeat</th>
                <th scope="col">Running</th>
                {manage && <th scope="col">Actions</th>}
              </tr>
            </thead>
            <tbody>
              {nodes.map((n) => (
                <tr data-node={n.name}>
                  <td>
                    <strong>{n.name}</strong>
                    <div class="mono">{n.hostname}</div>
                  </td>
                  <td>
                    <Status value={n.status} />
                  </td>
                  <td class="mono">
                    {Object.entries(n.labels).map(([k, v]) => `${k}=${v}`).join(', ') || '—'}
                  </td>
                  <td>
                    <Bar label="CPU" used={n.allocated.cpu} total={n.capacity.cpu} unit="cores" />
                    <Bar label="Memory" used={n.allocated.memory_mb} total={n.capacity.memory_mb} unit="MB" />
                    <Bar label="GPU" used={n.allocated.gpu} total={n.capacity.gpu} />
                    <Bar label="Slots" used={n.allocated.tasks} total={n.capacity.max_tasks} />
                  </td>
                  <td>{n.last_heartbeat_at ? `${ago(n.last_heartbeat_at, now)} ago` : 'never'}</td>
                  <td>
                    {n.running_tasks.length === 0
                      ? 'none'
                      : n.running_tasks.slice(0, 10).map((id) => (
                          <div>
                            <a href={`/ui/tasks/${id}`} class="mono">
                              {id.slice(0, 8)}
                            </a>
                          </div>
                        ))}
                    {n.running_tasks.length > 10 && <div>and {n.running_tasks.length - 10} more</div>}
                  </td>
                  {manage && (
                    <td>
                      {n.status === 'draining' ? (
                        <ActionButton viewer={viewer} action={`/ui/nodes/${n.id}/resume`} label={`Resume ${n.name}`} back="/ui/nodes" />
                      ) : (
                        <ActionButton viewer={viewer} action={`/ui/nodes/${n.id}/drain`} label={`Drain ${n.name}`} back="/ui/nodes" danger />
                      )}
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
    </Layout>,
  );
}
