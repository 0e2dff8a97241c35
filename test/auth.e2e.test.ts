// API keys, roles, rate limits and the audit log, through HTTP and the CLI against a real
// `jarvis server` on PostgreSQL started with JARVIS_ADMIN_KEY.
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/database.ts';
import { api, runCli, spawnJarvis, startJarvis, uniquePrefix, type JarvisProcess } from './support/jarvis.ts';
import { REDIS_URL } from './support/env.ts';
import { removeLeftovers } from './support/leftovers.ts';
import { signInWithFetch } from './support/dashboard.ts';

// Redis keys and task containers of this file's processes; first, so that it runs after the
// other after-hooks, once those processes are stopped.
afterAll(removeLeftovers);

const ADMIN = 'test-admin-key-0123456789abcdef';
type Role = 'admin' | 'operator' | 'submitter' | 'viewer';
const ROLES: Role[] = ['admin', 'operator', 'submitter', 'viewer'];
const ANY_ID = '00000000-0000-4000-8000-000000000000';

/**
 * The contract (api.md, Security): which roles may call each route. Everything else gets 403,
 * and every route without a key gets 401. Written out here rather than read from the code, so
 * a change to the code's table that breaks the contract fails this test.
 */
const ALLOWED: Record<string, Role[]> = {
  'POST /tasks': ['admin', 'submitter'],
  'POST /tasks/batch': ['admin', 'submitter'],
  'GET /tasks': ROLES,
  'GET /tasks/{id}': ROLES,
  'GET /tasks/{id}/events': ROLES,
  'GET /tasks/{id}/logs': ROLES,
  'GET /overview': ROLES,
  'POST /tasks/{id}/cancel': ['admin', 'operator', 'submitter'],
  'POST /tasks/{id}/retry': ['admin', 'submitter'],
  'POST /workflows': ['admin', 'submitter'],
  'GET /workflows': ROLES,
  'GET /workflows/{id}': ROLES,
  'POST /workflows/{id}/cancel': ['admin', 'operator', 'submitter'],
  'POST /workflows/{id}/retry': ['admin', 'submitter'],
  'GET /nodes': ['admin', 'operator'],
  'GET /nodes/{id}': ['admin', 'operator'],
  'POST /nodes/{id}/drain': ['admin', 'operator'],
  'POST /nodes/{id}/resume': ['admin', 'operator'],
  'DELETE /nodes/{id}': ['admin', 'operator'],
  'POST /auth/keys': ['admin'],
  'GET /auth/keys': ['admin'],
  'DELETE /auth/keys/{id}': ['admin'],
  'GET /audit': ['admin'],
  'POST /secrets': ['admin', 'submitter'],
  'GET /secrets': ['admin', 'submitter'],
  'DELETE /secrets/{name}': ['admin', 'submitter'],
  'GET /tenants': ['admin', 'operator', 'submitter', 'viewer'],
  'GET /tenants/{name}': ['admin', 'operator', 'submitter', 'viewer'],
  'PUT /tenants/{name}': ['admin'],
  'POST /schedules': ['admin', 'submitter'],
  'GET /schedules': ROLES,
  'GET /schedules/{id}': ROLES,
  'PATCH /schedules/{id}': ['admin', 'submitter'],
  'DELETE /schedules/{id}': ['admin', 'submitter'],
  'POST /schedules/{id}/trigger': ['admin', 'submitter'],
  'POST /webhooks': ['admin', 'operator', 'submitter'],
  'GET /webhooks': ROLES,
  'GET /webhooks/{id}': ROLES,
  'DELETE /webhooks/{id}': ['admin', 'operator', 'submitter'],
  'GET /webhooks/{id}/deliveries': ROLES,
  'POST /webhooks/{id}/deliveries/{delivery_id}/redeliver': ['admin', 'operator', 'submitter'],
};
/** Routes that need no API key: public ones, and the ones a node proves itself on with its own token. */
const NO_KEY = ['GET /health', 'GET /metrics', 'POST /nodes/register', 'POST /nodes/{id}/heartbeat', 'GET /nodes/{id}/attempts/{task_id}', 'POST /nodes/{id}/secrets'];

