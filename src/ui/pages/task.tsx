// /ui/tasks/:id: every field, status_reason first, the events as a timeline, result and outputs
// (when the API gives them), and the log — the stored one, then (while the task runs) the API's SSE follower relayed to the page, which
// replays the log from its start so the view has no gap. Cancel and retry for roles that may.
import type { Context } from 'hono';
import { stream } from 'hono/streaming';
import { allows } from '../../auth/policy.ts';
import { detailOf } from '../api-client.ts';
import { apiErrorPage } from '../error-page.tsx';
import { ActionButton, ago, duration, flashOf, Layout, Status } from '../layout.tsx';
import { ENDED, RETRYABLE, type Task, type TaskEvent } from '../wire.ts';
import { taskName } from './tasks.tsx';

const show = (v: unknown) => (v === null || v === undefined ? '—' : typeof v === 'object' ? JSON.stringify(v) : String(v));

/** Fields the page shows in their own place, not in the list of fields. */
const SHOWN_APART = ['status_reason', 'env', 'outputs', 'result'];

/**
 * What the task produced: `result` and `outputs`, when the API's JSON carries them (absent or
 * null: nothing is shown). A flat object is a list of names and values; anything else is JSON.
 */
export function Produced(p: { task: Task }) {
  const parts = (['result', 'outputs'] as const).filter((k) => p.task[k] !== undefined && p.task[k] !== null);
  if (parts.length === 0) return null;
  return (
    <section id="task-produced" aria-labelledby="produced-heading">
      <h2 id="produced-heading">{parts.map((k) => (k === 'result' ? 'Result' : 'Outputs')).join(' and ')}</h2>
      {parts.map((k) => {
        const v = p.task[k];
        const flat = typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((x) => x === null || typeof x !== 'object');
        return (
          <div data-testid={`task-${k}`}>
            {parts.length > 1 && <h3>{k === 'result' ? 'Result' : 'Outputs'}</h3>}
            {flat ? (
              <dl class="fields">
                {Object.entries(v as Record<string, unknown>).map(([name, x]) => (
                  <>
                    <dt class="mono">{name}</dt>
                    <dd class="mono">{show(x)}</dd>
                  </>
                ))}
              </dl>
            ) : (
              <pre class="log" tabindex={0}>
                {typeof v === 'string' ? v : JSON.stringify(v, null, 2)}
              </pre>
            )}
          </div>
        );
      })}
    </section>
  );
}

function Fields(p: { task: Task }) {
  const t = p.task;
  const rows: Array<[string, unknown]> = Object.entries(t).filter(([k]) => !SHOWN_APART.includes(k));
  return (
    <dl class="fields">
      {rows.map(([k, v]) => (
        <>
          <dt>{k}</dt>
          <dd class={typeof v === 'object' && v !== null ? 'mono' : undefined}>
            {k === 'workflow_id' && typeof v === 'string' ? <a href={`/ui/workflows/${v}`}>{v}</a> : k === 'status' ? <Status value={String(v)} /> : show(v)}
          </dd>
        </>
      ))}
      <dt>env</dt>
      <dd class="mono">{Object.keys(t.env ?? {}).length ? Object.keys(t.env).join(', ') + ' (values not shown)' : '—'}</dd>
    </dl>
  );
}

export async function taskPage(c: Context) {
  const viewer = c.get('viewer');
  const id = encodeURIComponent(c.req.param('id') ?? '');
  const r = await viewer.api.get<Task>(`/tasks/${id}`);
  if (r.status === 404 || r.status === 422) return apiErrorPage(c, 404, 'No task with this id that your key can see.');
  if (r.status !== 200) return apiErrorPage(c, r.status, `The task could not be read: ${detailOf(r.body)}`);
  const t = r.body;
  const [events, logs] = await Promise.all([
    viewer.api.get<{ items: TaskEvent[] }>(`/tasks/${id}/events`),
    viewer.api.get<{ logs: string; truncated: boolean }>(`/tasks/${id}/logs`),
  ]);
  const ended = ENDED.includes(t.status);
  const back = `/ui/tasks/${t.id}`;
  const role = viewer.principal.role;
  const now = Date.now();
  return c.html(
    <Layout title={`Task ${taskName(t)}`} viewer={viewer} section="tasks" flash={flashOf(c)}>
      <section id="task-live" data-live={ended ? undefined : '3000'}>
        <h1>
          Task {taskName(t)} <Status value={t.status} />
        </h1>
        <p class="reason" data-testid="status-reason">
          <strong>Why {t.status}:</strong> {t.status_reason ?? t.error ?? (t.status === 'succeeded' && t.exit_code !== null ? `its command exited with code ${t.exit_code}` : 'no reason recorded')}
        </p>
        <p>
          {!ended && allows(role, 'tasks:cancel') && <ActionButton viewer={viewer} action={`/ui/tasks/${t.id}/cancel`} label="Cancel task" back={back} danger />}{' '}
          {RETRYABLE.includes(t.status) && allows(role, 'tasks:retry') && <ActionButton viewer={viewer} action={`/ui/tasks/${t.id}/retry`} label="Retry task" back={back} />}
        </p>
        <p>
          Age {ago(t.created_at, now)} · ran {duration(t, now)} · attempt {t.attempts} · exit code {show(t.exit_code)}
        </p>
        <h2>Events</h2>
        <ol class="timeline">
          {(events.body.items ?? []).map((e) => (
            <li>
              <time datetime={e.at}>{e.at.replace('T', ' ').replace('Z', ' UTC')}</time> <Status value={e.status} /> attempt {e.attempt}
              {e.node_id && <span class="mono"> on {e.node_id.slice(0, 8)}</span>}
              {e.reason && <div>{e.reason}</div>}
            </li>
          ))}
        </ol>
        <Produced task={t} />
      </section>
      <h2 id="log-heading">Log</h2>
      <p id="log-state" role="status">
        {ended ? (logs.body.truncated ? 'Stored log (truncated: only the end was kept).' : 'Stored log.') : 'Log so far.'}
      </p>
      <pre class="log" id="log" tabindex={0} aria-labelledby="log-heading" data-follow={ended ? undefined : `/ui/tasks/${t.id}/logs/stream`}>
        {logs.status === 200 ? logs.body.logs || '(no output)' : `The log could not be read: ${detailOf(logs.body)}`}
      </pre>
      <section id="task-fields" data-live={ended ? undefined : '3000'}>
        <h2>Fields</h2>
        <Fields task={t} />
      </section>
    </Layout>,
  );
}

