// The web dashboard at /ui: server-rendered pages (Hono JSX) over Jarvis's own JSON API, called
// in-process with the signed-in session's key, plus one small script for live updates. Pages and actions
// live one per file in pages/; this file wires sign-in, CSRF and the routes.
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import type { Logger } from 'pino';
import type { Authenticator } from '../auth/authenticator.ts';
import type { SignedIn, SignedOut } from './pages/login.tsx';
import type { DashboardSessions } from './session-store.ts';
import type { ApiRequest } from './api-client.ts';
import { forbidden, unexpectedErrorPage } from './error-page.tsx';
import { csrfGuard, csrfToken, forgetOldKeyCookie } from './session.ts';
import { requireViewer, type Refusals } from './require-viewer.ts';
import { LIVE_SCRIPT } from './client-script.ts';
import { loginRoutes } from './pages/login.tsx';
import { actionRoutes } from './pages/actions.ts';
import { overviewPage } from './pages/overview.tsx';
import { tasksPage } from './pages/tasks.tsx';
import { taskPage, taskLogStream } from './pages/task.tsx';
import { nodesPage } from './pages/nodes.tsx';
import { workflowsPage } from './pages/workflows.tsx';
import { workflowPage } from './pages/workflow.tsx';

export interface DashboardDeps {
  /** Answers API requests in-process: `app.request`, with the browser's address as the call's binding. */
  request: ApiRequest;
  /** The browser's address, as the API's audit records name it. */
  clientAddress: (c: Context) => string | null;
  authenticator: Authenticator;
  /** The sign-ins' sessions (in Redis, shared by every API process). */
  sessions: DashboardSessions;
  /** Records a sign-in (its key, or null when refused) in the audit log. */
  signedIn?: SignedIn;
  /** Records a sign-out (who held the session it ended). */
  signedOut?: SignedOut;
  /** Refused keys per client address (auth.refusals_per_s), as the API counts them. */
  refusals?: Refusals;
  /** server.insecure: open mode answers any Host name (else only loopback names, as the API). */
  openModeAnyHost?: boolean;
  /** Where the dashboard's unexpected errors go (with the request id the page shows). */
  logger: Logger;
}

/** What the API's fetch hands the dashboard's (c.env): its request id, for the log and audit records. */
export interface DashboardBindings {
  requestId?: string;
}


/** The most bytes a dashboard form (sign-in, an action's button) may send. */
export const FORM_LIMIT_BYTES = 16 * 1024;

export function dashboard(deps: DashboardDeps) {
  const ui = new Hono();
  // The API's request id, so that this request's log lines and audit records carry it.
  ui.use('*', async (c, next) => {
    const id = (c.env as DashboardBindings | undefined)?.requestId;
    if (id) c.set('requestId', id);
    await next();
  });
  ui.get('/static/live.js', (c) => c.body(LIVE_SCRIPT, 200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-cache' }));
  ui.use('*', async (c, next) => {
    await next();
    // Pages show a tenant's data: none is kept by the browser or a proxy, so after Sign out the
    // Back button (or the back/forward cache) cannot show it again. Only the script may be cached.
    if (!c.req.path.startsWith('/ui/static/')) c.header('cache-control', 'no-store');
    c.header('x-frame-options', 'DENY');
    c.header('referrer-policy', 'same-origin');
    c.header('x-content-type-options', 'nosniff');
    // The only script is /ui/static/live.js; styles are inline (the page's own sheet and style attributes).
    c.header('content-security-policy', "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'");
  });
  // A form is a few fields: anything bigger is refused before it is read (and before sign-in).
  ui.post('*', bodyLimit({ maxSize: FORM_LIMIT_BYTES, onError: (c) => c.text(`Form too large: a dashboard form is at most ${FORM_LIMIT_BYTES} bytes`, 413) }));
  ui.use('*', forgetOldKeyCookie);
  ui.use('*', csrfToken);
  ui.use('*', csrfGuard(forbidden));
  ui.route('/', loginRoutes(deps));
  ui.use('*', requireViewer(deps));
  ui.route('/', actionRoutes());
  ui.get('/', overviewPage);
  ui.get('/tasks', tasksPage);
  ui.get('/tasks/:id', taskPage);
  ui.get('/tasks/:id/logs/stream', taskLogStream);
  ui.get('/nodes', nodesPage);
  ui.get('/workflows', workflowsPage);
  ui.get('/workflows/:id', workflowPage);
  // Not Hono's default (a bare "Internal Server Error", the stack on stderr): the log line, then a page.
  ui.onError((err, c) => {
    if (err instanceof HTTPException) return err.getResponse();
    const requestId = c.get('requestId') ?? null;
    deps.logger.error({ err, request_id: requestId, method: c.req.method, path: c.req.path }, 'dashboard: unexpected error');
    return unexpectedErrorPage(c, requestId);
  });
  return ui;
}
