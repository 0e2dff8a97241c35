// /secrets: a tenant's secrets. Values go in, never come out: answers carry names only.
import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { ApiDeps } from '../deps.ts';
import { ForbiddenError, HttpError, NotFoundError } from '../fastapi/index.ts';
import { ErrorDetail } from '../schemas.ts';
import { SecretCreate, SecretInfo, SecretList, SecretNameParam, TenantQuery } from '../security-schemas.ts';
import { json } from './responses.ts';
import type { Principal } from '../../auth/principal.ts';

/** The tenant a secrets request is about: the key's own; an admin may name another. */
function secretTenant(p: Principal, asked: string | undefined): string {
  if (!asked || asked === p.tenant) return p.tenant;
  if (p.role !== 'admin') throw new ForbiddenError(`Only an admin may manage another tenant's secrets; your key belongs to tenant "${p.tenant}"`);
  return asked;
}

export function secretRoutes(deps: ApiDeps) {
  const app = new OpenAPIHono();
  const box = () => {
    if (!deps.secretBox) throw new HttpError(503, 'Secrets are not enabled: start the control plane with JARVIS_SECRET_KEY (32 random bytes, e.g. openssl rand -base64 32)');
    return deps.secretBox;
  };

  const put = createRoute({
    method: 'post',
    path: '/secrets',
    tags: ['security'],
    summary: "Create or replace a secret of the key's tenant; the value is never shown again",
    request: { body: { content: { 'application/json': { schema: SecretCreate } }, required: true } },
    responses: { 201: json(SecretInfo, 'Stored (encrypted)'), 403: json(ErrorDetail, "Another tenant's secret"), 503: json(ErrorDetail, 'Secrets are not enabled') },
  });
  app.openapi(put, async (c) => {
    const b = c.req.valid('json');
    const tenant = secretTenant(c.get('principal'), b.tenant);
    const sealed = box().seal(b.value, `${tenant}/${b.name}`);
    const { info } = await deps.secrets.put(tenant, b.name, sealed);
    c.set('auditTarget', `${info.tenant}/${info.name}`);
    return c.json({ name: info.name, tenant: info.tenant, created_at: info.createdAt.toISOString() }, 201);
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
    const tenant = secretTenant(c.get('principal'), c.req.valid('query').tenant);
    const items = (await deps.secrets.list(tenant)).map((s) => ({ name: s.name, tenant: s.tenant, created_at: s.createdAt.toISOString() }));
    return c.json({ items }, 200);
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
    const tenant = secretTenant(c.get('principal'), c.req.valid('query').tenant);
    if (!(await deps.secrets.remove(tenant, c.req.valid('param').name))) throw new NotFoundError('Secret not found');
    return c.body(null, 204);
  });

  return app;
}
