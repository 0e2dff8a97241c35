// Webhooks through the HTTP API and a local receiver: every event of the tenant's tasks and
// workflows arrives signed with the secret, in order per task; a failing receiver gets retries
// and the delivery log shows its answers; a delivery can be re-sent; a control plane killed
// mid-retry delivers after its restart; the secret is never in an answer or a log line.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifySignature } from '../src/webhook/signature.ts';
import { createTestDatabase } from './support/database.ts';
import { TEST_IMAGE } from './support/env.ts';
import { api, spawnJarvis, spawnSimulatedNodes, startJarvis, uniquePrefix } from './support/jarvis.ts';
import { removeLeftovers } from './support/leftovers.ts';

// Redis keys and task containers of this file's processes; first, so that it runs after the
// other after-hooks, once those processes are stopped.
afterAll(removeLeftovers);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

interface Received {
  body: string;
  event: {
    id: string;
    type: string;
    at: string;
    data: {
      task?: { id: string; status: string; workflow_id?: string | null; workflow_key?: string | null; outputs?: Record<string, string>; result?: string | null };
      workflow?: { id: string; status: string; schedule_id?: string | null };
    };
  };
  signature: string | undefined;
  eventId: string | undefined;
  deliveryId: string | undefined;
  status: number;
}

/** A local receiver; `answer` picks each request's status code. */
async function receiver(answer: (n: number, r: IncomingMessage) => number = () => 200) {
  const got: Received[] = [];
  let n = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      const status = answer(++n, req);
      got.push({
        body,
        event: JSON.parse(body),
        signature: req.headers['x-jarvis-signature-256'] as string | undefined,
        eventId: req.headers['x-jarvis-event-id'] as string | undefined,
        deliveryId: req.headers['x-jarvis-delivery-id'] as string | undefined,
        status,
      });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => server.close(r)));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got };
}

