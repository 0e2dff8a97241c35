// The workflow page's live refresh against a stand-in for the API: the page's validator carries the
// API's ETag, is sent back to the API as If-None-Match, and a 304 of the API is the page's 304,
// with nothing drawn; a new minute, a change, or an ended workflow draws it again.
import { Hono } from 'hono';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { Authenticator } from '../../auth/authenticator.ts';
import { OPEN_MODE } from '../../auth/principal.ts';
import { dashboard } from '../dashboard.tsx';
import type { DashboardSessions } from '../session-store.ts';
import type { Workflow } from '../wire.ts';
import { apiTagOf, pageTag, REDRAW_MS } from './workflow.tsx';

const openMode = { isOpen: async () => true, authenticate: async () => ({ ok: true, principal: OPEN_MODE }) } as unknown as Authenticator;
const ID = '0190a4b2-0000-7000-8000-000000000001';

function standIn() {
  const api = { version: 'v1', status: 'running', asked: [] as Array<string | null> };
  const workflow = (): Workflow => ({
    id: ID,
    name: 'wf',
    status: api.status,
    on_failure: 'continue',
    created_at: new Date().toISOString(),
    finished_at: null,
    tasks: [{ id: '0190a4b2-0000-7000-8000-000000000002', workflow_key: 'a', name: null, depends_on: [], status: 'queued', started_at: null, finished_at: null } as never],
  });
  const ui = dashboard({
    request: (path, init) => {
      const sent = new Headers(init.headers).get('if-none-match');
      api.asked.push(sent);
      const tag = `W/"${api.version}"`;
      if (sent === tag) return new Response(null, { status: 304, headers: { etag: tag } });
      return Response.json(workflow(), { headers: { etag: tag } });
    },
    authenticator: openMode,
    clientAddress: () => null,
    sessions: {} as DashboardSessions,
    logger: pino({ level: 'silent' }),
  });
  const app = new Hono().route('/ui', ui);
  const load = async (tag?: string) => {
    const res = await app.request(`/ui/workflows/${ID}`, { headers: { host: '127.0.0.1', 'x-jarvis-live': '1', ...(tag ? { 'if-none-match': tag } : {}) } });
    const body = await res.text();
    return { status: res.status, body, tag: /data-etag="([^"]*)"/.exec(body)?.[1].replaceAll('&quot;', '"') };
  };
  return { api, load };
}

describe('the workflow page refreshed live', () => {
  it('answers 304 without drawing while the API says nothing changed', async () => {
    const { api, load } = standIn();
    const first = await load();
    expect(first.status).toBe(200);
    expect(first.tag).toMatch(/^W\/"v1\.\d+"$/);
    const again = await load(first.tag);
    // Unless the minute turned between the two (then it is drawn again, with no If-None-Match).
    if (first.tag === pageTag('W/"v1"', Date.now())) {
      expect(again.status).toBe(304);
      expect(again.body).toBe('');
      expect(api.asked).toEqual([null, 'W/"v1"']);
    }
  });

  it('draws it again when the workflow changed, when the validator is from another minute, and without one once it ended', async () => {
    const { api, load } = standIn();
    const first = await load();
    api.version = 'v2';
    const changed = await load(first.tag);
    expect(changed.status).toBe(200);
    expect(changed.tag).toMatch(/^W\/"v2\.\d+"$/);
    const old = pageTag('W/"v2"', Date.now() - REDRAW_MS);
    const later = await load(old);
    expect(later.status).toBe(200);
    expect(api.asked.at(-1)).toBeNull();
    api.version = 'v3';
    api.status = 'succeeded';
    const ended = await load(later.tag);
    expect(ended.status).toBe(200);
    expect(ended.tag).toBeUndefined();
    expect(ended.body).not.toContain('data-live');
  });

  it('reads the API tag back only from a validator of the current minute', () => {
    const now = Date.now();
    expect(apiTagOf(pageTag('W/"abc"', now), now)).toBe('W/"abc"');
    expect(apiTagOf(pageTag('"abc"', now), now)).toBe('W/"abc"');
    expect(apiTagOf(pageTag('W/"abc"', now - REDRAW_MS), now)).toBeNull();
    for (const sent of [undefined, '', '*', 'W/"abc"', '"abc.1"', `W/"abc.${Math.floor(now / REDRAW_MS)}", W/"x.1"`]) expect(apiTagOf(sent, now)).toBeNull();
  });
});
