// The dashboard's sign-in is a session (session 33), against real `jarvis server`s on PostgreSQL
// with JARVIS_ADMIN_KEY: the browser gets only a random session id, never the key; Sign out ends
// the session on the server (a copied cookie is then worth nothing); a session ends unused after
// its idle time and at its maximum age whatever its use; Redis holds the session's record but
// no key; a revoked key ends its sessions. Before, the cookie was the API key itself.
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cookieHeader, setCookies, signInWithFetch } from './support/dashboard.ts';
import { createTestDatabase } from './support/database.ts';
import { REDIS_URL, TEST_IMAGE } from './support/env.ts';
import { api, startJarvis } from './support/jarvis.ts';
import { removeLeftovers } from './support/leftovers.ts';

// Redis keys of this file's processes; first, so that it runs after the other after-hooks.
afterAll(removeLeftovers);

const ADMIN = 'test-admin-key-session-0123456789abcdef';
const cleanups: Array<() => Promise<unknown>> = [];
let jarvis: Awaited<ReturnType<typeof startJarvis>>;
/** Sessions end unused after 2 s, and 5 s after the sign-in whatever their use. */
let short: Awaited<ReturnType<typeof startJarvis>>;
let redis: Redis;
const keys: Record<string, { id: string; key: string }> = {};
const as = (key: string) => (method: string, path: string, body?: unknown) => api(jarvis.url).call(method, path, body, { authorization: `Bearer ${key}` });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  const [db, shortDb] = await Promise.all([createTestDatabase(), createTestDatabase()]);
  cleanups.push(() => db.drop(), () => shortDb.drop());
  [jarvis, short] = await Promise.all([
    startJarvis({ command: 'server', databaseUrl: db.url, env: { JARVIS_ADMIN_KEY: ADMIN, JARVIS_UI_SESSION_MAX_SECONDS: '3600' } }),
    startJarvis({ command: 'server', databaseUrl: shortDb.url, env: { JARVIS_ADMIN_KEY: ADMIN, JARVIS_UI_SESSION_IDLE_SECONDS: '2', JARVIS_UI_SESSION_MAX_SECONDS: '5' } }),
  ]);
  cleanups.push(() => jarvis.stop(), () => short.stop());
  redis = new Redis(REDIS_URL);
  cleanups.push(async () => redis.disconnect());
  for (const [name, role] of [
    ['alice', 'submitter'],
    ['bob', 'viewer'],
  ]) {
    const r = await as(ADMIN)('POST', '/auth/keys', { name, role, tenant: 'alpha' });
    expect(r.status).toBe(201);
    keys[name] = { id: r.body.id, key: r.body.key };
  }
});
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

/** A page of the dashboard with these cookies, not following redirects. */
const page = (base: string, path: string, cookie: string) => fetch(base + path, { headers: { cookie }, redirect: 'manual' });

/** Every value Redis holds under a server's prefix, as text. */
async function redisText(prefix: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `{${prefix}}*`, 'COUNT', 1000);
    cursor = next;
    for (const k of found) {
      const type = await redis.type(k);
      const value =
        type === 'string' ? await redis.get(k)
        : type === 'hash' ? JSON.stringify(await redis.hgetall(k))
        : type === 'list' ? JSON.stringify(await redis.lrange(k, 0, -1))
        : type === 'set' ? JSON.stringify(await redis.smembers(k))
        : type === 'zset' ? JSON.stringify(await redis.zrange(k, '0', '-1'))
        : type === 'stream' ? JSON.stringify(await redis.xrange(k, '-', '+'))
        : '';
      out.set(k, value ?? '');
    }
  } while (cursor !== '0');
  return out;
}

const recordKeyOf = (prefix: string, sessionId: string) => `{${prefix}}:ui-session:${createHash('sha256').update(Buffer.from(sessionId, 'base64url')).digest('hex')}`;