async function until<T>(what: string, fn: () => Promise<T | null | undefined | false> | T | null | undefined | false, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

const SECRET = `whsec-${randomBytes(16).toString('hex')}`;
const SECRET_KEY = randomBytes(32).toString('hex');

describe('webhooks', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let server: Awaited<ReturnType<typeof startJarvis>>;
  let http: ReturnType<typeof api>;
  const prefix = uniquePrefix();
  const env = { JARVIS_SECRET_KEY: SECRET_KEY, JARVIS_WEBHOOK_RETRY_BASE_SECONDS: '0.5' };
  const answers: unknown[] = [];
  const call = async (method: string, path: string, body?: unknown) => {
    const r = await http.call(method, path, body);
    answers.push(r.body);
    return r;
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    cleanups.push(() => db.drop());
    server = await startJarvis({ command: 'server', databaseUrl: db.url, prefix, env });
    cleanups.push(() => server.stop());
    const nodes = spawnSimulatedNodes(server, `sim-${prefix}`, 1, { cpu: 64, memoryMb: 65536, maxTasks: 100 });
    cleanups.push(() => nodes.stop());
    await nodes.waitFor(/worker: registered/, 30_000);
    http = api(server.url);
  }, 90_000);

  it('posts every event signed, in order per task, and never shows the secret', async () => {
    const rx = await receiver();
    const created = await call('POST', '/webhooks', { url: rx.url, events: ['task.*', 'workflow.*'], secret: SECRET });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ id: expect.any(String), tenant: 'default', url: rx.url, events: ['task.*', 'workflow.*'], created_at: expect.any(String) });
    expect((await call('GET', `/webhooks/${created.body.id}`)).body.url).toBe(rx.url);
    expect((await call('GET', '/webhooks')).body.total).toBe(1);

    const tasks = (await call('POST', '/tasks/batch', { tasks: Array.from({ length: 5 }, (_, i) => ({ image: 'sim', name: `t${i}`, labels: { 'jarvis.sim/duration_ms': '100' } })) })).body.items;
    const wf = (await call('POST', '/workflows', { name: 'w', tasks: [{ key: 'a', image: 'sim' }, { key: 'b', image: 'sim', depends_on: ['a'] }] })).body;

    const byTask = (id: string) => rx.got.filter((g) => g.event.data.task?.id === id).map((g) => g.event.type);
    for (const t of tasks) await until(`events of ${t.id}`, () => byTask(t.id).includes('task.succeeded'));
    for (const t of tasks) expect(byTask(t.id)).toEqual(['task.queued', 'task.running', 'task.succeeded']);
    await until('workflow.succeeded', () => rx.got.some((g) => g.event.type === 'workflow.succeeded'));
    expect(rx.got.filter((g) => g.event.data.workflow?.id === wf.id).map((g) => g.event.type)).toEqual(['workflow.running', 'workflow.succeeded']);
    // b was pending first (no event), then queued once a succeeded.
    const b = wf.tasks.find((t: { workflow_key: string }) => t.workflow_key === 'b');
    await until('b done', () => byTask(b.id).includes('task.succeeded'));
    expect(byTask(b.id)).toEqual(['task.queued', 'task.running', 'task.succeeded']);

    for (const g of rx.got) {
      expect(verifySignature(SECRET, g.body, g.signature)).toBe(true);
      expect(verifySignature('another-secret-entirely', g.body, g.signature)).toBe(false);
      expect(g.eventId).toBe(g.event.id);
      expect(g.deliveryId).toMatch(/^[0-9a-f-]{36}$/);
    }
    expect(new Set(rx.got.map((g) => g.eventId)).size).toBe(rx.got.length);

    // Each request reaches the receiver before its sender has the answer and records it.
    const log = await until('every delivery recorded', async () => {
      const l = await call('GET', `/webhooks/${created.body.id}/deliveries?limit=500`);
      return l.status !== 200 || l.body.items.every((d: { status: string }) => d.status === 'delivered') ? l : null;
    }, 10_000);
    expect(log.status).toBe(200);
    expect(log.body.total).toBe(rx.got.length);
    for (const d of log.body.items) expect(d).toMatchObject({ status: 'delivered', attempts: 1, response_code: 200, last_error: null });
    await call('DELETE', `/webhooks/${created.body.id}`);
  }, 60_000);

  it('retries a failing receiver with backoff, keeps order per task, and re-sends by hand', async () => {
    // 500 to the first three requests, then 200.
    const rx = await receiver((n) => (n <= 3 ? 500 : 200));
    const hook = (await call('POST', '/webhooks', { url: rx.url, events: ['task.queued', 'task.succeeded'], secret: SECRET })).body;
    const t = (await call('POST', '/tasks', { image: 'sim', labels: { 'jarvis.sim/duration_ms': '50' } })).body;
    await until('succeeded delivered', () => rx.got.some((g) => g.status === 200 && g.event.type === 'task.succeeded'), 30_000);
    // The queued event was tried 4 times (3 × 500, then 200) before succeeded was sent at all.
    expect(rx.got.map((g) => `${g.event.type} ${g.status}`)).toEqual(['task.queued 500', 'task.queued 500', 'task.queued 500', 'task.queued 200', 'task.succeeded 200']);
    expect(new Set(rx.got.slice(0, 4).map((g) => g.deliveryId)).size).toBe(1); // one delivery, four attempts
    expect(new Set(rx.got.slice(0, 4).map((g) => g.eventId)).size).toBe(1);
    const log = await until('both deliveries recorded', async () => {
      const items = (await call('GET', `/webhooks/${hook.id}/deliveries`)).body.items;
      return items.length === 2 && items.every((d: { status: string }) => d.status === 'delivered') ? items : null;
    }, 10_000);
    const queued = log.find((d: { event_type: string }) => d.event_type === 'task.queued');
    expect(queued).toMatchObject({ status: 'delivered', attempts: 4, response_code: 200, last_error: null });
    expect(log.find((d: { event_type: string }) => d.event_type === 'task.succeeded')).toMatchObject({ status: 'delivered', attempts: 1 });
    expect(t.id).toBe(rx.got[0].event.data.task!.id);

    // Re-send: same event id and body, a new delivery id.
    const again = await call('POST', `/webhooks/${hook.id}/deliveries/${queued.id}/redeliver`);
    expect(again.status).toBe(201);
    expect(again.body).toMatchObject({ status: 'pending', event_id: queued.event_id, redelivery: true });
    await until('redelivery', () => rx.got.length === 6);
    expect(rx.got[5]).toMatchObject({ eventId: queued.event_id, deliveryId: again.body.id, body: rx.got[3].body, status: 200 });
    expect((await call('POST', `/webhooks/${hook.id}/deliveries/00000000-0000-4000-8000-000000000000/redeliver`)).status).toBe(404);
    await call('DELETE', `/webhooks/${hook.id}`);
  }, 60_000);

  it('refuses to re-send a delivery that is still pending: it would arrive twice', async () => {
    const rx = await receiver(() => 500);
    const hook = (await call('POST', '/webhooks', { url: rx.url, events: ['task.queued'], secret: SECRET })).body;
    await call('POST', '/tasks', { image: 'sim', labels: { 'jarvis.sim/duration_ms': '10' } });
    const pending = await until('a failed attempt', async () => {
      const items = (await call('GET', `/webhooks/${hook.id}/deliveries`)).body.items as Array<{ id: string; status: string; attempts: number }>;
      return items.find((d) => d.status === 'pending' && d.attempts >= 1);
    });
    const r = await call('POST', `/webhooks/${hook.id}/deliveries/${pending.id}/redeliver`);
    expect(r.status).toBe(409);
    expect(r.body.detail).toMatch(/^This delivery is still pending \(\d+ attempts? so far\); it is sent or retried by itself/);
    expect((await call('GET', `/webhooks/${hook.id}/deliveries`)).body.total).toBe(1);
    await call('DELETE', `/webhooks/${hook.id}`);
  });

  it("gives each event its own end: none to a queued or running event, none to an end a retry replaced, though the outbox reads them late", async () => {
    // The body's exit code, result and outputs were read from the task row as it was when the
    // outbox got to the event: a late read gave task.queued and task.running the final exit code,
    // and an attempt's task.failed the values of the attempt that replaced it.
    const rx = await receiver();
    const hook = (await call('POST', '/webhooks', { url: rx.url, events: ['task.*'], secret: SECRET })).body;
    const pg = (await import('pg')).default;
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    cleanups.push(() => holder.end());
    // The outbox reads the webhooks before each page of events: while they are locked, it reads
    // nothing, and reads these events only after both attempts have ended.
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE webhooks IN ACCESS EXCLUSIVE MODE');
    const t = (await call('POST', '/tasks', { image: 'sim', max_retries: 0, labels: { 'jarvis.sim/duration_ms': '10', 'jarvis.sim/exit_code': '3' } })).body;
    await http.waitForTask(t.id, (x) => x.status === 'failed' && x.attempts === 1);
    expect((await call('POST', `/tasks/${t.id}/retry`)).status).toBe(200);
    await http.waitForTask(t.id, (x) => x.status === 'failed' && x.attempts === 2);
    await holder.query('COMMIT');
    const mine = () => rx.got.filter((g) => g.event.data.task?.id === t.id);
    await until('both ends delivered', () => mine().filter((g) => g.event.type === 'task.failed').length === 2);
    const sent = mine().map((g) => [g.event.type, (g.event.data.task as { exit_code?: number | null }).exit_code]);
    expect(sent).toEqual([
      ['task.queued', null],
      ['task.running', null],
      ['task.failed', null], // attempt 1's end, read after attempt 2 replaced it
      ['task.queued', null],
      ['task.running', null],
      ['task.failed', 3],
    ]);
    await call('DELETE', `/webhooks/${hook.id}`);
  });

  it('hears only events from after it was made, even those the outbox reads late', async () => {
    // An open transaction holds the outbox back: events after it are not final until it ends,
    // so they are read after the webhook below exists.
    const pg = (await import('pg')).default;
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    cleanups.push(() => holder.end());
    await holder.query('BEGIN');
    await holder.query('SELECT txid_current()');
    const before = (await call('POST', '/tasks', { image: 'sim', labels: { 'jarvis.sim/duration_ms': '10' } })).body;
    await http.waitForTask(before.id, (t) => t.status === 'succeeded');
    await sleep(50);
    const rx = await receiver();
    const hook = (await call('POST', '/webhooks', { url: rx.url, events: ['task.*'], secret: SECRET })).body;
    await holder.query('COMMIT');
    const after = (await call('POST', '/tasks', { image: 'sim', labels: { 'jarvis.sim/duration_ms': '10' } })).body;
    await until('the later task delivered', () => rx.got.some((g) => g.event.type === 'task.succeeded' && g.event.data.task!.id === after.id));
    await sleep(500);
    expect(rx.got.filter((g) => g.event.data.task!.id === before.id).map((g) => g.event.type)).toEqual([]);
    await call('DELETE', `/webhooks/${hook.id}`);
  });

  it('sends one task.queued per wait: a held task whose reason changes (a quota) is not queued again', async () => {
    const rx = await receiver();
    const hook = (await call('POST', '/webhooks', { url: rx.url, events: ['task.queued', 'task.succeeded'], secret: SECRET })).body;
    expect((await call('PUT', '/tenants/default', { quota: { max_running: 1 } })).status).toBe(200);
    cleanups.push(() => http.call('PUT', '/tenants/default', { quota: { max_running: null } }));
    const tasks = (await call('POST', '/tasks/batch', { tasks: Array.from({ length: 3 }, (_, i) => ({ image: 'sim', name: `q${i}`, labels: { 'jarvis.sim/duration_ms': '800' } })) })).body.items;
    const byTask = (id: string) => rx.got.filter((g) => g.event.data.task?.id === id).map((g) => g.event.type);
    for (const t of tasks) await until(`${t.id} succeeded`, () => byTask(t.id).includes('task.succeeded'));
    // The history shows why each waited (held by the quota: more than one queued entry for some) …
    const queuedEntries = await Promise.all(tasks.map(async (t: { id: string }) => (await call('GET', `/tasks/${t.id}/events`)).body.items.filter((e: { status: string }) => e.status === 'queued').length));
    expect(Math.max(...queuedEntries), 'a reason recorded while held').toBeGreaterThan(1);
    // … and the webhook heard one task.queued each.
    for (const t of tasks) expect(byTask(t.id)).toEqual(['task.queued', 'task.succeeded']);
    await call('DELETE', `/webhooks/${hook.id}`);
  });

  it('refuses a URL that is not http(s) and a weak secret', async () => {
    for (const url of ['file:///etc/passwd', 'gopher://x', 'ftp://example.com/', 'not a url', 'http://user:pw@example.com/']) {
      const r = await call('POST', '/webhooks', { url, events: ['*'], secret: SECRET });
      expect(r.status, url).toBe(422);
      expect(r.body.detail[0].loc).toEqual(['body', 'url']);
    }
    const weak = await call('POST', '/webhooks', { url: 'http://127.0.0.1:1/', events: ['*'], secret: 'short' });
    expect(weak.status).toBe(422);
    // A 422 shows a secret as Pydantic shows a SecretStr, and a URL's password hidden.
    expect(weak.body.detail).toEqual([expect.objectContaining({ type: 'string_too_short', loc: ['body', 'secret'], input: '**********' })]);
    const noEvents = await call('POST', '/webhooks', { url: 'http://127.0.0.1:1/', secret: SECRET });
    expect(noEvents.body.detail).toEqual([expect.objectContaining({ type: 'missing', loc: ['body', 'events'], input: { url: 'http://127.0.0.1:1/', secret: '**********' } })]);
    const withPassword = await call('POST', '/webhooks', { url: 'http://user:hunter2-pw@example.com/', events: ['*'], secret: SECRET });
    expect(JSON.stringify(withPassword.body)).not.toContain('hunter2-pw');
    const unknown = await call('POST', '/webhooks', { url: 'http://127.0.0.1:1/', events: ['task.exploded'], secret: SECRET });
    expect(unknown.status).toBe(422);
    expect(unknown.body.detail[0].loc).toEqual(['body', 'events', 0]);
  });

  it('delivers after a control plane restart in the middle of retrying', async () => {
    let failing = true;
    const rx = await receiver(() => (failing ? 503 : 200));
    const hook = (await call('POST', '/webhooks', { url: rx.url, events: ['task.succeeded'], secret: SECRET })).body;
    const t = (await call('POST', '/tasks', { image: 'sim', labels: { 'jarvis.sim/duration_ms': '50' } })).body;
    await until('a failed attempt', () => rx.got.length >= 2);
    await server.stop('SIGKILL');
    failing = false;
    const seenBefore = rx.got.length;
    server = await startJarvis({ command: 'server', databaseUrl: db.url, prefix, env });
    cleanups.push(() => server.stop());
    http = api(server.url);
    await until('delivered after the restart', () => rx.got.some((g) => g.status === 200), 30_000);
    expect(rx.got.length).toBeGreaterThan(seenBefore);
    const ok = rx.got.filter((g) => g.status === 200);
    expect(ok).toHaveLength(1);
    expect(ok[0].event.data.task!.id).toBe(t.id);
    expect(new Set(rx.got.map((g) => g.deliveryId)).size).toBe(1);
    // The receiver sees the request before the sender has its answer and records it.
    const d = await until('the delivery recorded as delivered', async () => {
      const item = (await call('GET', `/webhooks/${hook.id}/deliveries`)).body.items[0];
      return item?.status === 'delivered' ? item : null;
    }, 10_000);
    expect(d).toMatchObject({ status: 'delivered', response_code: 200 });
    // An attempt the killed control plane made but had not recorded yet is sent again (at least once).
    expect(d.attempts).toBeGreaterThanOrEqual(rx.got.length - 1);
    expect(d.attempts).toBeLessThanOrEqual(rx.got.length);

    // The secret was never in an answer or a log line.
    expect(JSON.stringify(answers)).not.toContain(SECRET);
    expect(server.output()).not.toContain(SECRET);
  }, 90_000);
});

