// Secrets end to end on a real `jarvis up` with JARVIS_SECRET_KEY: stored sealed, named in a
// task's env as {"secret": NAME}, given to the container for the run, and masked as *** in
// the task's output (a value printed in two pieces included); never in an answer, the
// database's clear text, an event, the audit log or the control plane's own log.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { createTestDatabase } from './support/database.ts';
import { api, startJarvis } from './support/jarvis.ts';
import { TEST_IMAGE } from './support/env.ts';
import { removeLeftovers } from './support/leftovers.ts';

// Redis keys and task containers of this file's processes; first, so that it runs after the
// other after-hooks, once those processes are stopped.
afterAll(removeLeftovers);

const ADMIN = 'secrets-admin-key-0123456789abcdef';
const SECRET_KEY = Buffer.alloc(32, 42).toString('base64');
const VALUE = 'hunter2-Very-Secret';

describe('secrets', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let jarvis: Awaited<ReturnType<typeof startJarvis>>;
  let submitter = '';
  const as = (key: string) => (method: string, path: string, body?: unknown) => api(jarvis.url).call(method, path, body, { authorization: `Bearer ${key}` });

  beforeAll(async () => {
    db = await createTestDatabase();
    jarvis = await startJarvis({ databaseUrl: db.url, env: { JARVIS_ADMIN_KEY: ADMIN, JARVIS_SECRET_KEY: SECRET_KEY } });
    submitter = (await as(ADMIN)('POST', '/auth/keys', { name: 's', role: 'submitter', tenant: 'ml' })).body.key;
  });
  afterAll(async () => {
    await jarvis?.stop();
    await db?.drop();
  });

  it('gives the value to the container, masks it in the output, and shows it nowhere', async () => {
    const put = await as(submitter)('POST', '/secrets', { name: 'db', value: VALUE });
    expect(put.status).toBe(201);
    expect(put.body).toEqual({ name: 'db', tenant: 'ml', created_at: expect.any(String) });
    expect(JSON.stringify((await as(submitter)('GET', '/secrets')).body)).not.toContain(VALUE);

    // The value whole, then in two pieces printed 300 ms apart (two output chunks), then its length.
    const command = 'echo "pw=$DB"; printf "%s" "$DB" | cut -c1-7 | tr -d "\\n"; sleep 0.3; printf "%s\\n" "$DB" | cut -c8-; echo "len=${#DB}"';
    const t = await as(submitter)('POST', '/tasks', { image: TEST_IMAGE, command, env: { DB: { secret: 'db' }, PLAIN: 'x' } });
    expect(t.status).toBe(201);
    expect(t.body.env).toEqual({ DB: { secret: 'db' }, PLAIN: 'x' });
    const done = await api(jarvis.url).call('GET', `/tasks/${t.body.id}`, undefined, { authorization: `Bearer ${submitter}` });
    let task = done.body;
    for (let i = 0; i < 300 && !['succeeded', 'failed', 'cancelled', 'timed_out'].includes(task.status); i++) {
      await new Promise((r) => setTimeout(r, 100));
      task = (await as(submitter)('GET', `/tasks/${t.body.id}`)).body;
    }
    expect(task.status, JSON.stringify(task)).toBe('succeeded');
    const logs = (await as(submitter)('GET', `/tasks/${t.body.id}/logs`)).body.logs as string;
    expect(logs).toBe(`pw=***\n***\nlen=${VALUE.length}\n`);
    expect(task.result).toBe(`len=${VALUE.length}`);

    // `result` (the last non-blank stdout line) is masked too, even when the value comes in two
    // chunks, and stderr does not count.
    const last = await as(submitter)('POST', '/tasks', {
      image: TEST_IMAGE,
      command: 'printf "%s" "$DB" | cut -c1-7 | tr -d "\\n"; sleep 0.3; printf "%s\\n\\n" "$DB" | cut -c8-; echo on-stderr >&2; echo "user=app pw=$DB" > /tmp/conn',
      env: { DB: { secret: 'db' } },
      // A declared output that holds the value is masked too (it reaches the API, webhooks and later tasks).
      outputs: { conn: { path: '/tmp/conn' } },
    });
    let lastTask = last.body;
    for (let i = 0; i < 300 && !['succeeded', 'failed', 'cancelled', 'timed_out'].includes(lastTask.status); i++) {
      await new Promise((r) => setTimeout(r, 100));
      lastTask = (await as(submitter)('GET', `/tasks/${last.body.id}`)).body;
    }
    expect(lastTask).toMatchObject({ status: 'succeeded', result: '***', outputs: { conn: 'user=app pw=***' } });

    const events = await as(submitter)('GET', `/tasks/${t.body.id}/events`);
    const audit = await as(ADMIN)('GET', '/audit?limit=500');
    for (const text of [JSON.stringify(task), JSON.stringify(events.body), JSON.stringify(audit.body), jarvis.output()]) expect(text).not.toContain(VALUE);
    // Each fetch of the values by the node is recorded (the node, never the values).
    expect(audit.body.items).toContainEqual(expect.objectContaining({ action: 'node.secrets', status: 200, key_id: null }));
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      const dump = await c.query(`select (select json_agg(s) from secrets s)::text as s, (select json_agg(t) from tasks t)::text as t, (select json_agg(l) from task_logs l)::text as l`);
      expect(JSON.stringify(dump.rows)).not.toContain(VALUE);
    } finally {
      await c.end();
    }
  });

  it('masks a value of 40,000 characters in the logs, result and outputs, and the attempt reports', async () => {
    // Past ~32,700 characters the masker's regular expression was refused by V8 ("Regular
    // expression too large") at its first use: the log lost the output, and the finished report
    // threw before it was sent (the task stayed running until its node's heartbeat said it was gone).
    // (V8's limit depends on the text: one that starts with a long run of a character reaches it.)
    const big = `${'x'.repeat(39_993)}-s3cr3t`;
    expect((await as(submitter)('POST', '/secrets', { name: 'big', value: big })).status).toBe(201);
    const t = await as(submitter)('POST', '/tasks', {
      image: TEST_IMAGE,
      // Once whole, then twice side by side (two masks), then its length.
      command: 'printf "big=%s.\\n" "$BIG"; printf "%s%s\\n" "$BIG" "$BIG"; echo "v=$BIG" > /tmp/v; echo "len=${#BIG}"',
      env: { BIG: { secret: 'big' } },
      outputs: { v: { path: '/tmp/v' } },
    });
    expect(t.status, JSON.stringify(t.body)).toBe(201);
    let task = t.body;
    for (let i = 0; i < 300 && !['succeeded', 'failed', 'cancelled', 'timed_out'].includes(task.status); i++) {
      await new Promise((r) => setTimeout(r, 100));
      task = (await as(submitter)('GET', `/tasks/${t.body.id}`)).body;
    }
    expect(task, JSON.stringify(task).slice(0, 500)).toMatchObject({ status: 'succeeded', result: 'len=40000', outputs: { v: 'v=***' } });
    const logs = (await as(submitter)('GET', `/tasks/${t.body.id}/logs`)).body.logs as string;
    expect(logs).toBe('big=***.\n******\nlen=40000\n');
  });

  it('never echoes a value in a 422: the value is shown as Pydantic shows a SecretStr', async () => {
    const noName = await as(submitter)('POST', '/secrets', { value: VALUE });
    expect(noName.status).toBe(422);
    expect(noName.body.detail).toEqual([{ type: 'missing', loc: ['body', 'name'], msg: 'Field required', input: { value: '**********' } }]);
    const tooLong = await as(submitter)('POST', '/secrets', { name: 'big', value: VALUE.repeat(4000) });
    expect(tooLong.status).toBe(422);
    expect(tooLong.body.detail).toEqual([expect.objectContaining({ type: 'string_too_long', loc: ['body', 'value'], input: '**********' })]);
    const raw = await fetch(`${jarvis.url}/secrets`, { method: 'POST', headers: { authorization: `Bearer ${submitter}`, 'content-type': 'text/plain' }, body: `{"name": "x", "value": "${VALUE}"}` });
    expect(raw.status).toBe(422);
    expect(await raw.text()).not.toContain(VALUE);
  });

  it('refuses a task naming a secret its tenant does not have, pointing at the env key', async () => {
    const r = await as(submitter)('POST', '/tasks', { image: TEST_IMAGE, command: 'true', env: { X: { secret: 'nope' } } });
    expect(r.status).toBe(422);
    expect(r.body.detail).toEqual([
      { type: 'value_error', loc: ['body', 'env', 'X'], msg: 'Value error, secret "nope" does not exist in tenant ml: create it first with POST /secrets', input: { secret: 'nope' }, ctx: { error: {} } },
    ]);
    // Another tenant's secret of the same name is not this tenant's.
    await as(ADMIN)('POST', '/secrets', { name: 'only_default', value: 'abc-default' });
    const other = await as(submitter)('POST', '/tasks', { image: TEST_IMAGE, command: 'true', env: { X: { secret: 'only_default' } } });
    expect(other.status).toBe(422);
  });

  it("keeps a key to its own tenant's secrets; only an admin names another tenant", async () => {
    const refused = { detail: `Only an admin may manage another tenant's secrets; your key belongs to tenant "ml"` };
    for (const [method, path, body] of [
      ['POST', '/secrets', { name: 'elsewhere', value: 'v', tenant: 'other' }],
      ['GET', '/secrets?tenant=other', undefined],
      ['DELETE', '/secrets/elsewhere?tenant=other', undefined],
    ] as const) {
      const r = await as(submitter)(method, path, body);
      expect([r.status, r.body]).toEqual([403, refused]);
    }
    // Its own tenant, named or not.
    expect((await as(submitter)('POST', '/secrets', { name: 'named_own', value: 'v', tenant: 'ml' })).body).toEqual({ name: 'named_own', tenant: 'ml', created_at: expect.any(String) });
    // An admin (tenant "default") manages ml's.
    expect((await as(ADMIN)('POST', '/secrets', { name: 'from_admin', value: 'v', tenant: 'ml' })).status).toBe(201);
    const names = async (key: string, path: string) => ((await as(key)('GET', path)).body.items as Array<{ name: string }>).map((s) => s.name);
    expect(await names(submitter, '/secrets')).toEqual(expect.arrayContaining(['named_own', 'from_admin']));
    expect(await names(ADMIN, '/secrets?tenant=ml')).toEqual(await names(submitter, '/secrets'));
    expect(await names(ADMIN, '/secrets')).not.toContain('from_admin');
    expect((await as(ADMIN)('DELETE', '/secrets/from_admin?tenant=ml')).status).toBe(204);
    const again = await as(ADMIN)('DELETE', '/secrets/from_admin?tenant=ml');
    expect([again.status, again.body]).toEqual([404, { detail: 'Secret not found' }]);
    // The audit log names the secret stored, by tenant, and the refusal.
    const audit = (await as(ADMIN)('GET', '/audit?action=secret.put&limit=50')).body.items;
    expect(audit).toContainEqual(expect.objectContaining({ target: 'ml/from_admin', status: 201, role: 'admin' }));
    expect(audit).toContainEqual(expect.objectContaining({ status: 403, tenant: 'ml', role: 'submitter' }));
  });

  it('ends the attempt, saying why, when the control plane holds another JARVIS_SECRET_KEY', async () => {
    // Its secrets cannot be opened: a 500 the worker asked again about for ever (the task stayed
    // scheduled, its slot held); now a 409 that ends the attempt with the reason.
    expect((await as(submitter)('POST', '/secrets', { name: 'rotated', value: 'old-key-value' })).status).toBe(201);
    await jarvis.stop();
    jarvis = await startJarvis({ databaseUrl: db.url, prefix: jarvis.prefix, env: { JARVIS_ADMIN_KEY: ADMIN, JARVIS_SECRET_KEY: Buffer.alloc(32, 7).toString('base64') } });
    const t = await as(submitter)('POST', '/tasks', { image: TEST_IMAGE, command: 'echo "$R"', env: { R: { secret: 'rotated' } } });
    expect(t.status).toBe(201);
    let task = t.body;
    for (let i = 0; i < 300 && !['succeeded', 'failed', 'cancelled', 'timed_out'].includes(task.status); i++) {
      await new Promise((r) => setTimeout(r, 100));
      task = (await as(submitter)('GET', `/tasks/${t.body.id}`)).body;
    }
    expect(task.status, JSON.stringify(task)).toBe('failed');
    expect(task.error).toMatch(/JARVIS_SECRET_KEY/);
    expect(JSON.stringify(task)).not.toContain('old-key-value');
  });

  it("keeps a node's token out of the log when its heartbeat's query fails", async () => {
    const node = await as(ADMIN)('POST', '/nodes/register', { name: 'token-probe', hostname: 'h', capacity: { cpu: 1, memory_mb: 256, max_tasks: 1 } });
    expect(node.status).toBe(201);
    const token = node.body.token as string;
    const beat = () => api(jarvis.url).call('POST', `/nodes/${node.body.id}/heartbeat`, { cpu_percent: 1, memory_used_mb: 1, running_task_ids: [], engine: 'ok' }, { authorization: `Bearer ${token}` });
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      // The heartbeat's statement, which binds the token, fails for real.
      await client.query('ALTER TABLE nodes RENAME COLUMN token TO token_renamed');
      const failed = await beat();
      expect(failed.status).toBe(500);
      expect(failed.body).toEqual({ detail: 'Internal Server Error' });
    } finally {
      await client.query('ALTER TABLE nodes RENAME COLUMN token_renamed TO token');
      await client.end();
    }
    await jarvis.waitFor(/unhandled error on POST \/nodes\/[^/]+\/heartbeat: Failed query/, 10_000);
    expect(jarvis.output()).not.toContain(token);
    expect((await beat()).status).toBe(200);
  });

  it('refuses to start once secrets exist and JARVIS_SECRET_KEY is gone', async () => {
    const { spawnJarvis } = await import('./support/jarvis.ts');
    const p = spawnJarvis(['server'], { ...(process.env as Record<string, string>), DATABASE_URL: db.url, PORT: '0', JARVIS_SECRET_KEY: '', JARVIS_ADMIN_KEY: ADMIN });
    onTestFinished(async () => void (await p.shutdown(3_000))); // if it started after all
    expect(await p.exited).toBe(2);
    expect(p.output()).toContain('secrets are stored but JARVIS_SECRET_KEY is not set');
  });
});

