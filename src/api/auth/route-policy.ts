// Every route's access rule, in one table: the permission it needs (src/auth/policy.ts says
// which roles have it) and the action name its audit records carry. A route missing here is
// refused to everyone (secure by default); test/auth.e2e.test.ts checks every route of
// /openapi.json against its table of who may call what.
import type { Permission } from '../../auth/policy.ts';

export type RouteRule =
  /** Anyone (health, docs); `/metrics` is public unless `auth.public_metrics` is false. */
  | { kind: 'public' }
  /**
   * A worker node, which proves itself with its registration or node token in the route;
   * `audit`: the action its answers are recorded under (registrations and secret fetches; not
   * heartbeats, which come every few seconds from every node). `guessable`: the credential may be
   * a token a person chose (the registration token), so its refusals count per client address
   * (auth.refusals_per_s); a node's own token is 24 random bytes, and holding a node's address off
   * its heartbeats would take the node offline.
   */
  | { kind: 'node'; audit?: string; guessable?: boolean }
  | { kind: 'key'; permission: Permission; action: string };

const key = (permission: Permission, action: string): RouteRule => ({ kind: 'key', permission, action });

/** Keyed by `METHOD path` with Hono's path syntax (`:id`). */
export const ROUTE_RULES: Record<string, RouteRule> = {
  'GET /health': { kind: 'public' },
  'GET /metrics': { kind: 'public' },
  'GET /openapi.json': { kind: 'public' },
  'GET /docs': { kind: 'public' },
  'GET /redoc': { kind: 'public' },

  'POST /tasks': key('tasks:submit', 'task.submit'),
  'POST /tasks/batch': key('tasks:submit', 'task.submit_batch'),
  'GET /tasks': key('tasks:read', 'task.list'),
  'GET /tasks/:id': key('tasks:read', 'task.read'),
  'GET /tasks/:id/events': key('tasks:read', 'task.events'),
  'GET /tasks/:id/logs': key('tasks:read', 'task.logs'),
  'POST /tasks/:id/cancel': key('tasks:cancel', 'task.cancel'),
  'POST /tasks/:id/retry': key('tasks:retry', 'task.retry'),
  'GET /overview': key('tasks:read', 'task.overview'),

  'POST /workflows': key('tasks:submit', 'workflow.submit'),
  'GET /workflows': key('tasks:read', 'workflow.list'),
  'GET /workflows/:id': key('tasks:read', 'workflow.read'),
  'POST /workflows/:id/cancel': key('tasks:cancel', 'workflow.cancel'),
  'POST /workflows/:id/retry': key('tasks:retry', 'workflow.retry'),

  'POST /nodes/register': { kind: 'node', audit: 'node.register', guessable: true },
  'POST /nodes/:id/heartbeat': { kind: 'node' },
  'GET /nodes/:id/attempts/:task_id': { kind: 'node' },
  'POST /nodes/:id/secrets': { kind: 'node', audit: 'node.secrets' },
  'GET /nodes': key('nodes:read', 'node.list'),
  'GET /nodes/:id': key('nodes:read', 'node.read'),
  'POST /nodes/:id/drain': key('nodes:manage', 'node.drain'),
  'POST /nodes/:id/resume': key('nodes:manage', 'node.resume'),
  'DELETE /nodes/:id': key('nodes:manage', 'node.delete'),

  'POST /auth/keys': key('keys:manage', 'key.create'),
  'GET /auth/keys': key('keys:manage', 'key.list'),
  'DELETE /auth/keys/:id': key('keys:manage', 'key.revoke'),

  'GET /audit': key('audit:read', 'audit.read'),

  'POST /secrets': key('secrets:manage', 'secret.put'),
  'GET /secrets': key('secrets:manage', 'secret.list'),
  'DELETE /secrets/:name': key('secrets:manage', 'secret.delete'),

  'GET /tenants': key('tenants:read', 'tenant.list'),
  'GET /tenants/:name': key('tenants:read', 'tenant.read'),
  'PUT /tenants/:name': key('tenants:manage', 'tenant.set'),

  'POST /schedules': key('tasks:submit', 'schedule.create'),
  'GET /schedules': key('tasks:read', 'schedule.list'),
  'GET /schedules/:id': key('tasks:read', 'schedule.read'),
  'PATCH /schedules/:id': key('tasks:submit', 'schedule.update'),
  'DELETE /schedules/:id': key('tasks:submit', 'schedule.delete'),
  'POST /schedules/:id/trigger': key('tasks:submit', 'schedule.trigger'),

  'POST /webhooks': key('webhooks:manage', 'webhook.create'),
  'GET /webhooks': key('tasks:read', 'webhook.list'),
  'GET /webhooks/:id': key('tasks:read', 'webhook.read'),
  'DELETE /webhooks/:id': key('webhooks:manage', 'webhook.delete'),
  'GET /webhooks/:id/deliveries': key('tasks:read', 'webhook.deliveries'),
  'POST /webhooks/:id/deliveries/:delivery_id/redeliver': key('webhooks:manage', 'webhook.redeliver'),
};

/**
 * The web dashboard (src/ui): public to this middleware because its pages sign the viewer in
 * themselves (a session) and reach the data only through these API routes, in-process, with the
 * session's key — so every rule above applies to them.
 */
export const UI_PATH = '/ui';
export const UI_RULE: RouteRule = { kind: 'public' };

export const BOARD_RULE: RouteRule = key('queues:board', 'board.view');

/** The API's description, when `auth.public_docs` is false: any key (it describes routes, no data). */
export const DOCS_PATHS: ReadonlySet<string> = new Set(['/openapi.json', '/docs', '/redoc']);
export const DOCS_RULE: RouteRule = key('tasks:read', 'docs.read');

/**
 * /metrics when `auth.public_metrics` is false: an operator or admin key. Not a viewer's or a
 * submitter's (any key until session 28): the metrics name every tenant with its usage and
 * backlog, and such a key learns nothing of other tenants' work.
 */
export const METRICS_RULE: RouteRule = key('metrics:read', 'metrics.read');
