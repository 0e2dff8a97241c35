// Builds the HTTP application: FastAPI-compatible errors and docs, a request id on every
// request and log line, request metrics by route template, the routes, and the queue board.
import { documentedAnswers } from './auth/documented-answers.ts';
import { OpenAPIHono } from '@hono/zod-openapi';
import { requestId } from 'hono/request-id';
import { matchedRoutes } from 'hono/route';
import { Hono, type Context } from 'hono';
import { createControl } from '../control/index.ts';
import type { ApiDeps } from './deps.ts';
import { installFastApi, validationHook } from './fastapi/index.ts';
import { fastApiErrorHandler } from './fastapi/error-handler.ts';
import { toHttpError } from './domain-errors.ts';
import { nodeRoutes } from './routes/nodes.ts';
import { operationsRoutes } from './routes/operations.ts';
import { taskRoutes } from './routes/tasks.ts';
import { overviewRoutes } from './routes/overview.ts';
import { workflowRoutes } from './routes/workflows.ts';
import { keyRoutes } from './routes/keys.ts';
import { auditRoutes } from './routes/audit.ts';
import { secretRoutes } from './routes/secrets.ts';
import { scheduleRoutes } from './routes/schedules.ts';
import { webhookRoutes } from './routes/webhooks.ts';
import { tenantRoutes } from './routes/tenants.ts';
import { authMiddleware, clientAddress, dashboardCall } from './auth/middleware.ts';
import { RefusalGuard } from '../auth/refusal-guard.ts';
import { LogFollows } from './auth/log-follows.ts';
import type { Role } from '../auth/keys.ts';

export const BOARD_PATH = '/admin/queues';