describe('API keys and roles', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let jarvis: Awaited<ReturnType<typeof startJarvis>>;
  const keys: Record<string, string> = {};
  const ids: Record<string, string> = {};
  const as = (key: string | null) => (method: string, path: string, body?: unknown) =>
    api(jarvis.url).call(method, path, body, key ? { authorization: `Bearer ${key}` } : {});

  beforeAll(async () => {
    db = await createTestDatabase();
    jarvis = await startJarvis({ command: 'server', databaseUrl: db.url, env: { JARVIS_ADMIN_KEY: ADMIN } });
    for (const tenant of ['alpha', 'beta']) {
      for (const role of ROLES) {
        const r = await as(ADMIN)('POST', '/auth/keys', { name: `${role}-${tenant}`, role, tenant });
        expect(r.status).toBe(201);
        keys[`${role}-${tenant}`] = r.body.key;
        ids[`${role}-${tenant}`] = r.body.id;
      }
    }
  });
  afterAll(async () => {
    await jarvis?.stop();
    await db?.drop();
  });

  it('covers every route of /openapi.json in the contract table', async () => {
    const doc = (await api(jarvis.url).get('/openapi.json')).body;
    const routes = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`));
    const missing = routes.filter((r) => !(r in ALLOWED) && !NO_KEY.includes(r));
    expect(missing).toEqual([]);
  });

  it('answers 401 with WWW-Authenticate without a key or with an unknown one', async () => {
    for (const key of [null, 'jvk_not-a-real-key', 'x'.repeat(600)]) {
      const r = await as(key)('GET', '/tasks');
      expect(r.status).toBe(401);
      expect(r.body).toEqual({ detail: 'Not authenticated' });
      expect(r.headers.get('www-authenticate')).toBe('Bearer');
    }
    const r = await api(jarvis.url).call('GET', '/tasks', undefined, { authorization: 'Basic abc' });
    expect(r.status).toBe(401);
  });


  it('checks the key and the role before reading the body: 401 or 403 whatever the body, over the size limit or malformed', async () => {
    const big = JSON.stringify({ image: 'x', command: 'a'.repeat(2 * 1024 * 1024) }); // over max_body_bytes (1 MiB)
    const send = (key: string | null, body: string | ReadableStream, extra: RequestInit = {}) =>
      fetch(`${jarvis.url}/tasks`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
        body,
        ...extra,
      });
    const streamed = () =>
      new ReadableStream({
        start(c) {
          for (let i = 0; i < 40; i++) c.enqueue(new TextEncoder().encode('a'.repeat(64 * 1024)));
          c.close();
        },
      });
    for (const key of [null, 'jvk_not-a-real-key']) {
      for (const r of [await send(key, big), await send(key, '{"image": '), await send(key, streamed(), { duplex: 'half' } as RequestInit)]) {
        expect(r.status).toBe(401);
        expect(await r.json()).toEqual({ detail: 'Not authenticated' });
      }
    }
    // A viewer may not submit: 403 before its oversized body is looked at.
    const viewer = await send(keys['viewer-alpha']!, big);
    expect(viewer.status).toBe(403);
    expect(((await viewer.json()) as { detail: string }).detail).toMatch(/submitter role/);
    // With a key that may submit, the same body is the 413 it was.
    expect((await send(keys['submitter-alpha']!, big)).status).toBe(413);
  });
  it("gives each role exactly the routes api.md gives it, and names the role needed when it refuses", async () => {
    const failures: string[] = [];
    for (const [route, allowed] of Object.entries(ALLOWED)) {
      const [method, template] = route.split(' ') as [string, string];
      const path = template.replace('{id}', ANY_ID).replace('{name}', 'no_such_secret');
      const body = method === 'POST' ? {} : undefined;
      const none = await as(null)(method, path, body);
      if (none.status !== 401) failures.push(`${route} without a key: ${none.status}`);
      for (const role of ROLES) {
        const r = await as(keys[`${role}-alpha`])(method, path, body);
        const ok = allowed.includes(role);
        if (ok && (r.status === 401 || r.status === 403)) failures.push(`${route} as ${role}: ${r.status} ${JSON.stringify(r.body)}`);
        if (!ok) {
          if (r.status !== 403) failures.push(`${route} as ${role}: ${r.status}, expected 403`);
          else if (!/needs the (admin|operator|submitter|viewer) role; your key has the \w+ role/.test(r.body.detail)) failures.push(`${route} as ${role}: detail ${r.body.detail}`);
        }
      }
    }
    expect(failures).toEqual([]);
  });

  it('keeps /health, /metrics and the docs open, and the queue board closed', async () => {
    for (const p of ['/health', '/metrics', '/openapi.json', '/docs', '/redoc']) expect((await as(null)('GET', p)).status, p).toBe(200);
    expect((await as(null)('GET', '/admin/queues')).status).toBe(401);
    expect((await as(keys['viewer-alpha'])('GET', '/admin/queues')).status).toBe(403);
    expect((await as(keys['operator-alpha'])('GET', '/admin/queues')).status).toBe(200);
  });

  it('shows a key once: lists never carry it, and a revoked key is refused within a second', async () => {
    const created = await as(ADMIN)('POST', '/auth/keys', { name: 'short-lived', role: 'viewer' });
    expect(created.body.key).toMatch(/^jvk_[A-Za-z0-9_-]{43}$/);
    expect(created.body.tenant).toBe('default');
    const list = await as(ADMIN)('GET', '/auth/keys');
    expect(JSON.stringify(list.body)).not.toContain(created.body.key);
    expect(list.body.items.map((k: { name: string }) => k.name)).toContain('short-lived');
    expect((await as(created.body.key)('GET', '/tasks')).status).toBe(200);
    expect((await as(ADMIN)('DELETE', `/auth/keys/${created.body.id}`)).status).toBe(204);
    await new Promise((r) => setTimeout(r, 1_000));
    expect((await as(created.body.key)('GET', '/tasks')).status).toBe(401);
    expect((await as(ADMIN)('DELETE', `/auth/keys/${created.body.id}`)).status).toBe(404);
  });

  it('validates key creation like any other body', async () => {
    const bad = await as(ADMIN)('POST', '/auth/keys', { name: 'x', role: 'root', tenant: 'Not A Tenant', extra: 1 });
    expect(bad.status).toBe(422);
    const types = bad.body.detail.map((d: { type: string; loc: unknown[] }) => `${d.type}@${d.loc.join('.')}`).sort();
    expect(types).toEqual(['enum@body.role', 'extra_forbidden@body.extra', 'string_pattern_mismatch@body.tenant']);
  });

  it('limits each key to its rate with 429, Retry-After and RateLimit headers, without slowing other keys', async () => {
    const slow = await as(ADMIN)('POST', '/auth/keys', { name: 'slow', role: 'viewer', rate_limit_per_s: 2 });
    const call = as(slow.body.key);
    // At once: one after the other, they had to land within ~1 s (before the bucket refills) to
    // see three refusals, which a loaded machine did not always manage.
    const answers = await Promise.all(Array.from({ length: 6 }, () => call('GET', '/tasks?limit=1')));
    const limited = answers.filter((a) => a.status === 429);
    const allowed = answers.filter((a) => a.status === 200);
    expect(limited.length).toBeGreaterThanOrEqual(3);
    expect(limited[0].body.detail).toMatch(/^Rate limit exceeded: /);
    expect(Number(limited[0].headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(limited[0].headers.get('ratelimit-policy')).toBe('"per-key";q=2;w=1');
    expect(limited[0].headers.get('ratelimit')).toMatch(/^"per-key";r=0;t=\d+$/);
    expect(allowed.length, 'the burst (2) was allowed').toBeGreaterThanOrEqual(1);
    expect(allowed[0].headers.get('ratelimit')).toMatch(/^"per-key";r=\d+;t=1$/);
    // The audit log holds the refusals folded: one record per second for the lot, with their count.
    const audit = await as(ADMIN)('GET', `/audit?key_id=${slow.body.id}`);
    const refused = (audit.body.items as Array<{ status: number; count: number; action: string }>).filter((i) => i.status === 429);
    expect(refused.reduce((n, i) => n + i.count, 0)).toBe(limited.length);
    expect(refused.length).toBeLessThan(limited.length);
    expect(refused[0]).toMatchObject({ action: 'task.list' });
    // Every answer the key gets carries them, a refusal of its input too.
    await new Promise((r) => setTimeout(r, 1_100));
    const invalid = await call('GET', '/tasks?limit=0');
    expect(invalid.status).toBe(422);
    expect(invalid.headers.get('ratelimit-policy')).toBe('"per-key";q=2;w=1');
    // Another key is not held back by this one's empty bucket.
    expect((await as(keys['viewer-alpha'])('GET', '/tasks?limit=1')).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1_100));
    expect((await call('GET', '/tasks?limit=1')).status).toBe(200);
  });

  it('records changes and refusals in the audit log, never a key', async () => {
    await as('jvk_wrong')('POST', '/tasks', { image: 'x' });
    await as(keys['viewer-beta'])('POST', '/tasks', { image: 'x' });
    const made = await as(ADMIN)('POST', '/auth/keys', { name: 'audited', role: 'viewer', tenant: 'beta' });
    const page = await as(ADMIN)('GET', '/audit?limit=500');
    expect(page.status).toBe(200);
    const items = page.body.items as Array<Record<string, unknown>>;
    expect(items.find((i) => i.status === 401 && i.action === 'task.submit')).toMatchObject({ key_id: null, client: expect.stringMatching(/127\.0\.0\.1/) });
    expect(items.find((i) => i.status === 403 && i.key_name === 'viewer-beta')).toMatchObject({ action: 'task.submit', tenant: 'beta', role: 'viewer', key_id: ids['viewer-beta'] });
    expect(items.find((i) => i.action === 'key.create' && i.target === made.body.id)).toMatchObject({ status: 201, key_name: 'JARVIS_ADMIN_KEY', role: 'admin' });
    expect(items.every((i) => typeof i.request_id === 'string')).toBe(true);
    const text = JSON.stringify(page.body);
    for (const k of [ADMIN, made.body.key, ...Object.values(keys)]) expect(text).not.toContain(k);
    const filtered = await as(ADMIN)(`GET`, `/audit?key_id=${ids['viewer-beta']}`);
    expect(filtered.body.items.length).toBeGreaterThan(0);
    expect(filtered.body.items.every((i: { key_id: string }) => i.key_id === ids['viewer-beta'])).toBe(true);
    expect(jarvis.output()).not.toContain(made.body.key);
  });

  it("keeps each tenant's work to itself: another tenant's task or workflow is not found, lists hold only one's own", async () => {
    const sub = await as(keys['submitter-alpha'])('POST', '/tasks', { image: 'jarvis-test/busybox:latest', command: 'true', labels: { t: 'iso' } });
    expect(sub.status).toBe(201);
    expect(sub.body.tenant).toBe('alpha');
    const id = sub.body.id;
    const wf = await as(keys['submitter-alpha'])('POST', '/workflows', { name: 'iso', tasks: [{ key: 'a', image: 'jarvis-test/busybox:latest', command: 'true' }] });
    expect(wf.status).toBe(201);
    expect(wf.body.tenant).toBe('alpha');
    expect(wf.body.tasks[0].tenant).toBe('alpha');
    for (const key of [keys['viewer-beta'], keys['submitter-beta']]) {
      for (const p of [`/tasks/${id}`, `/tasks/${id}/events`, `/tasks/${id}/logs`, `/workflows/${wf.body.id}`]) {
        const r = await as(key)('GET', p);
        expect(r.status, p).toBe(404);
      }
    }
    expect((await as(keys['submitter-beta'])('POST', `/tasks/${id}/cancel`)).status).toBe(404);
    expect((await as(keys['submitter-beta'])('POST', `/tasks/${id}/retry`)).status).toBe(404);
    expect((await as(keys['submitter-beta'])('POST', `/workflows/${wf.body.id}/cancel`)).status).toBe(404);
    expect((await as(keys['submitter-beta'])('POST', `/workflows/${wf.body.id}/retry`)).status).toBe(404);
    const betaList = await as(keys['viewer-beta'])('GET', '/tasks?label=t:iso&tenant=alpha');
    expect(betaList.body.total).toBe(0); // asking for another tenant changes nothing for a viewer
    expect((await as(keys['viewer-beta'])('GET', '/workflows')).body.items.map((w: { id: string }) => w.id)).not.toContain(wf.body.id);
    expect((await as(keys['viewer-alpha'])('GET', `/tasks/${id}`)).status).toBe(200);
    expect((await as(keys['viewer-alpha'])('GET', '/tasks?label=t:iso')).body.total).toBe(1);
    expect((await as(keys['operator-beta'])('GET', `/tasks/${id}`)).status).toBe(200); // operators see every tenant
    expect((await as(ADMIN)('GET', '/tasks?label=t:iso&tenant=beta')).body.total).toBe(0);
    expect((await as(ADMIN)('GET', '/tasks?label=t:iso&tenant=alpha')).body.total).toBe(1);
    expect((await as(keys['operator-beta'])('POST', `/tasks/${id}/cancel`)).status).not.toBe(404);
  });

  it("keeps idempotency keys per tenant: another tenant's use of a key neither blocks it nor shows", async () => {
    const task = (key: string) => ({ image: 'jarvis-test/busybox:latest', command: 'true', idempotency_key: key });
    const a = await as(keys['submitter-alpha'])('POST', '/tasks', task('nightly-report'));
    expect(a.status).toBe(201);
    // Before: 409 "This idempotency_key is already used", which told beta alpha had used it.
    const b = await as(keys['submitter-beta'])('POST', '/tasks', task('nightly-report'));
    expect(b.status).toBe(201);
    expect(b.body.id).not.toBe(a.body.id);
    expect(b.body.tenant).toBe('beta');
    // Each tenant again gets its own task back.
    const a2 = await as(keys['submitter-alpha'])('POST', '/tasks', task('nightly-report'));
    expect(a2.status).toBe(200);
    expect(a2.body.id).toBe(a.body.id);
    const b2 = await as(keys['submitter-beta'])('POST', '/tasks', task('nightly-report'));
    expect(b2.status).toBe(200);
    expect(b2.body.id).toBe(b.body.id);
    // A batch too: alpha's key is free for beta; beta's own is a 409 naming beta's task.
    const batch = await as(keys['submitter-beta'])('POST', '/tasks/batch', { tasks: [task('weekly-report')] });
    const alphaBatch = await as(keys['submitter-alpha'])('POST', '/tasks/batch', { tasks: [task('weekly-report')] });
    expect([batch.status, alphaBatch.status]).toEqual([201, 201]);
    const again = await as(keys['submitter-alpha'])('POST', '/tasks/batch', { tasks: [task('weekly-report')] });
    expect(again.status).toBe(409);
    expect(again.body.detail).toBe(`idempotency_key "weekly-report" is already used by task ${alphaBatch.body.items[0].id}; nothing was stored`);
    const crossed = await as(keys['submitter-beta'])('POST', '/tasks/batch', { tasks: [task('nightly-report')] });
    expect(crossed.status).toBe(409);
    expect(crossed.body.detail).toContain(b.body.id);
    expect(crossed.body.detail).not.toContain(a.body.id);
  });

  it("refuses with 403 naming the rule what a task asks beyond its tenant's policy", async () => {
    const r = await as(keys['submitter-alpha'])('POST', '/tasks', { image: 'jarvis-test/busybox:latest', command: 'true', network: 'host' });
    expect(r.status).toBe(403);
    expect(r.body.detail).toBe('network "host" is not allowed for tenant alpha: an admin must set tenants.policies.alpha.allow_host_network: true');
    const w = await as(keys['submitter-alpha'])('POST', '/workflows', { tasks: [{ key: 'h', image: 'x', network: 'host' }] });
    expect(w.status).toBe(403);
    expect(w.body.detail).toMatch(/^task "h": network "host" is not allowed/);
  });

  it('lets a node register only with the registration token or an admin key once keys are in use', async () => {
    const body = { name: 'n-reg', hostname: 'h', capacity: { cpu: 1, memory_mb: 128, gpu: 0, max_tasks: 1 } };
    const none = await as(null)('POST', '/nodes/register', body);
    expect(none.status).toBe(401);
    expect(none.body.detail).toMatch(/registration token .* or an admin API key/);
    expect((await as(keys['submitter-alpha'])('POST', '/nodes/register', body)).status).toBe(401);
    // Not an operator: a node is handed every tenant's secrets, and registering an existing
    // node's name answers with that node's token.
    expect((await as(keys['operator-alpha'])('POST', '/nodes/register', body)).status).toBe(401);
    const ok = await as(ADMIN)('POST', '/nodes/register', body);
    expect(ok.status).toBe(201);
    // The node asks about its attempts with its own token, and nobody else can.
    const path = `/nodes/${ok.body.id}/attempts/${ANY_ID}?attempt=1`;
    expect((await as(ok.body.token)('GET', path)).body).toEqual({ task_id: ANY_ID, attempt: 1, owned: false, status: null });
    expect((await as(ADMIN)('GET', path)).status).toBe(401);
    // Who joined the cluster, and who tried, is in the audit log (by client: a node holds no key).
    // The three refusals within a second are one record with their count (as for keys).
    const records = (await as(ADMIN)('GET', '/audit?action=node.register&limit=50')).body.items as Array<{ status: number; count: number; key_id: string | null; client: string | null }>;
    expect(records.map((r) => [r.status, r.count]).sort()).toEqual([[201, 1], [401, 3]]);
    expect(records.every((r) => r.key_id === null && r.client)).toBe(true);
    await as(ADMIN)('DELETE', `/nodes/${ok.body.id}`);
  });

  it('stores secrets per tenant and never answers with a value', async () => {
    const r = await as(keys['submitter-alpha'])('POST', '/secrets', { name: 'db', value: 'hunter2-value' });
    expect(r.status).toBe(503); // this server has no JARVIS_SECRET_KEY
    expect(r.body.detail).toMatch(/JARVIS_SECRET_KEY/);
  });
});

describe('refused credentials per address', () => {
  let jarvis: Awaited<ReturnType<typeof startJarvis>>;
  const REG = 'short-reg-token';
  beforeAll(async () => {
    jarvis = await startJarvis({ command: 'server', databaseUrl: null, env: { JARVIS_ADMIN_KEY: ADMIN, JARVIS_REGISTRATION_TOKEN: REG, JARVIS_REFUSALS_BURST: '3', JARVIS_REFUSALS_PER_S: '1' } });
  });
  afterAll(async () => {
    await jarvis?.stop();
  });

  it('holds an address off, right key or wrong, once too many of its keys or tokens were refused; no key is no guess', async () => {
    const call = (key: string | null, method = 'GET', path = '/tasks', body?: unknown) =>
      api(jarvis.url).call(method, path, body, key ? { authorization: `Bearer ${key}` } : {});
    const register = (token: string) => call(token, 'POST', '/nodes/register', { name: 'guess', hostname: 'h', capacity: { cpu: 1, memory_mb: 128, max_tasks: 1 } });
    const csrf = 'c'.repeat(43);
    const signIn = (key: string) =>
      fetch(`${jarvis.url}/ui/login`, { method: 'POST', headers: { origin: jarvis.url, cookie: `jarvis_ui_csrf=${csrf}` }, body: new URLSearchParams({ key, _csrf: csrf }), redirect: 'manual' });
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const node = (await register(REG)).body as { id: string; token: string };
    const beat = () => call(node.token, 'POST', `/nodes/${node.id}/heartbeat`, { cpu_percent: 1, memory_used_mb: 1, running_task_ids: [], engine: 'ok' });
    for (let i = 0; i < 10; i++) expect((await call(null)).status).toBe(401); // no key: not counted
    // A wrong key, a wrong registration token and a wrong key at the dashboard's sign-in count alike.
    // (A wrong node token does not count: it is no guess at anything a person chose.)
    expect((await call('wrong-node-token', 'POST', `/nodes/${node.id}/heartbeat`, { cpu_percent: 1, memory_used_mb: 1, running_task_ids: [], engine: 'ok' })).status).toBe(401);
    expect((await call('jvk_guess-1')).status).toBe(401);
    expect((await register('guess-2')).status).toBe(401);
    expect((await signIn('jvk_guess-3')).status).toBe(401);
    expect((await call('jvk_guess-4')).status).toBe(401); // the burst of 3 is spent by this one
    // ADMIN (31 characters) and REG are short enough to be guessed: the right one now waits too,
    // so a guess cannot tell (a long one, or a generated key, is let through: next describe).
    const held = await call(ADMIN);
    expect(held.status).toBe(429);
    expect(held.body.detail).toMatch(/^Too many refused credentials from your address; retry in 1 s$/);
    expect(held.headers.get('retry-after')).toBe('1');
    expect((await register(REG)).status).toBe(429);
    expect((await signIn(ADMIN)).status).toBe(429);
    expect((await call(null)).status).toBe(401);
    // A node's own token is random, and its heartbeats are never held off (its node would go offline).
    expect((await beat()).status).toBe(200);
    await sleep(1_200);
    expect((await call(ADMIN)).status).toBe(200);
    // The audit log has the held-off attempts.
    const audit = (await call(ADMIN, 'GET', '/audit?limit=100')).body.items as Array<{ status: number }>;
    expect(audit.some((r) => r.status === 429)).toBe(true);
  });
});

describe("others' refused credentials from one address (a NAT, a proxy)", () => {
  let jarvis: Awaited<ReturnType<typeof startJarvis>>;
  // Long, but chosen by an operator: held off with the address all the same (length is not
  // entropy); only generated keys are let through.
  const LONG_ADMIN = 'long-admin-key-0123456789abcdef-0123456789';
  const LONG_REG = 'long-registration-token-0123456789abcdef';
  beforeAll(async () => {
    // The default burst (30); a slow refill, so no token comes back during the test.
    jarvis = await startJarvis({
      command: 'server',
      databaseUrl: null,
      env: { JARVIS_ADMIN_KEY: LONG_ADMIN, JARVIS_REGISTRATION_TOKEN: LONG_REG, JARVIS_REFUSALS_BURST: '30', JARVIS_REFUSALS_PER_S: '0.05' },
    });
  });
  afterAll(async () => {
    await jarvis?.stop();
  });

  it('holds off all but generated keys that turn out right: such a key from the same address is served', async () => {
    const call = (key: string | null, method = 'GET', path = '/tasks', body?: unknown) =>
      api(jarvis.url).call(method, path, body, key ? { authorization: `Bearer ${key}` } : {});
    const register = (token: string, name: string) => call(token, 'POST', '/nodes/register', { name, hostname: 'h', capacity: { cpu: 1, memory_mb: 128, max_tasks: 1 } });
    const made = await call(LONG_ADMIN, 'POST', '/auth/keys', { name: 'alice', role: 'submitter', tenant: 'alice' });
    expect(made.status).toBe(201);
    const alice = made.body.key as string;
    const admin = (await call(LONG_ADMIN, 'POST', '/auth/keys', { name: 'ops', role: 'admin', tenant: 'default' })).body.key as string;
    // Someone behind the same address guesses: 40 bad keys, some shaped as generated ones.
    const guesses = Array.from({ length: 40 }, (_, i) => (i % 2 ? `jvk_${'x'.repeat(39)}${String(i).padStart(4, '0')}` : `guess-${i}`));
    const answers: number[] = [];
    for (const g of guesses) answers.push((await call(g)).status);
    // The burst of 30, and the one that found the bucket empty, are checked; the rest held off.
    expect(answers.slice(0, 31)).toEqual(Array(31).fill(401));
    expect(answers.slice(31)).toEqual(Array(9).fill(429));
    // Before session 32: 429 for each of these too, right or wrong, as long as one bad key a second came.
    expect((await call(alice)).status).toBe(200);
    expect((await call(alice, 'POST', '/tasks', { image: 'alpine:3.19', command: ['true'] })).status).toBe(201);
    expect((await register(admin, 'by-key')).status).toBe(201);
    // The dashboard alike: alice signs in, and her session's pages are served.
    const session = await signInWithFetch(jarvis.url, alice);
    const page = await fetch(`${jarvis.url}/ui/tasks`, { headers: { cookie: session.cookie }, redirect: 'manual' });
    expect(page.status).toBe(200);
    // Chosen secrets are held off however long (a0b5df6 let these through unlimited and uncounted,
    // so they could be guessed at full speed from a held-off address): right, and still 429.
    expect((await call(LONG_ADMIN)).status).toBe(429);
    expect((await register(LONG_REG, 'by-token')).status).toBe(429);
    const csrf = 'c'.repeat(43);
    const signIn = await fetch(`${jarvis.url}/ui/login`, {
      method: 'POST',
      headers: { origin: jarvis.url, cookie: `jarvis_ui_csrf=${csrf}` },
      body: new URLSearchParams({ key: LONG_ADMIN, _csrf: csrf }),
      redirect: 'manual',
    });
    expect(signIn.status).toBe(429);
    // The guesses are still held off, each kind, without being checked.
    expect((await call(guesses[1])).status).toBe(429);
    expect((await call('guess-again')).status).toBe(429);
    expect((await call(`jvk_${'y'.repeat(43)}`)).status).toBe(429);
    expect((await register('long-registration-token-0123456789abcdeX', 'nope')).status).toBe(429);
    expect((await register('short', 'nope')).status).toBe(429);
    // A revoked key is refused as any unknown key is (the cache forgets it in this process at once).
    const keys = (await call(admin, 'GET', '/auth/keys')).body.items as Array<{ id: string; name: string }>;
    expect((await call(admin, 'DELETE', `/auth/keys/${keys.find((k) => k.name === 'alice')!.id}`)).status).toBe(204);
    expect((await call(alice)).status).toBe(429);
  });
});

describe('open mode and the first key', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  const running: JarvisProcess[] = [];
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    for (const p of running) await p.shutdown();
    await db?.drop();
  });
  const env = () => ({ ...(process.env as Record<string, string>), REDIS_URL, JARVIS_REDIS_PREFIX: uniquePrefix(), DATABASE_URL: db.url, PORT: '0', JARVIS_ADMIN_KEY: '' });

  it('refuses to listen on a non-loopback address with no key, saying how to make one', async () => {
    const p = spawnJarvis(['server', '--host', '0.0.0.0'], env());
    running.push(p);
    expect(await p.exited).toBe(2);
    expect(p.output()).toContain('refusing to listen on 0.0.0.0 with no API key');
    expect(p.output()).toContain('npx jarvis keys create');
  });

  it('starts with --insecure, knowingly, in open mode', async () => {
    const p = spawnJarvis(['server', '--host', '0.0.0.0', '--insecure'], env());
    running.push(p);
    const url = (await p.waitFor(/Jarvis is up at (http:\/\/\S+)/, 60_000))[1].replace('0.0.0.0', '127.0.0.1');
    expect((await api(url).get('/tasks')).status).toBe(200);
    await p.stop();
  });

  it('makes the first key with the CLI; then the API needs it, and the key works', async () => {
    const p = spawnJarvis(['server'], env());
    running.push(p);
    const url = (await p.waitFor(/Jarvis is up at (http:\/\/\S+)/, 60_000))[1];
    expect((await api(url).get('/tasks')).status).toBe(200); // open mode on loopback
    // A web page re-pointed at 127.0.0.1 (DNS rebinding) sends its own name: open mode refuses it,
    // on the API and the dashboard; loopback names are served.
    const port = Number(new URL(url).port);
    const withHost = (path: string, host: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
          let body = '';
          res.on('data', (d) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        req.end();
      });
    const rebound = await withHost('/tasks', `attacker.example:${port}`);
    expect(rebound.status).toBe(403);
    expect(JSON.parse(rebound.body).detail).toMatch(/^Open mode \(no API key exists\) answers only requests addressed to a loopback name/);
    expect((await withHost('/ui/tasks', `attacker.example:${port}`)).status).toBe(403);
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`]) expect((await withHost('/tasks', host)).status, host).toBe(200);
    const made = await runCli(['keys', 'create', '--name', 'first', '--role', 'admin'], { DATABASE_URL: db.url });
    expect(made.code, made.stderr).toBe(0);
    const key = made.stdout.trim();
    expect(key).toMatch(/^jvk_/);
    expect(made.stderr).toContain('shown this once');
    await new Promise((r) => setTimeout(r, 1_000));
    expect((await api(url).get('/tasks')).status).toBe(401);
    expect((await api(url).call('GET', '/tasks', undefined, { authorization: `Bearer ${key}` })).status).toBe(200);
    const cli = await runCli(['tasks', '--api-url', url], { JARVIS_API_KEY: key });
    expect(cli.code, cli.stderr).toBe(0);
    const noKey = await runCli(['tasks', '--api-url', url], { JARVIS_API_KEY: '' });
    expect(noKey.code).not.toBe(0);
    expect(noKey.stderr).toContain('set JARVIS_API_KEY');
    const list = await runCli(['keys', 'list'], { DATABASE_URL: db.url });
    expect(list.stdout).toContain('first');
    expect(list.stdout).not.toContain(key);
    const bad = await runCli(['keys', 'create', '--name', 'x', '--role', 'root'], { DATABASE_URL: db.url });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--role must be one of admin, operator, submitter, viewer');
  });

  it('keeps /metrics, when not public, to operator and admin keys (it names every tenant), and the docs, when not public, to keys', async () => {
    const p = spawnJarvis(['server'], { ...env(), JARVIS_ADMIN_KEY: ADMIN, JARVIS_PUBLIC_METRICS: 'false', JARVIS_PUBLIC_DOCS: 'false' });
    running.push(p);
    const url = (await p.waitFor(/Jarvis is up at (http:\/\/\S+)/, 60_000))[1];
    const call = (key: string | null) => api(url).call('GET', '/metrics', undefined, key ? { authorization: `Bearer ${key}` } : {});
    const made: Record<string, string> = {};
    for (const role of ROLES) made[role] = (await api(url).call('POST', '/auth/keys', { name: `m-${role}`, role, tenant: 'alpha' }, { authorization: `Bearer ${ADMIN}` })).body.key;
    expect((await call(null)).status).toBe(401);
    for (const role of ['viewer', 'submitter'] as const) {
      const r = await call(made[role]);
      expect(r.status, role).toBe(403);
      expect(r.body.detail).toBe(`This needs the operator role; your key has the ${role} role`);
    }
    for (const role of ['operator', 'admin'] as const) expect((await call(made[role])).status, role).toBe(200);
    for (const path of ['/openapi.json', '/docs', '/redoc']) {
      expect((await api(url).get(path)).status, path).toBe(401);
      expect((await api(url).call('GET', path, undefined, { authorization: `Bearer ${made.viewer}` })).status, path).toBe(200);
    }
    expect((await api(url).get('/health')).status).toBe(200);
  });
});
