// /webhooks: a tenant's event subscriptions and their delivery log (docs/workflows.md,
// "Webhooks"). A webhook's secret goes in and never comes out; a viewer sees its URL's origin only.
import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { allows } from '../../auth/policy.ts';
import { OPEN_MODE } from '../../auth/principal.ts';
import type { Control } from '../../control/index.ts';
import type { DeliveryRow, WebhookRow } from '../../state/schema.ts';
import { actorOf } from '../auth/actor.ts';
import { ErrorDetail } from '../schemas.ts';
import { Delivery, DeliveryListQuery, DeliveryPage, DeliveryParams, Webhook, WebhookCreate, WebhookIdParam, WebhookListQuery, WebhookPage } from '../schedule-schemas.ts';
import { json } from './responses.ts';

const iso = (d: Date | null) => (d ? d.toISOString() : null);

const presentWebhook = (w: WebhookRow, full: boolean) => ({ id: w.id, tenant: w.tenant, url: full ? w.url : originOnly(w.url), events: w.events, created_at: w.createdAt.toISOString() });

/**
 * A webhook's URL as a key that cannot manage webhooks (a viewer) sees it: its origin only. Many
 * receivers (Slack, Teams, Discord, Zapier) take the URL's path or query as their credential:
 * whoever has it can post to the channel.
 */
function originOnly(url: string): string {
  try {
    const u = new URL(url);
    return u.pathname === '/' && !u.search ? `${u.origin}/` : `${u.origin}/*****`;
  } catch {
    return '*****';
  }
}

/** Whether the request's key may manage webhooks (and so sees their URLs whole). */
const managesWebhooks = (c: Context) => allows((c.get('principal') ?? OPEN_MODE).role, 'webhooks:manage');

const presentDelivery = (d: DeliveryRow) => ({
  id: d.id,
  webhook_id: d.webhookId,
  event_id: d.eventId,
  event_type: d.eventType,
  status: d.status,
  attempts: d.attempts,
  response_code: d.responseCode,
  last_error: d.lastError,
  redelivery: d.redelivery,
  created_at: d.createdAt.toISOString(),
  last_attempt_at: iso(d.lastAttemptAt),
  next_attempt_at: d.status === 'pending' ? d.nextAttemptAt.toISOString() : null,
  delivered_at: iso(d.deliveredAt),
});

const notFound = json(ErrorDetail, 'No webhook with this id');

export function webhookRoutes(control: Control) {
  const app = new OpenAPIHono();
  const { webhooks } = control;

  const create = createRoute({
    method: 'post',
    path: '/webhooks',
    tags: ['webhooks'],
    summary: "Subscribe a URL to the key's tenant's events; each is POSTed signed with the secret",
    request: { body: { content: { 'application/json': { schema: WebhookCreate } }, required: true } },
    responses: { 201: json(Webhook, 'The webhook (never its secret)'), 503: json(ErrorDetail, 'JARVIS_SECRET_KEY is not set') },
  });
  app.openapi(create, async (c) => {
    const w = await webhooks.create(c.req.valid('json'), actorOf(c));
    c.set('auditTarget', w.id);
    return c.json(presentWebhook(w, true), 201);
  });

  const list = createRoute({
    method: 'get',
    path: '/webhooks',
    tags: ['webhooks'],
    summary: 'List webhooks, newest first',
    request: { query: WebhookListQuery },
    responses: { 200: json(WebhookPage, 'A page of webhooks') },
  });
  app.openapi(list, async (c) => {
    const { tenant, ...q } = c.req.valid('query');
    const page = await webhooks.list(q, actorOf(c, tenant));
    return c.json({ items: page.items.map((w) => presentWebhook(w, managesWebhooks(c))), total: page.total, limit: q.limit, offset: q.offset }, 200);
  });

  const get = createRoute({
    method: 'get',
    path: '/webhooks/{id}',
    tags: ['webhooks'],
    summary: 'Get a webhook',
    request: { params: WebhookIdParam },
    responses: { 200: json(Webhook, 'The webhook'), 404: notFound },
  });
  app.openapi(get, async (c) => c.json(presentWebhook(await webhooks.get(c.req.valid('param').id, actorOf(c)), managesWebhooks(c)), 200));

  const remove = createRoute({
    method: 'delete',
    path: '/webhooks/{id}',
    tags: ['webhooks'],
    summary: 'Delete a webhook and its delivery log',
    request: { params: WebhookIdParam },
    responses: { 204: { description: 'Deleted' }, 404: notFound },
  });
  app.openapi(remove, async (c) => {
    await webhooks.delete(c.req.valid('param').id, actorOf(c));
    return c.body(null, 204);
  });

  const deliveries = createRoute({
    method: 'get',
    path: '/webhooks/{id}/deliveries',
    tags: ['webhooks'],
    summary: 'The delivery log, newest first: status, response code, attempts, last error',
    request: { params: WebhookIdParam, query: DeliveryListQuery },
    responses: { 200: json(DeliveryPage, 'A page of deliveries'), 404: notFound },
  });
  app.openapi(deliveries, async (c) => {
    const q = c.req.valid('query');
    const page = await webhooks.deliveries(c.req.valid('param').id, q, actorOf(c));
    return c.json({ items: page.items.map(presentDelivery), total: page.total, limit: q.limit, offset: q.offset }, 200);
  });

  const redeliver = createRoute({
    method: 'post',
    path: '/webhooks/{id}/deliveries/{delivery_id}/redeliver',
    tags: ['webhooks'],
    summary: 'Send a delivered or failed event again: a new delivery id, the same event id and body',
    request: { params: DeliveryParams },
    responses: { 201: json(Delivery, 'The new delivery, pending'), 404: json(ErrorDetail, 'No such webhook or delivery') },
  });
  app.openapi(redeliver, async (c) => {
    const { id, delivery_id } = c.req.valid('param');
    const d = await webhooks.redeliver(id, delivery_id, actorOf(c));
    c.set('auditTarget', d.id);
    return c.json(presentDelivery(d), 201);
  });

  return app;
}
