// Who is looking at the dashboard. The API key lives in an HttpOnly, SameSite=Strict cookie
// (Secure over HTTPS) and is checked on every request; in open mode (no key exists, loopback)
// nobody signs in. Every POST must pass two CSRF checks: hono/csrf (Origin / Sec-Fetch-Site is
// this server) and a double-submit token (the form's `_csrf` equals the CSRF cookie).
import { createHmac, randomBytes } from 'node:crypto';
import { sameSecret } from '../auth/keys.ts';
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie, setCookie, deleteCookie } from 'hono/cookie';
import { csrf } from 'hono/csrf';
import type { Authenticator } from '../auth/authenticator.ts';
import type { Principal } from '../auth/principal.ts';
import { ApiClient, type ApiRequest } from './api-client.ts';
import type { Refusals } from './dashboard.tsx';
import { forbidden as forbiddenPage, heldOffPage } from './error-page.tsx';
import { isLoopbackHost, OPEN_MODE_HOST_REFUSED } from '../auth/principal.ts';

export const KEY_COOKIE = 'jarvis_ui_key';
export const CSRF_COOKIE = 'jarvis_ui_csrf';
export const CSRF_FIELD = '_csrf';
const COOKIE_PATH = '/ui';

export interface Viewer {
  principal: Principal;
  /** True when no sign-in is needed (open mode). */
  open: boolean;
  api: ApiClient;
  csrfToken: string;
}

declare module 'hono' {
  interface ContextVariableMap {
    viewer: Viewer;
    csrfToken: string;
  }
}

function isHttps(c: Context): boolean {
  return new URL(c.req.url).protocol === 'https:' || c.req.header('x-forwarded-proto') === 'https';
}

function cookieOptions(c: Context) {
  return { path: COOKIE_PATH, httpOnly: true, sameSite: 'Strict' as const, secure: isHttps(c) };
}

export function setKeyCookie(c: Context, key: string): void {
  setCookie(c, KEY_COOKIE, key, cookieOptions(c));
}

export function clearKeyCookie(c: Context): void {
  deleteCookie(c, KEY_COOKIE, cookieOptions(c));
}

/** Gives every visitor a CSRF token (cookie) to echo in its forms. */
export const csrfToken: MiddlewareHandler = async (c, next) => {
  let token = getCookie(c, CSRF_COOKIE);
  if (!token || !/^[A-Za-z0-9_-]{43}$/.test(token)) {
    token = randomBytes(32).toString('base64url');
    setCookie(c, CSRF_COOKIE, token, cookieOptions(c));
  }
  c.set('csrfToken', token);
  await next();
};


const originCheck = csrf();

/**
 * Refuses a POST (403) unless it comes from this server's own pages: the Origin check of
 * hono/csrf, then the form's token against the cookie's.
 */
export function csrfGuard(forbidden: (c: Context, why: string) => Response | Promise<Response>): MiddlewareHandler {
  return async (c, next) => {
    if (c.req.method !== 'POST') return next();
    let originOk = true;
    await originCheck(c, async () => undefined).catch(() => {
      originOk = false;
    });
    if (!originOk) return forbidden(c, 'This form was not sent from this dashboard (its Origin is another site). Open the page again and retry.');
    const cookie = getCookie(c, CSRF_COOKIE);
    const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
    const sent = form[CSRF_FIELD];
    if (!cookie || typeof sent !== 'string' || !sameSecret(cookie, sent)) {
      return forbidden(c, 'The form had no valid CSRF token (it may be from an old page). Reload the page and try again.');
    }
    await next();
  };
}

export interface ViewerDeps {
  authenticator: Authenticator;
  request: ApiRequest;
  /** The browser's address, handed to the API's in-process calls for their audit records. */
  clientAddress: (c: Context) => string | null;
  refusals?: Refusals;
  /** server.insecure: open mode answers any Host name (else only loopback names, as the API). */
  openModeAnyHost?: boolean;
}

/**
 * Finds the viewer: open mode, or the key in the cookie. Without a valid key, a page goes to the
 * sign-in form (and comes back afterwards).
 */
export function requireViewer(deps: ViewerDeps): MiddlewareHandler {
  const { authenticator, refusals } = deps;
  return async (c, next) => {
    const open = await authenticator.isOpen();
    if (open && !deps.openModeAnyHost && !isLoopbackHost(c.req.header('host'))) return forbiddenPage(c, OPEN_MODE_HOST_REFUSED);
    const key = open ? null : (getCookie(c, KEY_COOKIE) ?? null);
    // A key in the cookie is a key shown: held off and counted as a sign-in's is.
    // A held-off address's key is let through only when it is a generated key and is right.
    const wait = key ? (refusals?.heldOff(c) ?? 0) : 0;
    const auth = wait ? await authenticator.authenticateHeldOff(key) : await authenticator.authenticate(key);
    if (wait && !auth.ok) return heldOffPage(c, wait);
    if (!auth.ok) {
      if (key) await refusals?.refused(c);
      if (key) clearKeyCookie(c);
      const back = c.req.method === 'GET' ? new URL(c.req.url).pathname + new URL(c.req.url).search : '/ui';
      return c.redirect(`/ui/login?next=${encodeURIComponent(back)}${key ? '&expired=1' : ''}`, 303);
    }
    const api = new ApiClient(deps.request, key, deps.clientAddress(c));
    c.set('viewer', { principal: auth.principal, open, api, csrfToken: c.get('csrfToken') });
    await next();
  };
}

/**
 * A `next` target that stays on the dashboard (no open redirect): read as the browser would
 * (`/ui/..//x` is `//x`, a backslash a slash), with no control character (a line break in a
 * Location header is refused by Headers.set: a 500 before session 33); else /ui.
 */
export function safeNext(next: string | undefined): string {
  // eslint-disable-next-line no-control-regex
  if (!next || /[\u0000-\u001f\u007f]/.test(next)) return '/ui';
  let url: URL;
  try {
    url = new URL(next, 'http://x');
  } catch {
    return '/ui';
  }
  const path = url.pathname + url.search;
  return url.origin === 'http://x' && /^\/ui(\/|$|\?)/.test(path) ? path : '/ui';
}

/**
 * The signature of an action's flash message, bound to the viewer's CSRF cookie: a link someone
 * else made (`/ui/tasks?error=Your key was revoked, sign in at evil.example`) shows nothing.
 */
export function flashSignature(csrfToken: string, key: 'ok' | 'error', text: string): string {
  return createHmac('sha256', csrfToken).update(`${key}\n${text}`).digest('base64url').slice(0, 22);
}
