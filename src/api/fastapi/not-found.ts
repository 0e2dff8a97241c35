// Starlette's answers for a request no route takes: 405 `{"detail":"Method Not Allowed"}` with
// `Allow` when the path exists for other methods, a 307 to the same path with(out) the trailing
// slash when that one exists (redirect_slashes), else 404 `{"detail":"Not Found"}`.
import type { Context, Hono } from 'hono';
import { TrieRouter } from 'hono/router/trie-router';

/** The `app.notFound` handler for `app`; it reads the routes registered by the time it runs. */
export function notFoundLikeStarlette(app: Pick<Hono, 'routes'>) {
  let router: TrieRouter<string> | undefined;
  let indexed = -1;
  const methodsAt = (path: string): string[] => {
    if (!router || indexed !== app.routes.length) {
      router = new TrieRouter<string>();
      // Middleware (`app.use`) is registered under ALL; it does not make a path exist.
      for (const r of app.routes) if (r.method !== 'ALL') router.add('ALL', r.path, r.method);
      indexed = app.routes.length;
    }
    // In registration order; Hono answers HEAD for every GET route, so it is listed after GET.
    const methods = new Set(router.match('GET', path)[0].flatMap(([method]) => (method === 'GET' ? ['GET', 'HEAD'] : [method])));
    return [...methods];
  };

  return (c: Context) => {
    const path = c.req.path;
    const allowed = methodsAt(path);
    if (allowed.length > 0) {
      return c.json({ detail: 'Method Not Allowed' }, 405, { Allow: allowed.join(', ') });
    }
    if (path !== '/') {
      const other = path.endsWith('/') ? path.slice(0, -1) : `${path}/`;
      if (methodsAt(other).length > 0) {
        const url = new URL(c.req.url);
        url.pathname = other;
        return c.redirect(url.toString(), 307);
      }
    }
    return c.json({ detail: 'Not Found' }, 404);
  };
}