describe('tenants', () => {
  it("a tenant's webhook hears only its tenant's events; another tenant's webhook or schedule is a 404", async () => {
    const ADMIN = `admin-${randomBytes(12).toString('hex')}`;
    const db = await createTestDatabase();
    cleanups.push(() => db.drop());
    const token = randomBytes(16).toString('hex');
    const server = await startJarvis({ command: 'server', databaseUrl: db.url, env: { JARVIS_SECRET_KEY: SECRET_KEY, JARVIS_ADMIN_KEY: ADMIN, JARVIS_REGISTRATION_TOKEN: token } });
    cleanups.push(() => server.stop());
    const nodes = spawnJarvis(['worker', '--executor', 'simulated', '--name', `sim-${server.prefix}`], {
      ...(process.env as Record<string, string>),
      JARVIS_REDIS_PREFIX: server.prefix,
      JARVIS_API_URL: server.url,
      JARVIS_REGISTRATION_TOKEN: token,
    });
    cleanups.push(() => nodes.stop());
    const as = (key: string) => (method: string, path: string, body?: unknown) => api(server.url).call(method, path, body, { authorization: `Bearer ${key}` });
    const key = async (tenant: string, role: string) => (await as(ADMIN)('POST', '/auth/keys', { name: `${role}-${tenant}`, role, tenant })).body.key as string;
    const alpha = as(await key('alpha', 'submitter'));
    const beta = as(await key('beta', 'submitter'));
    const alphaViewer = as(await key('alpha', 'viewer'));
    await nodes.waitFor(/worker: registered/, 30_000);

    const rx = await receiver();
    const hook = (await alpha('POST', '/webhooks', { url: rx.url, events: ['task.succeeded'], secret: SECRET })).body;
    expect(hook.tenant).toBe('alpha');
    expect((await beta('GET', `/webhooks/${hook.id}`)).status).toBe(404);
    expect((await beta('GET', `/webhooks/${hook.id}/deliveries`)).status).toBe(404);
    expect((await beta('DELETE', `/webhooks/${hook.id}`)).status).toBe(404);
    expect((await beta('GET', '/webhooks')).body.total).toBe(0);
    expect((await alphaViewer('POST', '/webhooks', { url: rx.url, events: ['*'], secret: SECRET })).status).toBe(403);
    // A URL whose path is its credential (a Slack-style hook): whole to who manages webhooks, its origin to a viewer.
    const origin = new URL(rx.url).origin;
    const slack = (await alpha('POST', '/webhooks', { url: `${origin}/services/T000/B000/XXXXSECRETXXXX?k=v`, events: ['workflow.succeeded'], secret: SECRET })).body;
    expect(slack.url).toBe(`${origin}/services/T000/B000/XXXXSECRETXXXX?k=v`);
    expect((await alpha('GET', `/webhooks/${slack.id}`)).body.url).toBe(slack.url);
    expect((await alphaViewer('GET', `/webhooks/${slack.id}`)).body.url).toBe(`${origin}/*****`);
    const seen = await alphaViewer('GET', '/webhooks');
    expect(seen.body.total).toBe(2);
    expect(JSON.stringify(seen.body)).not.toContain('XXXXSECRETXXXX');
    expect((await alpha('DELETE', `/webhooks/${slack.id}`)).status).toBe(204);

    const sched = (await alpha('POST', '/schedules', { name: 'a', cron: '0 0 1 1 *', task: { image: 'sim' } })).body;
    expect(sched.tenant).toBe('alpha');
    expect((await beta('GET', `/schedules/${sched.id}`)).status).toBe(404);
    expect((await beta('POST', `/schedules/${sched.id}/trigger`)).status).toBe(404);
    expect((await beta('PATCH', `/schedules/${sched.id}`, { paused: true })).status).toBe(404);
    expect((await beta('GET', '/schedules')).body.total).toBe(0);

    const bt = (await beta('POST', '/tasks', { image: 'sim' })).body;
    const run = (await alpha('POST', `/schedules/${sched.id}/trigger`)).body.run;
    expect((await alpha('GET', `/tasks/${run.id}`)).body.tenant).toBe('alpha');
    await until('alpha run delivered', () => rx.got.some((g) => g.event.data.task?.id === run.id));
    await until('beta task done', async () => (await beta('GET', `/tasks/${bt.id}`)).body.status === 'succeeded');
    await sleep(1_000);
    expect(rx.got.map((g) => g.event.data.task?.id)).toEqual([run.id]);
    const log = await alphaViewer('GET', `/webhooks/${hook.id}/deliveries`);
    expect(log.status).toBe(200);
    expect(log.body.items).toHaveLength(1);
  }, 90_000);
});

