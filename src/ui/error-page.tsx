// Pages for what went wrong: a refused form (403) and an API answer the viewer can meet (404,
// 403, 422) in words; anything else is a 502 naming the API's reason; an error of the dashboard
// itself is a 500 naming the request id its log line carries.
import type { Context } from 'hono';
import { Layout } from './layout.tsx';
import { retryAfterSeconds } from '../auth/rate-limit.ts';
import { heldOffDetail } from '../auth/refusal-guard.ts';

export function forbidden(c: Context, why: string) {
  c.status(403);
  return c.html(
    <Layout title="Refused" viewer={null}>
      <h1>403 — refused</h1>
      <p role="alert">{why}</p>
      <p>
        <a href="/ui">Back to the dashboard</a>
      </p>
    </Layout>,
  );
}

/** 429: the address has had too many keys refused (auth.refusals_per_s) and waits `ms` more. */
export function heldOffPage(c: Context, ms: number) {
  c.status(429);
  c.header('Retry-After', String(retryAfterSeconds(ms)));
  return c.html(
    <Layout title="Too many refused keys" viewer={null}>
      <h1>429 — too many refused keys</h1>
      <p role="alert">{heldOffDetail(ms)}</p>
    </Layout>,
  );
}

export function apiErrorPage(c: Context, status: number, text: string) {
  c.status(status === 404 || status === 403 || status === 422 ? status : 502);
  const title = status === 404 ? 'Not found' : status === 403 ? 'Not allowed' : 'Could not load this page';
  return c.html(
    <Layout title={title} viewer={c.get('viewer')}>
      <h1>{title}</h1>
      <p role="alert">{text}</p>
    </Layout>,
  );
}

/** 500: something the dashboard did not expect (logged with the request id shown here). */
export function unexpectedErrorPage(c: Context, requestId: string | null) {
  c.status(500);
  return c.html(
    <Layout title="Something went wrong" viewer={null}>
      <h1>500 — something went wrong</h1>
      <p role="alert">
        The dashboard could not answer this request. It is in the server's log{requestId ? ` (request ${requestId})` : ''}; try again, and if it
        persists tell your operator.
      </p>
      <p>
        <a href="/ui">Back to the dashboard</a>
      </p>
    </Layout>,
  );
}