export function createApp(deps: ApiDeps) {
  const app = new OpenAPIHono({ defaultHook: validationHook });
  const { logger, metrics } = deps;
  const { max_body_bytes, max_workflow_body_bytes } = deps.config.server;
  // A workflow or a batch (up to 1,000 tasks) may be big; a single task is not.
  const bodyLimit = (path: string) => (path === '/workflows' || path === '/tasks/batch' ? max_workflow_body_bytes : max_body_bytes);
  const refusals = new RefusalGuard(deps.rateLimiter, { perSecond: deps.config.auth.refusals_per_s, burst: deps.config.auth.refusals_burst });
  const auth = authMiddleware({
    authenticator: deps.authenticator,
    rateLimiter: deps.rateLimiter,
    refusals,
    audit: deps.audit,
    logger,
    defaultRatePerS: deps.config.auth.default_rate_per_s,
    publicMetrics: deps.config.auth.public_metrics,
    publicDocs: deps.config.auth.public_docs,
    openModeAnyHost: deps.config.server.insecure,
    boardPath: BOARD_PATH,
    localNodeToken: deps.localRegistrationToken ?? null,
  });
  app.use('*', requestId());
  app.use('*', async (c, next) => {
    const start = process.hrtime.bigint();
    await next();
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const route = routeLabel(c);
    metrics.httpDuration.observe({ method: c.req.method, route, status: String(c.res.status) }, seconds);
    if (!c.req.path.startsWith(BOARD_PATH) && c.req.path !== '/metrics' && c.req.path !== '/health') {
      // Heartbeats that went well are routine (a thousand nodes send 200 a second), and so are
      // requests refused for their rate (a flood would otherwise write a line each; the audit log
      // records every one): debug level.
      const routine = (c.req.method === 'POST' && c.req.path.endsWith('/heartbeat') && c.res.status === 200) || c.res.status === 429;
      logger[routine ? 'debug' : 'info'](
        { request_id: c.get('requestId'), method: c.req.method, path: c.req.path, status: c.res.status, ms: Math.round(seconds * 1e4) / 10 },
        'request',
      );
    }
  });

  // The key is checked before the body is read (by installFastApi's middleware, next): a request
  // without a key is 401 whatever its body, and a large body costs nothing before it.
  app.use('*', auth);
  installFastApi(app, { logger, title: 'Jarvis', version: '0.1.0', bodyLimit, extraResponses: documentedAnswers(deps.config.auth.public_metrics) });

  const control = createControl(deps);
  // Log streams open at once, per key and in this process, and their keys looked at while open.
  const follows = new LogFollows({
    authenticator: deps.authenticator,
    perKey: deps.config.server.max_log_follows_per_key,
    inAll: deps.config.server.max_log_follows,
    metrics,
    logger,
  });
  const routes = [taskRoutes(control, follows), overviewRoutes(control), workflowRoutes(control), nodeRoutes(control, deps.authenticator), operationsRoutes(deps), keyRoutes(control), auditRoutes(control), secretRoutes(control), tenantRoutes(control), scheduleRoutes(control), webhookRoutes(control)];
  for (const r of routes) app.route('/', r);

  // The queue board (and its UI's modules, ~10 MB) is loaded on its first request, not at start.
  let boardApp: Promise<Hono> | null = null;
  const loadBoard = () =>
    (boardApp ??= (async () => {
      const [{ createBullBoard }, { BullMQAdapter }, { HonoAdapter }, { serveStatic }] = await Promise.all([
        import('@bull-board/api'),
        import('@bull-board/api/bullMQAdapter'),
        import('@bull-board/hono'),
        import('@hono/node-server/serve-static'),
      ]);
      const board = new HonoAdapter(serveStatic);
      const shown = createBullBoard({ queues: [], serverAdapter: board, options: { uiConfig: { boardTitle: 'Jarvis queues' } } });
      const adapters = new Map<string, InstanceType<typeof BullMQAdapter>>();
      const sub = new Hono();
      // Tenants' pending queues appear as tenants submit: the board's list is refreshed per request.
      sub.use(`${BOARD_PATH}/*`, async (_c, next) => {
        const queues = await deps.queues().catch(() => []);
        // Read-only: the queues are Jarvis's working copy of what PostgreSQL holds. A job added,
        // retried or removed by hand there is one the control plane never decided, and a job
        // added to task-events is a forged result (an operator could have set any tenant's task
        // outcome and outputs that way): bull-board answers every such call with 405.
        for (const q of queues) if (!adapters.has(q.name)) adapters.set(q.name, new BullMQAdapter(q, { readOnlyMode: true }));
        shown.replaceQueues(queues.map((q) => adapters.get(q.name)!));
        await next();
      });
      board.setBasePath(BOARD_PATH);
      sub.route(BOARD_PATH, board.registerPlugin());
      return sub;
    })().catch((err) => {
      boardApp = null;
      throw err;
    }));
  const toBoard = async (c: Context) => (await loadBoard()).fetch(c.req.raw, c.env);
  app.all(BOARD_PATH, toBoard);
  app.all(`${BOARD_PATH}/*`, toBoard);

  // The web dashboard too: its pages and JSX runtime load on its first request.
  let uiApp: Promise<Hono> | null = null;
  const loadUi = () =>
    (uiApp ??= Promise.all([import('../ui/dashboard.tsx'), import('../ui/session-store.ts')]).then(
      ([{ dashboard }, { DashboardSessions }]) => {
        const { session_idle_seconds, session_max_seconds } = deps.config.dashboard;
        // In this control plane's Redis, so that every API process (--processes N) knows every session.
        const sessions = new DashboardSessions(deps.redis, deps.names.uiSession, { idleMs: session_idle_seconds * 1000, maxMs: session_max_seconds * 1000 });
        /** Sign-ins (refused keys above all) and sign-outs are audited as the API's requests are, and logged (never a key or session id). */
        const signs = (c: Context, action: 'ui.sign_in' | 'ui.sign_out', who: { keyId: string | null; name: string; tenant: string; role: Role } | null, status: number) => {
          const client = clientAddress(c);
          const requestId = c.get('requestId') ?? null;
          deps.audit.record({
            at: new Date(), keyId: who?.keyId ?? null, keyName: who?.name ?? null, tenant: who?.tenant ?? null, role: who?.role ?? null,
            action, target: null, status, client, requestId,
          });
          logger.info(
            { action, status, key_id: who?.keyId ?? null, key_name: who?.name ?? null, tenant: who?.tenant ?? null, role: who?.role ?? null, client, request_id: requestId },
            action === 'ui.sign_in' ? (who ? 'dashboard: signed in' : 'dashboard: sign-in refused') : 'dashboard: signed out',
          );
        };
        return new Hono().route(
          '/ui',
          dashboard({
            // The browser's address goes with each call as a binding (never a header a client could send).
            request: (path, init, client) => app.request(path, init, dashboardCall(client)),
            clientAddress,
            authenticator: deps.authenticator,
            sessions,
            openModeAnyHost: deps.config.server.insecure,
            logger,
            refusals: { heldOff: (c) => refusals.heldOff(clientAddress(c)), refused: (c) => refusals.refused(clientAddress(c)) },
            signedIn: (c, who, status) => signs(c, 'ui.sign_in', who, status),
            signedOut: (c, who) => signs(c, 'ui.sign_out', who, 303),
          }),
        );
      },
      (err) => {
        uiApp = null;
        throw err;
      },
    ));
  const toUi = async (c: Context) => (await loadUi()).fetch(c.req.raw, { ...c.env, requestId: c.get('requestId') });
  app.all('/ui', toUi);
  app.all('/ui/*', toUi);

  // Domain errors (src/domain/errors.ts) become their HTTP answers, then FastAPI's shapes.
  const answer = fastApiErrorHandler(logger);
  app.onError((err, c) => answer(toHttpError(err), c));
  return app;
}

/**
 * The route template a request reached, for the metrics' route label. Hono's routePath is the
 * handler that ran last: for an answer thrown by a middleware (401, 403, 429 of the key check,
 * 413 of the body reader) that is the middleware's `*`, so the route is taken from what the path
 * matched instead. `unmatched`: no route has this path.
 */
function routeLabel(c: Context): string {
  const path = c.req.routePath;
  if (path && path !== '*' && path !== '/*') return path;
  const routes = matchedRoutes(c).filter((r) => r.method !== 'ALL');
  return routes[routes.length - 1]?.path ?? 'unmatched';
}