it('a control plane told to refuse private addresses refuses a loopback webhook, and does not send to one made before', async () => {
  const db = await createTestDatabase();
  cleanups.push(() => db.drop());
  // Made while private addresses were allowed; the server is then restarted refusing them.
  const rx = await receiver();
  const before = await startJarvis({ command: 'server', databaseUrl: db.url, env: { JARVIS_SECRET_KEY: SECRET_KEY, JARVIS_WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'true' } });
  const old = await api(before.url).post('/webhooks', { url: rx.url, events: ['task.queued'], secret: SECRET });
  expect(old.status).toBe(201);
  await before.stop();
  const server = await startJarvis({ command: 'server', databaseUrl: db.url, prefix: before.prefix, env: { JARVIS_SECRET_KEY: SECRET_KEY, JARVIS_WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'false' } });
  cleanups.push(() => server.stop());
  const http = api(server.url);
  expect((await http.post('/tasks', { image: 'sim' })).status).toBe(201);
  // The address is written in the URL (no DNS lookup, where the check of names runs).
  const refused = await until('the delivery refused', async () => {
    const d = (await http.get(`/webhooks/${old.body.id}/deliveries`)).body.items?.[0];
    return d?.last_error ? d : null;
  });
  expect(refused.last_error).toMatch(/^could not reach the receiver: address 127\.0\.0\.1 is not a public address/);
  expect(rx.got).toEqual([]);

  // The last: the metadata address through NAT64, which a NAT64 gateway would carry to it.
  for (const url of ['http://127.0.0.1:9000/hook', 'http://[::1]:9000/', 'http://169.254.169.254/latest/meta-data', 'http://localhost:9000/', 'http://[64:ff9b::a9fe:a9fe]/latest/meta-data']) {
    const r = await http.post('/webhooks', { url, events: ['*'], secret: SECRET });
    expect(r.status, url).toBe(422);
    expect(r.body.detail[0].msg).toMatch(/not a public address \(private, loopback, link-local or another special-purpose range\).*JARVIS_WEBHOOK_ALLOW_PRIVATE_ADDRESSES=true/);
  }
  expect((await http.post('/webhooks', { url: 'https://hooks.example.com/jarvis', events: ['*'], secret: SECRET })).status).toBe(201);
}, 60_000);