/** How often a relayed log stream checks that its session is still open. */
const SESSION_CHECK_MS = 1_000;
const SIGNED_OUT_EVENT = `event: refused\ndata: ${JSON.stringify({ detail: 'signed out: the dashboard session has ended' })}\n\n`;

/**
 * Relays GET /tasks/{id}/logs?follow=true (SSE) from the API to the page, as it is, while the
 * viewer's session is open.
 */
export async function taskLogStream(c: Context) {
  const viewer = c.get('viewer');
  const id = encodeURIComponent(c.req.param('id') ?? '');
  // A HEAD (Hono runs this handler for it and drops the body, so a relayed stream would never be
  // read nor cancelled, and its place under the follow limits never given back): the API's HEAD,
  // which opens no follow, and the headers only.
  if (c.req.method !== 'GET') {
    const head = await viewer.api.call('HEAD', `/tasks/${id}/logs?follow=true`);
    if (head.status !== 200) return c.body(null, head.status === 404 ? 404 : head.status === 429 ? 429 : 502);
    return c.body(null, 200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  }
  const abort = new AbortController();
  const res = await viewer.api.stream(`/tasks/${id}/logs?follow=true`, abort.signal);
  if (res.status !== 200 || !res.body) {
    const text = await res.text().catch(() => '');
    abort.abort();
    // Too many streams open (the key's or the process's limit): the API's words and its wait.
    if (res.status === 429) {
      let body: unknown = null;
      try {
        body = JSON.parse(text);
      } catch {
        // not JSON: the detail says so
      }
      return c.text(`The log stream could not be opened: ${detailOf(body)}`, 429, { 'retry-after': res.headers.get('retry-after') ?? '5' });
    }
    return c.text(`The log stream could not be opened (${res.status})`, res.status === 404 ? 404 : 502);
  }
  c.header('content-type', 'text/event-stream');
  c.header('cache-control', 'no-cache');
  const reader = res.body.getReader();
  return stream(c, async (out) => {
    // Signed out in another tab (or the session ran out): the stream ends within a second with a
    // `refused` event, as the API's does for a revoked key, instead of running until the page closes.
    let signedOut = false;
    // In open mode there is no session to end: nothing to check.
    const check = viewer.open ? undefined : setInterval(() => {
      viewer.sessionEnded().then(
        (ended) => {
          if (!ended || signedOut) return;
          signedOut = true;
          void reader.cancel().catch(() => undefined);
        },
        () => undefined, // Redis did not answer: the next check asks again
      );
    }, SESSION_CHECK_MS);
    // The page went away: cancel the API's stream now, which stops its follower and Redis reader
    // (waiting for the next log line to notice could take as long as the task runs).
    out.onAbort(() => {
      void reader.cancel().catch(() => undefined);
      abort.abort();
    });
    // And when the page's request itself is aborted, should the body never be cancelled.
    const signal = c.req.raw.signal;
    const gone = () => out.abort();
    if (signal.aborted) gone();
    else signal.addEventListener('abort', gone, { once: true });
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        await out.write(value);
      }
    } catch {
      // The page went away (abort) or the API ended the stream: nothing more to relay.
    } finally {
      clearInterval(check);
      signal.removeEventListener('abort', gone);
      // Written after the relay stopped, so that it never lands inside a relayed event.
      if (signedOut && !out.aborted) await out.write(SIGNED_OUT_EVENT).catch(() => undefined);
      // Cancelling the API's stream is what stops its follower (and its Redis reader).
      await reader.cancel().catch(() => undefined);
      abort.abort();
    }
  });
}
