// The actions (cancel, retry, drain, resume; a workflow's cancel and retry) as POST forms. CSRF is checked before these run
// (session.ts); the API decides whether the viewer's role and tenant allow it, and its answer
// comes back as the flash message of the page the form was on.
import { Hono, type Context } from 'hono';
import { detailOf } from '../api-client.ts';
import { flashSignature, safeNext } from '../session.ts';

interface Action {
  /** The dashboard's path (Hono syntax), the API path it calls, and what success is called. */
  path: string;
  api: (id: string) => string;
  done: string;
}

const ACTIONS: Action[] = [
  { path: '/tasks/:id/cancel', api: (id) => `/tasks/${id}/cancel`, done: 'Task cancelled' },
  { path: '/tasks/:id/retry', api: (id) => `/tasks/${id}/retry`, done: 'Task queued again' },
  { path: '/workflows/:id/cancel', api: (id) => `/workflows/${id}/cancel`, done: 'Workflow cancelled' },
  { path: '/workflows/:id/retry', api: (id) => `/workflows/${id}/retry`, done: 'Workflow retried: its failed, timed-out, cancelled and skipped tasks are queued again' },
  { path: '/nodes/:id/drain', api: (id) => `/nodes/${id}/drain`, done: 'Node draining: it takes no new tasks' },
  { path: '/nodes/:id/resume', api: (id) => `/nodes/${id}/resume`, done: 'Node resumed: it takes tasks again' },
];

/** Back to the form's page with the answer as a signed flash; never off the dashboard (`/ui/..//x` resolves to `//x`). */
function withFlash(c: Context, back: string, key: 'ok' | 'error', text: string): string {
  const url = new URL(back, 'http://x');
  url.searchParams.delete('ok');
  url.searchParams.delete('error');
  url.searchParams.delete('sig');
  url.searchParams.set(key, text);
  url.searchParams.set('sig', flashSignature(c.get('csrfToken'), key, text));
  return safeNext(url.pathname + url.search);
}

export function actionRoutes() {
  const app = new Hono();
  for (const a of ACTIONS) {
    app.post(a.path, async (c: Context) => {
      const form = await c.req.parseBody();
      const back = safeNext(typeof form.back === 'string' ? form.back : undefined);
      const r = await c.get('viewer').api.post(a.api(encodeURIComponent(c.req.param('id') ?? '')));
      if (r.status >= 200 && r.status < 300) return c.redirect(withFlash(c, back, 'ok', a.done), 303);
      return c.redirect(withFlash(c, back, 'error', `Refused (${r.status}): ${detailOf(r.body)}`), 303);
    });
  }
  return app;
}
