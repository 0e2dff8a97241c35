// The dashboard's cookies, CSRF checks and the Viewer pages read (require-viewer.ts finds it on
// each request). A sign-in is a session (session-store.ts): the browser holds
// only its random id, in an HttpOnly, SameSite=Strict cookie (Secure over HTTPS) that lives as
// long as the session may; the API key stays on the server, encrypted, and is checked on every
// request. In open mode (no key exists, loopback) nobody signs in. Every POST must pass two CSRF
// checks: hono/csrf (Origin / Sec-Fetch-Site is this server) and a double-submit token (the
// form's `_csrf` equals the CSRF cookie).
import { createHmac, randomBytes } from 'node:crypto';
import { sameSecret } from '../auth/keys.ts';
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie, setCookie, deleteCookie } from 'hono/cookie';
import { csrf } from 'hono/csrf';
import type { Principal } from '../auth/principal.ts';
import type { ApiClient } from './api-client.ts';

export const SESSION_COOKIE = 'jarvis_ui_session';
/** Where the API key itself was kept before session 33: deleted from any browser that still has it. */
export const OLD_KEY_COOKIE = 'jarvis_ui_key';
export const CSRF_COOKIE = 'jarvis_ui_csrf';
export const CSRF_FIELD = '_csrf';
const COOKIE_PATH = '/ui';

export interface Viewer {
  principal: Principal;
  /** True when no sign-in is needed (open mode). */
  open: boolean;
  api: ApiClient;
  csrfToken: string;
  /** Whether the viewer's session has ended since this request began (Sign out elsewhere, or it ran out); false in open mode. */
  sessionEnded: () => Promise<boolean>;
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

export function setSessionCookie(c: Context, sessionId: string, maxAgeSeconds: number): void {
  setCookie(c, SESSION_COOKIE, sessionId, { ...cookieOptions(c), maxAge: maxAgeSeconds });
}

export function clearSessionCookie(c: Context): void {
  deleteCookie(c, SESSION_COOKIE, cookieOptions(c));
}

/** Deletes a pre-session-33 cookie that holds an API key itself; nothing reads it any more. */
export const forgetOldKeyCookie: MiddlewareHandler = async (c, next) => {
  if (getCookie(c, OLD_KEY_COOKIE) !== undefined) deleteCookie(c, OLD_KEY_COOKIE, cookieOptions(c));
  await next();
};

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
