// The frame every page shares: navigation by what the viewer may read, who is signed in, the
// flash message of the last action, and the live-update script. Small parts used by many pages too.
import type { Child } from 'hono/jsx';
import { raw } from 'hono/html';
import { allows } from '../auth/policy.ts';
import type { Context } from 'hono';
import type { Viewer } from './session.ts';
import { CSRF_FIELD, flashSignature } from './session.ts';
import { STYLE } from './style.ts';

export interface PageProps {
  title: string;
  viewer: Viewer | null;
  /** Which nav entry is current. */
  section?: 'overview' | 'tasks' | 'workflows' | 'nodes' | 'login';
  flash?: { text: string; error: boolean } | null;
  children?: Child;
}

export function Layout(p: PageProps) {
  const v = p.viewer;
  const nav: Array<[PageProps['section'], string, string]> = [
    ['overview', '/ui', 'Overview'],
    ['tasks', '/ui/tasks', 'Tasks'],
    ['workflows', '/ui/workflows', 'Workflows'],
  ];
  if (v && allows(v.principal.role, 'nodes:read')) nav.push(['nodes', '/ui/nodes', 'Nodes']);
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${p.title} · Jarvis`}</title>
        <style>{raw(STYLE)}</style>
        <script src="/ui/static/live.js" defer></script>
      </head>
      <body>
        <a class="skip" href="#main">Skip to content</a>
        <header>
          <strong>Jarvis</strong>
          {v && (
            <nav aria-label="Sections">
              {nav.map(([s, href, label]) => (
                <a href={href} aria-current={s === p.section ? 'page' : undefined}>
                  {label}
                </a>
              ))}
            </nav>
          )}
          {v && (
            <div class="who">
              <span data-testid="who">
                {v.open ? 'open mode (no sign-in)' : `${v.principal.name} · ${v.principal.role} · tenant ${v.principal.tenant}`}
              </span>
              {!v.open && (
                <form class="inline" method="post" action="/ui/logout">
                  <input type="hidden" name={CSRF_FIELD} value={v.csrfToken} />
                  <button type="submit">Sign out</button>
                </form>
              )}
            </div>
          )}
        </header>
        <main id="main" tabindex={-1}>
          {p.flash && (
            <p class={p.flash.error ? 'flash error' : 'flash'} role={p.flash.error ? 'alert' : 'status'}>
              {p.flash.text}
            </p>
          )}
          {p.children}
        </main>
      </body>
    </html>
  );
}

/** A status as a word with its colour (never colour alone). */
export function Status(p: { value: string | null | undefined }) {
  const v = p.value ?? 'unknown';
  return <span class={`status st-${v}`}>{v}</span>;
}

/** One action as a POST form with the CSRF token; shown only to roles that may take it. */
export function ActionButton(p: { viewer: Viewer; action: string; label: string; back: string; danger?: boolean }) {
  return (
    <form class="inline" method="post" action={p.action}>
      <input type="hidden" name={CSRF_FIELD} value={p.viewer.csrfToken} />
      <input type="hidden" name="back" value={p.back} />
      <button type="submit" class={p.danger ? 'danger' : undefined}>
        {p.label}
      </button>
    </form>
  );
}

/** "3 s", "4 min", "2 h", "5 d". */
export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '—';
  return span(now - Date.parse(iso));
}

export function span(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}

/** How long a task ran (or has been running). */
export function duration(t: { started_at: string | null; finished_at: string | null }, now = Date.now()): string {
  if (!t.started_at) return '—';
  return span((t.finished_at ? Date.parse(t.finished_at) : now) - Date.parse(t.started_at));
}

/** The message of the last action, carried in the redirect's query, shown only when its signature is this viewer's. */
export function flashOf(c: Context): PageProps['flash'] {
  const q = c.req.query();
  const token = c.get('csrfToken');
  for (const [key, error] of [['error', true], ['ok', false]] as const) {
    const text = q[key];
    if (text && q.sig && token && q.sig === flashSignature(token, key, text)) return { text: text.slice(0, 300), error };
  }
  return null;
}
