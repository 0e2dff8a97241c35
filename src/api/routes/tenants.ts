// /tenants: fair share between tenants. Anyone with a key reads its own tenant (operators and
// admins every tenant); only an admin sets weights and quotas.
import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { Control } from '../../control/index.ts';
import type { TenantView } from '../../control/tenants.ts';
import { actorOf } from '../auth/actor.ts';
import { ErrorDetail } from '../schemas.ts';
import { TenantInfo, TenantList, TenantNameParam, TenantPut } from '../tenant-schemas.ts';
import { json } from './responses.ts';

const round = (n: number) => Math.round(n * 1e6) / 1e6;

function present(t: TenantView) {
  const q = t.settings.quota;
  return {
    name: t.name,
    weight: t.settings.weight,
    quota: { cpu: q.cpu, memory_mb: q.memoryMb, gpu: q.gpu, max_running: q.maxRunning },
    configured: t.configured,
    usage: { cpu: round(t.usage.cpu), memory_mb: t.usage.memoryMb, gpu: t.usage.gpu, running: t.usage.running },
    pending: { tasks: t.pending.tasks, cpu: round(t.pending.cpu), memory_mb: t.pending.memoryMb, gpu: t.pending.gpu },
    dominant_share: round(t.share.dominantShare),
    dominant_resource: t.share.dominantResource,
    entitled_share: round(t.share.entitledShare),
  };
}

export function tenantRoutes(control: Control) {
  const app = new OpenAPIHono();
  const { tenants } = control;

  const list = createRoute({
    method: 'get',
    path: '/tenants',
    tags: ['tenants'],
    summary: 'Tenants with settings or work: weight, quota, usage, pending demand, and their shares now and entitled',
    responses: { 200: json(TenantList, "The tenants the key may see (a key limited to one tenant sees only its own)") },
  });
  app.openapi(list, async (c) => c.json({ items: (await tenants.list(actorOf(c))).map(present) }, 200));

  const get = createRoute({
    method: 'get',
    path: '/tenants/{name}',
    tags: ['tenants'],
    summary: "One tenant's weight, quota, usage, pending demand and shares",
    request: { params: TenantNameParam },
    responses: { 200: json(TenantInfo, 'The tenant (weight 1 and no quota if never set)'), 404: json(ErrorDetail, "Another tenant's, to a key limited to its own") },
  });
  app.openapi(get, async (c) => c.json(present(await tenants.get(c.req.valid('param').name, actorOf(c))), 200));

  const put = createRoute({
    method: 'put',
    path: '/tenants/{name}',
    tags: ['tenants'],
    summary: "Set a tenant's fair-share weight and quota (admin); applies from the next placement",
    request: { params: TenantNameParam, body: { content: { 'application/json': { schema: TenantPut } }, required: true } },
    responses: { 200: json(TenantInfo, 'The tenant as it is now') },
  });
  app.openapi(put, async (c) => {
    const { name } = c.req.valid('param');
    const b = c.req.valid('json');
    const q = b.quota;
    c.set('auditTarget', name);
    const view = await tenants.put(name, { weight: b.weight, quota: { cpu: q.cpu, memoryMb: q.memory_mb, gpu: q.gpu, maxRunning: q.max_running } }, actorOf(c));
    return c.json(present(view), 200);
  });

  return app;
}
