// The dashboard's sign-in as a browser makes it, with fetch: the CSRF cookie from the form, then
// the form posted with the key. For tests that need a signed-in dashboard without a browser, and
// for looking at every answer of the flow.

/** The cookies a response sets, as `name=value` (attributes dropped). */
export function setCookies(res: Response): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of res.headers.getSetCookie()) {
    const [pair] = line.split(';');
    const at = pair.indexOf('=');
    out[pair.slice(0, at).trim()] = pair.slice(at + 1).trim();
  }
  return out;
}

export const cookieHeader = (cookies: Record<string, string>) =>
  Object.entries(cookies)
    .filter(([, v]) => v !== '')
    .map(([k, v]) => `${k}=${v}`)
    .join('; ');

export interface DashboardSignIn {
  /** The Cookie header the signed-in browser sends (CSRF and session cookies). */
  cookie: string;
  cookies: Record<string, string>;
  csrf: string;
  /** The sign-in form (GET) and the sign-in (POST), with their bodies read. */
  answers: Array<{ res: Response; body: string }>;
}

/** Opens the sign-in form and signs in with `key`; throws unless the sign-in is a 303. */
export async function signInWithFetch(base: string, key: string, next = '/ui', headers: Record<string, string> = {}): Promise<DashboardSignIn> {
  const form = await fetch(`${base}/ui/login?next=${encodeURIComponent(next)}`, { headers, redirect: 'manual' });
  const answers = [{ res: form, body: await form.text() }];
  const cookies = setCookies(form);
  const csrf = cookies.jarvis_ui_csrf;
  const res = await fetch(`${base}/ui/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { ...headers, origin: base, cookie: cookieHeader(cookies) },
    body: new URLSearchParams({ key, _csrf: csrf, next }),
  });
  answers.push({ res, body: await res.text() });
  if (res.status !== 303) throw new Error(`the dashboard's sign-in answered ${res.status}: ${answers[1].body.slice(0, 300)}`);
  Object.assign(cookies, setCookies(res));
  return { cookie: cookieHeader(cookies), cookies, csrf, answers };
}
