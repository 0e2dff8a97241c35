// /audit (admin): the audit log, newest first, filterable and paged.
import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { Control } from '../../control/index.ts';
import { AuditPage, AuditQuery } from '../security-schemas.ts';
import { json } from './responses.ts';

export function auditRoutes(control: Control) {
  const app = new OpenAPIHono();
  const { audit } = control;
  const list = createRoute({
    method: 'get',
    path: '/audit',
    tags: ['security'],
    summary: 'The audit log (admin): every change and every refused request, newest first',
    request: { query: AuditQuery },
    responses: { 200: json(AuditPage, 'A page of audit records') },
  });
  app.openapi(list, async (c) => {
    const q = c.req.valid('query');
    const page = await audit.list({
      action: q.action,
      keyId: q.key_id,
      tenant: q.tenant,
      since: q.since ? new Date(q.since) : undefined,
      limit: q.limit,
      offset: q.offset,
    });
    const items = page.items.map((r) => ({
      at: r.at.toISOString(),
      key_id: r.keyId,
      key_name: r.keyName,
      tenant: r.tenant,
      role: r.role,
      action: r.action,
      target: r.target,
      status: r.status,
      client: r.client,
      request_id: r.requestId,
      count: r.count,
    }));
    return c.json({ items, total: page.total, limit: q.limit, offset: q.offset }, 200);
  });
  return app;
}
