// Sign-in and sign-out. The key is checked with the API's own authenticator; a good one starts a
// session (session-store.ts), whose random id alone goes to the browser, in an HttpOnly,
// SameSite=Strict cookie. Sign out ends the session on the server. In open mode there is nothing
// to sign in to.
import { Hono, type Context } from 'hono';
import { getCookie } from 'hono/cookie';
import type { Authenticator } from '../../auth/authenticator.ts';
import type { Principal } from '../../auth/principal.ts';
import { bearerToken } from '../../auth/keys.ts';
import { Layout } from '../layout.tsx';
import { clearSessionCookie, CSRF_FIELD, safeNext, SESSION_COOKIE, setSessionCookie } from '../session.ts';
import type { DashboardSessions, SessionOwner } from '../session-store.ts';
import type { Refusals } from '../require-viewer.ts';
import { heldOffPage } from '../error-page.tsx';

function LoginForm(p: { csrf: string; next: string; error?: string; open: boolean }) {
  return (
    <Layout title="Sign in" viewer={null} section="login">
      <h1>Sign in to Jarvis</h1>
      {p.open ? (
        <p role="status">
          This Jarvis runs in open mode (no API key exists and it listens on loopback): no sign-in is needed.{' '}
          <a href={p.next}>Open the dashboard</a>
        </p>
      ) : (
        <form method="post" action="/ui/login" class="filters" style="flex-direction:column;align-items:start;max-width:480px">
          {p.error && (
            <p class="flash error" role="alert">
              {p.error}
            </p>
          )}
          <input type="hidden" name={CSRF_FIELD} value={p.csrf} />
          <input type="hidden" name="next" value={p.next} />
          <label for="key">API key</label>
          <input id="key" name="key" type="password" autocomplete="current-password" required style="width:100%" placeholder="jvk_…" />
          <button type="submit">Sign in</button>
          <small>An admin creates keys with <code>jarvis keys create</code>. The key stays on the server; this browser keeps only a session cookie, until you sign out.</small>
        </form>
      )}
    </Layout>
  );
}

/** Told of each sign-in: the key's holder, or null for a refused key; and the answer's status. */
export type SignedIn = (c: Context, who: Principal | null, status: number) => void;
/** Told of each sign-out that ended a session: who held it. */
export type SignedOut = (c: Context, who: SessionOwner) => void;

export interface LoginDeps {
  authenticator: Authenticator;
  sessions: DashboardSessions;
  signedIn?: SignedIn;
  signedOut?: SignedOut;
  refusals?: Refusals;
}

export function loginRoutes({ authenticator, sessions, signedIn = () => undefined, signedOut = () => undefined, refusals }: LoginDeps) {
  const app = new Hono();
  app.get('/login', async (c) => {
    const next = safeNext(c.req.query('next'));
    const error = c.req.query('expired')
      ? 'Your key is no longer accepted (revoked or unknown). Sign in again.'
      : c.req.query('ended')
        ? 'Your session has ended (signed out, unused for too long, or past its maximum age). Sign in again.'
        : undefined;
    return c.html(<LoginForm csrf={c.get('csrfToken')} next={next} error={error} open={await authenticator.isOpen()} />);
  });
  app.post('/login', async (c) => {
    const form = await c.req.parseBody();
    const next = safeNext(typeof form.next === 'string' ? form.next : undefined);
    const key = typeof form.key === 'string' ? form.key.trim() : '';
    const valid = bearerToken(`Bearer ${key}`) !== null;
    // A held-off address's key is let through only when it is a generated key and is right.
    const wait = key ? (refusals?.heldOff(c) ?? 0) : 0;
    const open = await authenticator.isOpen();
    const auth = !valid || open ? { ok: false as const } : wait ? await authenticator.authenticateHeldOff(key) : await authenticator.authenticate(key);
    if (wait && !auth.ok) {
      signedIn(c, null, 429);
      return heldOffPage(c, wait);
    }
    if (!auth.ok) {
      signedIn(c, null, 401);
      if (key) await refusals?.refused(c);
      c.status(401);
      return c.html(
        <LoginForm csrf={c.get('csrfToken')} next={next} open={false} error="That API key is not accepted: check it was copied whole and is not revoked." />,
      );
    }
    // A new id at every sign-in (a session id set before it is never the signed-in one); the
    // browser's session before, if any, ends.
    const before = getCookie(c, SESSION_COOKIE);
    if (before) await sessions.end(before);
    const p = auth.principal;
    const id = await sessions.open(key, { keyId: p.keyId, name: p.name, tenant: p.tenant, role: p.role });
    setSessionCookie(c, id, sessions.maxAgeSeconds);
    signedIn(c, p, 303);
    return c.redirect(next, 303);
  });
  app.post('/logout', async (c) => {
    const id = getCookie(c, SESSION_COOKIE);
    const who = id ? await sessions.end(id) : null;
    clearSessionCookie(c);
    if (who) signedOut(c, who);
    return c.redirect('/ui/login', 303);
  });
  return app;
}