it('jarvis up (embedded database, Docker): the ETL example on a schedule, its events signed at a local receiver', async () => {
  const up = await startJarvis({ databaseUrl: null }); // the laptop case: no JARVIS_SECRET_KEY needed
  cleanups.push(() => up.stop());
  const http = api(up.url);
  const rx = await receiver();
  const hook = await http.post('/webhooks', { url: rx.url, events: ['task.succeeded', 'task.skipped', 'workflow.*'], secret: SECRET });
  expect(hook.status).toBe(201);
  // docs/workflows.md's worked example: extract counts rows, load runs only when there are some.
  const etl = {
    name: 'etl',
    tasks: [
      { key: 'extract', image: TEST_IMAGE, command: "printf 'a\\nb\\nc\\n' | wc -l > /tmp/rows; echo counted", outputs: { rows: { path: '/tmp/rows' } } },
      { key: 'load', image: TEST_IMAGE, depends_on: ['extract'], when: '{{ tasks.extract.outputs.rows }} > 0', command: 'echo loading {{ tasks.extract.outputs.rows }} rows' },
      { key: 'report-empty', image: TEST_IMAGE, depends_on: ['extract'], when: '{{ tasks.extract.outputs.rows }} == 0', command: 'echo nothing' },
    ],
  };
  const s = await http.post('/schedules', { name: 'nightly-etl', cron: '*/3 * * * * *', concurrency: 'forbid', workflow: etl });
  expect(s.status, JSON.stringify(s.body)).toBe(201);
  const done = await until('a run succeeded', () => rx.got.find((g) => g.event.type === 'workflow.succeeded'), 90_000);
  await http.call('PATCH', `/schedules/${s.body.id}`, { paused: true });
  const wfId = done.event.data.workflow!.id;
  expect(done.event.data.workflow).toMatchObject({ schedule_id: s.body.id, status: 'succeeded' });
  const ofRun = rx.got.filter((g) => g.event.data.workflow?.id === wfId || g.event.data.task?.workflow_id === wfId);
  for (const g of ofRun) expect(verifySignature(SECRET, g.body, g.signature)).toBe(true);
  const byKey = Object.fromEntries(ofRun.filter((g) => g.event.data.task).map((g) => [g.event.data.task!.workflow_key!, g.event]));
  expect(byKey.extract.type).toBe('task.succeeded');
  expect(byKey.extract.data.task).toMatchObject({ outputs: { rows: '3' }, result: 'counted' });
  expect(byKey.load.type).toBe('task.succeeded');
  expect(byKey['report-empty'].type).toBe('task.skipped');
  expect(ofRun[0].event.type).toBe('workflow.running');
  const load = (await http.get(`/tasks/${byKey.load.data.task!.id}/logs`)).body.logs;
  expect(load).toBe('loading 3 rows\n');
}, 150_000);