describe('secrets on a laptop: jarvis up on the embedded database, no JARVIS_SECRET_KEY', () => {
  it('makes its own key beside the database (0600), and its secrets still open after a restart', async () => {
    const { statSync } = await import('node:fs');
    const { dirname, join } = await import('node:path');
    let jarvis = await startJarvis({ databaseUrl: null, env: { JARVIS_SECRET_KEY: '' } });
    const keyFile = join(dirname(jarvis.dataDir), 'secret.key');
    const run = async (j: typeof jarvis) => {
      const http = api(j.url);
      const t = await http.post('/tasks', { image: TEST_IMAGE, command: 'echo "v=$PW"', env: { PW: { secret: 'pw' } } });
      expect(t.status, JSON.stringify(t.body)).toBe(201);
      const done = await http.waitForTask(t.body.id, (x) => ['succeeded', 'failed'].includes(x.status));
      expect(done.status, JSON.stringify(done)).toBe('succeeded');
      return (await http.get(`/tasks/${t.body.id}/logs`)).body.logs as string;
    };
    try {
      expect((await api(jarvis.url).post('/secrets', { name: 'pw', value: 'laptop-secret-1' })).status).toBe(201);
      expect(statSync(keyFile).mode & 0o777).toBe(0o600);
      expect(await run(jarvis)).toBe('v=***\n');
      await jarvis.stop();
      jarvis = await startJarvis({ databaseUrl: null, dataDir: jarvis.dataDir, env: { JARVIS_SECRET_KEY: '' } });
      expect(await run(jarvis)).toBe('v=***\n');
    } finally {
      await jarvis.stop();
    }
  });
});
