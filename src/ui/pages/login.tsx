// Sign-in and sign-out. The key is checked with the API's own authenticator, then kept only in an
// HttpOnly, SameSite=Strict cookie. In open mode there is nothing to sign in to.
import { Hono, type Context } from 'hono';
import type { Authenticator } from '../../auth/authenticator.ts';
import type { Principal } from '../../auth/principal.ts';
import { bearerToken } from '../../auth/keys.ts';
import { Layout } from '../layout.tsx';
import { clearKeyCookie, CSRF_FIELD, safeNext, setKeyCookie } from '../session.ts';
import type { Refusals } from '../dashboard.tsx';
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
          <small>An admin creates keys with <code>jarvis keys create</code>. The key stays in an HttpOnly cookie of this site.</small>
        </form>
      )}
    </Layout>
  );
}

/** Told of each sign-in: the key's holder, or null for a refused key; and the answer's status. */
export type SignedIn = (c: Context, who: Principal | null, status: number) => void;

export function loginRoutes(authenticator: Authenticator, signedIn: SignedIn = () => undefined, refusals?: Refusals) {
  const app = new Hono();
  app.get('/login', async (c) => {
    const next = safeNext(c.req.query('next'));
    const error = c.req.query('expired') ? 'Your key is no longer accepted (revoked or unknown). Sign in again.' : undefined;
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
    signedIn(c, auth.ok ? auth.principal : null, auth.ok ? 303 : 401);
    if (!auth.ok) {
      if (key) await refusals?.refused(c);
      c.status(401);
      return c.html(
        <LoginForm csrf={c.get('csrfToken')} next={next} open={false} error="That API key is not accepted: check it was copied whole and is not revoked." />,
      );
    }
    setKeyCookie(c, key);
    return c.redirect(next, 303);
  });
  app.post('/logout', (c) => {
    clearKeyCookie(c);
    return c.redirect('/ui/login', 303);
  });
  return app;
}