describe('webhooks.max_per_tenant', () => {
  it('refuses one more webhook than the cap in a tenant with a 409 naming the setting, for every role that may make one', async () => {
    // The outbox matches each of a tenant's events against its webhooks: 50,000 of one tenant
    // made each page of events cost 0.7 s of the leader's event loop. A cap bounds them.
    const ADMIN = `admin-${randomBytes(12).toString('hex')}`;
    const db = await createTestDatabase();
    cleanups.push(() => db.drop());
    const server = await startJarvis({ command: 'server', databaseUrl: db.url, env: { JARVIS_SECRET_KEY: SECRET_KEY, JARVIS_ADMIN_KEY: ADMIN, JARVIS_WEBHOOK_MAX_PER_TENANT: '2' } });
    cleanups.push(() => server.stop());
    const as = (key: string) => (method: string, path: string, body?: unknown) => api(server.url).call(method, path, body, { authorization: `Bearer ${key}` });
    const key = async (tenant: string, role: string) => (await as(ADMIN)('POST', '/auth/keys', { name: `${role}-${tenant}`, role, tenant })).body.key as string;
    const make = (who: ReturnType<typeof as>) => who('POST', '/webhooks', { url: 'http://127.0.0.1:1/hook', events: ['*'], secret: SECRET });
    const full = (tenant: string) => ({
      detail: `Tenant "${tenant}" has 2 webhooks, the most webhooks.max_per_tenant (JARVIS_WEBHOOK_MAX_PER_TENANT) allows (2): delete one it no longer needs, or ask an operator of the control plane to raise the setting`,
    });

    const roles = [
      ['submitter', as(await key('alpha', 'submitter')), 'alpha'],
      ['operator', as(await key('beta', 'operator')), 'beta'],
      ['admin', as(ADMIN), 'default'],
    ] as const;
    for (const [role, who, tenant] of roles) {
      const made = [await make(who), await make(who)];
      expect(made.map((r) => [r.status, r.body.tenant]), role).toEqual([[201, tenant], [201, tenant]]);
      const refused = await make(who);
      expect([refused.status, refused.body], role).toEqual([409, full(tenant)]);
      // Deleting one makes room again.
      expect((await who('DELETE', `/webhooks/${made[0].body.id}`)).status, role).toBe(204);
      expect((await make(who)).status, role).toBe(201);
    }
    // The cap is the tenant's, whichever key asks: another key of a full tenant is refused too.
    expect((await make(as(await key('alpha', 'operator')))).status).toBe(409);
    // Twenty creates at the same moment in an empty tenant: exactly two are stored (each counted
    // before its insert, all of them passed the count together).
    const gamma = as(await key('gamma', 'submitter'));
    const burst = await Promise.all(Array.from({ length: 20 }, () => make(gamma)));
    expect(burst.filter((r) => r.status === 201)).toHaveLength(2);
    expect(burst.filter((r) => r.status === 409)).toHaveLength(18);
    expect((await gamma('GET', '/webhooks')).body.total).toBe(2);
  });
});