describe('dashboard sessions', () => {
  it('keeps the key out of every answer of the sign-in: the cookie holds a random session id', async () => {
    // A generated key and JARVIS_ADMIN_KEY (which cannot be revoked) alike.
    for (const key of [keys.alice.key, ADMIN]) {
      const s = await signInWithFetch(jarvis.url, key, '/ui/tasks');
      expect(s.answers[1].res.headers.get('location')).toBe('/ui/tasks');
      const after = await page(jarvis.url, '/ui/tasks', s.cookie);
      expect(after.status).toBe(200);
      const answers = [...s.answers, { res: after, body: await after.text() }];
      for (const { res, body } of answers) {
        const headers = [...res.headers].map(([k, v]) => `${k}: ${v}`).join('\n');
        // Before session 33 the sign-in's Set-Cookie was `jarvis_ui_key=<the key>`.
        expect(headers, res.url).not.toContain(key);
        expect(body, res.url).not.toContain(key);
      }
      const line = s.answers[1].res.headers.getSetCookie().find((l) => l.startsWith('jarvis_ui_session='))!;
      expect(line).toMatch(/^jarvis_ui_session=[A-Za-z0-9_-]{43};/);
      expect(line.split('; ').slice(1).sort()).toEqual(['HttpOnly', 'Max-Age=3600', 'Path=/ui', 'SameSite=Strict']);
    }
  });

  it('ends the session at Sign out: the old cookie replayed gets the sign-in page and can do nothing', async () => {
    const task = await as(keys.alice.key)('POST', '/tasks', { image: TEST_IMAGE, command: ['true'], name: 'session-replay' });
    expect(task.status).toBe(201);
    const s = await signInWithFetch(jarvis.url, keys.alice.key);
    expect((await page(jarvis.url, '/ui/tasks', s.cookie)).status).toBe(200);
    const out = await fetch(`${jarvis.url}/ui/logout`, { method: 'POST', redirect: 'manual', headers: { origin: jarvis.url, cookie: s.cookie }, body: new URLSearchParams({ _csrf: s.csrf }) });
    expect(out.status).toBe(303);
    expect(out.headers.get('location')).toBe('/ui/login');
    // Someone who copied the cookie before: nothing (before session 33: still signed in, 200).
    const replay = await page(jarvis.url, '/ui/tasks', s.cookie);
    expect(replay.status).toBe(303);
    expect(replay.headers.get('location')).toBe('/ui/login?next=%2Fui%2Ftasks&ended=1');
    expect(out.headers.getSetCookie().find((l) => l.startsWith('jarvis_ui_session='))).toMatch(/^jarvis_ui_session=; Max-Age=0;/);
    const login = await fetch(jarvis.url + replay.headers.get('location'));
    expect(await login.text()).toContain('Your session has ended');
    const cancel = await fetch(`${jarvis.url}/ui/tasks/${task.body.id}/cancel`, { method: 'POST', redirect: 'manual', headers: { origin: jarvis.url, cookie: s.cookie }, body: new URLSearchParams({ _csrf: s.csrf }) });
    expect(cancel.status).toBe(303);
    expect(cancel.headers.get('location')).toMatch(/^\/ui\/login\?/);
    expect((await as(ADMIN)('GET', `/tasks/${task.body.id}`)).body.status).toBe('queued');
    expect(await redis.exists(recordKeyOf(jarvis.prefix, s.cookies.jarvis_ui_session))).toBe(0);

    // Audited and logged, with who and from where; the log never holds the key or the session id.
    let outs: Array<{ status: number; key_name: string | null; client: string | null }> = [];
    for (let i = 0; i < 300 && outs.length === 0; i++) {
      if (i > 0) await sleep(100);
      outs = (await as(ADMIN)('GET', '/audit?action=ui.sign_out&limit=50')).body.items;
    }
    expect(outs).toEqual([expect.objectContaining({ status: 303, key_name: 'alice', client: expect.any(String) })]);
    await sleep(100); // log lines are written within 50 ms
    const lines = jarvis.output().split('\n');
    expect(lines.some((l) => l.includes('"msg":"dashboard: signed in"') && l.includes('"key_name":"alice"'))).toBe(true);
    expect(lines.some((l) => l.includes('"msg":"dashboard: signed out"') && l.includes('"key_name":"alice"'))).toBe(true);
    expect(jarvis.output()).not.toContain(keys.alice.key);
    expect(jarvis.output()).not.toContain(s.cookies.jarvis_ui_session);
  });

  it('ends a live log stream within seconds of Sign out in another tab, with a refused event', async () => {
    const task = await as(keys.alice.key)('POST', '/tasks', { image: TEST_IMAGE, command: ['true'], name: 'session-stream' });
    expect(task.status).toBe(201); // no worker here: it stays queued, and its log follow stays open
    const s = await signInWithFetch(jarvis.url, keys.alice.key);
    const abort = new AbortController();
    cleanups.push(async () => abort.abort());
    const res = await fetch(`${jarvis.url}/ui/tasks/${task.body.id}/logs/stream`, { headers: { cookie: s.cookie }, signal: abort.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    const ended = (async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return true;
        text += decoder.decode(value, { stream: true });
      }
    })().catch(() => false);
    await sleep(1_500); // open, and still open after its first session checks
    expect(await Promise.race([ended, sleep(0).then(() => 'open')])).toBe('open');
    const out = await fetch(`${jarvis.url}/ui/logout`, { method: 'POST', redirect: 'manual', headers: { origin: jarvis.url, cookie: s.cookie }, body: new URLSearchParams({ _csrf: s.csrf }) });
    expect(out.status).toBe(303);
    // Before: the stream went on relaying the log until the page was closed.
    expect(await Promise.race([ended, sleep(10_000).then(() => 'still open 10 s after Sign out')])).toBe(true);
    const events = text.split('\n\n').filter((e) => e.startsWith('event: refused'));
    expect(events).toHaveLength(1);
    expect(JSON.parse(events[0].split('\n').find((l) => l.startsWith('data: '))!.slice(6))).toEqual({ detail: 'signed out: the dashboard session has ended' });
  });

  it('keeps a record of each session in Redis that holds neither the key nor the session id', async () => {
    const s = await signInWithFetch(jarvis.url, keys.alice.key);
    const admin = await signInWithFetch(jarvis.url, ADMIN);
    const record = recordKeyOf(jarvis.prefix, s.cookies.jarvis_ui_session);
    // Before session 33 there was no record: the key was the cookie.
    const ttl = await redis.pttl(record);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(3600 * 1000);
    const all = await redisText(jarvis.prefix);
    expect(JSON.parse(all.get(record)!)).toMatchObject({ key_name: 'alice', tenant: 'alpha', role: 'submitter', box: expect.any(String) });
    for (const [k, v] of all) {
      for (const secret of [keys.alice.key, keys.alice.key.slice(4), ADMIN, s.cookies.jarvis_ui_session, admin.cookies.jarvis_ui_session]) {
        expect(`${k} ${v}`, k).not.toContain(secret);
      }
    }
  });

  it('ends the session when its key is revoked: the next page asks to sign in (expired=1) and clears the cookie', async () => {
    const s = await signInWithFetch(jarvis.url, keys.bob.key);
    expect((await page(jarvis.url, '/ui/tasks?status=queued', s.cookie)).status).toBe(200);
    expect((await as(ADMIN)('DELETE', `/auth/keys/${keys.bob.id}`)).status).toBe(204);
    const r = await page(jarvis.url, '/ui/tasks?status=queued', s.cookie);
    expect(r.status).toBe(303);
    expect(r.headers.get('location')).toBe('/ui/login?next=%2Fui%2Ftasks%3Fstatus%3Dqueued&expired=1');
    expect(r.headers.getSetCookie().find((l) => l.startsWith('jarvis_ui_session='))).toMatch(/^jarvis_ui_session=; Max-Age=0;/);
    expect(await redis.exists(recordKeyOf(jarvis.prefix, s.cookies.jarvis_ui_session))).toBe(0);
  });

  it('no longer takes a key from the old jarvis_ui_key cookie, and deletes that cookie', async () => {
    // Before session 33 this cookie signed the browser in (200).
    const r = await page(jarvis.url, '/ui/tasks', cookieHeader({ jarvis_ui_key: keys.alice.key }));
    expect(r.status).toBe(303);
    expect(r.headers.get('location')).toBe('/ui/login?next=%2Fui%2Ftasks');
    expect(setCookies(r).jarvis_ui_key).toBe('');
  });

  it('ends a session unused for its idle time, and any session at its maximum age however it is used', async () => {
    const unused = await signInWithFetch(short.url, ADMIN);
    expect((await page(short.url, '/ui/tasks', unused.cookie)).status).toBe(200);
    const used = await signInWithFetch(short.url, ADMIN);
    const signedInAt = Date.now();
    // Used every second: it outlives the 2 s idle time (before session 33 nothing ended either).
    while (Date.now() - signedInAt < 4_000) {
      expect((await page(short.url, '/ui/tasks', used.cookie)).status).toBe(200);
      await sleep(1_000);
    }
    const r = await page(short.url, '/ui/tasks', unused.cookie);
    expect(r.status).toBe(303);
    expect(r.headers.get('location')).toBe('/ui/login?next=%2Fui%2Ftasks&ended=1');
    // 5 s after its sign-in, the used one ends too.
    await sleep(Math.max(0, signedInAt + 5_200 - Date.now()));
    const late = await page(short.url, '/ui/tasks', used.cookie);
    expect(late.status).toBe(303);
    expect(late.headers.get('location')).toBe('/ui/login?next=%2Fui%2Ftasks&ended=1');
  });
});
