// /secrets: a tenant's secrets. Values go in, never come out: answers carry names only.
import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { Control } from '../../control/index.ts';
import type { SecretInfo as StoredSecret } from '../../control/secrets.ts';
import { ErrorDetail } from '../schemas.ts';
import { SecretCreate, SecretInfo, SecretList, SecretNameParam, TenantQuery } from '../security-schemas.ts';
import { json } from './responses.ts';

const present = (s: StoredSecret) => ({ name: s.name, tenant: s.tenant, created_at: s.createdAt.toISOString() });

export function secretRoutes(control: Control) {
  const app = new OpenAPIHono();
  const { secrets } = control;

  const put = createRoute({
    method: 'post',
    path: '/secrets',
    tags: ['security'],
    summary: "Create or replace a secret of the key's tenant; the value is never shown again",
    request: { body: { content: { 'application/json': { schema: SecretCreate } }, required: true } },
    responses: { 201: json(SecretInfo, 'Stored (encrypted)'), 403: json(ErrorDetail, "Another tenant's secret"), 503: json(ErrorDetail, 'Secrets are not enabled') },
  });
  app.openapi(put, async (c) => {
    const info = await secrets.put(c.req.valid('json'), c.get('principal'));
    c.set('auditTarget', `${info.tenant}/${info.name}`);
    return c.json(present(info), 201);
  });

  const list = createRoute({
    method: 'get',
    path: '/secrets',
    tags: ['security'],
    summary: "The names of the key's tenant's secrets (never a value)",
    request: { query: TenantQuery },
    responses: { 200: json(SecretList, 'The secrets') },
  });
  app.openapi(list, async (c) => {
    const items = await secrets.list(c.req.valid('query').tenant, c.get('principal'));
    return c.json({ items: items.map(present) }, 200);
  });

  const remove = createRoute({
    method: 'delete',
    path: '/secrets/{name}',
    tags: ['security'],
    summary: 'Delete a secret',
    request: { params: SecretNameParam, query: TenantQuery },
    responses: { 204: { description: 'Deleted' }, 404: json(ErrorDetail, 'No such secret') },
  });
  app.openapi(remove, async (c) => {
    await secrets.delete(c.req.valid('param').name, c.req.valid('query').tenant, c.get('principal'));
    return c.body(null, 204);
  });

  return app;
}
