// /auth/keys (admin): create a key (shown once), list keys (never the key), revoke one.
import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { Control } from '../../control/index.ts';
import { describeKey } from '../../control/keys.ts';
import { ErrorDetail, TaskIdParam } from '../schemas.ts';
import { KeyCreate, KeyCreated, KeyList } from '../security-schemas.ts';
import { json } from './responses.ts';

export function keyRoutes(control: Control) {
  const app = new OpenAPIHono();
  const { keys } = control;

  const create = createRoute({
    method: 'post',
    path: '/auth/keys',
    tags: ['security'],
    summary: 'Create an API key (admin); the key is in this answer only',
    request: { body: { content: { 'application/json': { schema: KeyCreate } }, required: true } },
    responses: { 201: json(KeyCreated, 'The key, with its secret shown this once') },
  });
  app.openapi(create, async (c) => {
    const b = c.req.valid('json');
    const { row, key } = await keys.create({ name: b.name, role: b.role, tenant: b.tenant, rateLimitPerS: b.rate_limit_per_s });
    c.set('auditTarget', row.id);
    return c.json({ ...describeKey(row), key }, 201);
  });

  const list = createRoute({
    method: 'get',
    path: '/auth/keys',
    tags: ['security'],
    summary: 'List the keys that are not revoked (admin); never shows a key',
    responses: { 200: json(KeyList, 'The keys') },
  });
  app.openapi(list, async (c) => c.json({ items: (await keys.list()).map(describeKey) }, 200));

  const revoke = createRoute({
    method: 'delete',
    path: '/auth/keys/{id}',
    tags: ['security'],
    summary: 'Revoke a key (admin): refused on every control plane within a second',
    request: { params: TaskIdParam },
    responses: { 204: { description: 'Revoked' }, 404: json(ErrorDetail, 'No live key with this id') },
  });
  app.openapi(revoke, async (c) => {
    await keys.revoke(c.req.valid('param').id);
    return c.body(null, 204);
  });

  return app;
}
