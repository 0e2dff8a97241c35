// Who is looking at the dashboard, found on every request past the sign-in: open mode, or the
// session in the cookie (session-store.ts) and its key, checked again each time (a revoked key
// ends its sessions). What it finds is the Viewer (session.ts) that pages read.
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import type { Authenticator } from '../auth/authenticator.ts';
import { isLoopbackHost, OPEN_MODE_HOST_REFUSED } from '../auth/principal.ts';
import { ApiClient, type ApiRequest } from './api-client.ts';
import { forbidden as forbiddenPage, heldOffPage } from './error-page.tsx';
import { clearSessionCookie, SESSION_COOKIE } from './session.ts';
import type { DashboardSessions } from './session-store.ts';

export interface Refusals {
  /** Milliseconds this request's address is held off from showing a key (0: it may). */
  heldOff(c: Context): number;
  /** Counts a key refused from this request's address. */
  refused(c: Context): Promise<void>;
}

export interface ViewerDeps {
  authenticator: Authenticator;
  request: ApiRequest;
  sessions: DashboardSessions;
  /** The browser's address, handed to the API's in-process calls for their audit records. */
  clientAddress: (c: Context) => string | null;
  refusals?: Refusals;
  /** server.insecure: open mode answers any Host name (else only loopback names, as the API). */
  openModeAnyHost?: boolean;
}

/**
 * Finds the viewer: open mode, or the session in the cookie and its key. Without a session, a
 * page goes to the sign-in form (and comes back afterwards); a session whose key is no longer
 * accepted (revoked) ends.
 */
export function requireViewer(deps: ViewerDeps): MiddlewareHandler {
  const { authenticator, sessions, refusals } = deps;
  return async (c, next) => {
    const open = await authenticator.isOpen();
    if (open && !deps.openModeAnyHost && !isLoopbackHost(c.req.header('host'))) return forbiddenPage(c, OPEN_MODE_HOST_REFUSED);
    const toSignIn = (why: 'ended' | 'expired' | null) => {
      const back = c.req.method === 'GET' ? new URL(c.req.url).pathname + new URL(c.req.url).search : '/ui';
      return c.redirect(`/ui/login?next=${encodeURIComponent(back)}${why ? `&${why}=1` : ''}`, 303);
    };
    const sessionId = open ? undefined : getCookie(c, SESSION_COOKIE);
    const session = sessionId ? await sessions.read(sessionId) : null;
    if (!open && !session) {
      // Signed out, unused too long, past its maximum age, or never made: a session id is no
      // guess at a secret anyone chose (32 random bytes), so it is not counted as a refusal.
      if (sessionId === undefined) return toSignIn(null);
      clearSessionCookie(c);
      return toSignIn('ended');
    }
    const key = session?.apiKey ?? null;
    // A held-off address's session goes on only when its key is a generated key and is right,
    // as the API calls the page makes for that address would be held off otherwise.
    const wait = key ? (refusals?.heldOff(c) ?? 0) : 0;
    const auth = wait ? await authenticator.authenticateHeldOff(key) : await authenticator.authenticate(key);
    if (wait && !auth.ok) return heldOffPage(c, wait);
    if (!auth.ok) {
      // Its key was revoked since the sign-in: the session ends with it.
      if (sessionId) await sessions.end(sessionId);
      clearSessionCookie(c);
      return toSignIn('expired');
    }
    const api = new ApiClient(deps.request, key, deps.clientAddress(c));
    const sessionEnded = sessionId ? async () => !(await sessions.isOpen(sessionId)) : async () => false;
    c.set('viewer', { principal: auth.principal, open, api, csrfToken: c.get('csrfToken'), sessionEnded });
    await next();
  };
}
