// Values a schema accepted that the database or a later read could not take, each answered 500
// before (found by an audit of the API): now 422 in FastAPI's shape, with nothing stored; and the
// answers a middleware throws (401, 429) counted under their route in the metrics.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/database.ts';
import { api, startJarvis } from './support/jarvis.ts';
import { removeLeftovers } from './support/leftovers.ts';

afterAll(removeLeftovers);

const ADMIN = 'limits-admin-key-0123456789abcdef';
const auth = { authorization: `Bearer ${ADMIN}` };

describe('input limits', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let jarvis: Awaited<ReturnType<typeof startJarvis>>;
  const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = auth) => api(jarvis.url).call(method, path, body, headers);
  const taskCount = async () => (await call('GET', '/tasks')).body.total as number;

  beforeAll(async () => {
    db = await createTestDatabase();
    jarvis = await startJarvis({ command: 'server', databaseUrl: db.url, env: { JARVIS_ADMIN_KEY: ADMIN } });
  });
  afterAll(async () => {
    await jarvis?.stop();
    await db?.drop();
  });

  it('refuses strings PostgreSQL cannot store, anywhere in the request, and stores nothing', async () => {
    const cases: Array<[string, string, unknown, unknown[]]> = [
      ['POST', '/tasks', { image: 'b', labels: { '\ud800': 'x' } }, ['body', 'labels', '\ud800', '[key]']],
      ['POST', '/tasks', { image: 'b', env: { A: 'x\udfffy' } }, ['body', 'env', 'A']],
      ['POST', '/tasks/batch', { tasks: [{ image: 'b' }, { image: 'b', node_selector: { k: 'a\u0000' } }] }, ['body', 'tasks', 1, 'node_selector', 'k']],
      ['POST', '/workflows', { name: 'w', tasks: [{ key: 'a', image: 'b', labels: { a: '\ud800' } }] }, ['body', 'tasks', 0, 'labels', 'a']],
      ['POST', '/schedules', { name: 's', cron: '0 2 * * *', task: { image: '\ud800' } }, ['body', 'task', 'image']],
      ['POST', '/webhooks', { url: 'https://hooks.example.com/a\u0000b', events: ['*'], secret: '0123456789abcdef0123' }, ['body', 'url']],
      // Written as text: in an object literal `__proto__` sets the prototype, not a key.
      ['POST', '/tasks', '{"image": "b", "labels": {"__proto__": "x", "a": "b"}}', ['body', 'labels', '__proto__', '[key]']],
    ];
    for (const [method, path, body, loc] of cases) {
      // JSON.stringify writes a lone surrogate as its \u escape, as a client would send it.
      const text = typeof body === 'string' ? body : JSON.stringify(body);
      const r = await call(method, path, text);
      expect(r.status, `${method} ${path} ${text}`).toBe(422);
      expect(r.body.detail, text).toEqual(expect.arrayContaining([expect.objectContaining({ type: 'value_error', loc })]));
    }
    expect(await taskCount()).toBe(0);
    expect((await call('GET', '/workflows')).body.total).toBe(0);
    expect((await call('GET', '/schedules')).body.items).toEqual([]);
    expect((await call('GET', '/webhooks')).body.items).toEqual([]);
    // A query and a path parameter too.
    expect((await call('GET', '/tasks?label=a%00b:c')).status).toBe(422);
    expect((await call('DELETE', '/secrets/a%00b')).status).toBe(422);
    // A paired surrogate (an emoji, escaped) is fine.
    const ok = await call('POST', '/tasks', '{"image": "b", "labels": {"mood": "\\ud83d\\ude00"}}');
    expect(ok.status).toBe(201);
    expect(ok.body.labels).toEqual({ mood: '😀' });
    await call('POST', `/tasks/${ok.body.id}/cancel`);
  });

  it('refuses resources no sum or column can hold, and the aggregates stay readable', async () => {
    const before = await taskCount();
    for (const resources of [{ memory: '3000Ti' }, { cpu: 1e308 }, { cpu: '1e400' }, { cpu: '2000000' }]) {
      const r = await call('POST', '/tasks', { image: 'b', resources });
      expect(r.status, JSON.stringify(resources)).toBe(422);
      expect(r.body.detail[0].loc.slice(0, 3)).toEqual(['body', 'resources', Object.keys(resources)[0]]);
    }
    expect((await call('POST', '/tasks', { image: 'b', retry_backoff_seconds: 1e12 })).status).toBe(422);
    expect((await call('POST', '/schedules', { name: 'big', cron: '0 2 * * *', task: { image: 'b', resources: { memory: '3000Ti' } } })).status).toBe(422);
    expect((await call('POST', '/nodes/register', { name: 'n', hostname: 'h', capacity: { cpu: 1e308, memory_mb: 1024, max_tasks: 1 } })).status).toBe(422);
    expect(await taskCount()).toBe(before);
    // The largest accepted still leaves every aggregate readable.
    const big = await call('POST', '/tasks', { image: 'b', resources: { cpu: 1_000_000, memory: '2047Ti' } });
    expect(big.status).toBe(201);
    for (const path of ['/overview', '/tenants', '/tenants/default', '/tasks', '/metrics']) expect((await call('GET', path)).status, path).toBe(200);
    await call('POST', `/tasks/${big.body.id}/cancel`);
  });

  it('refuses a heartbeat body out of range before it looks at the node, with or without a token', async () => {
    const id = '00000000-0000-4000-8000-000000000001';
    for (const body of [{ memory_used_mb: 3_000_000_000 }, { listed_at: '9999-12-31T23:59:59-23:59' }, { running_task_ids: ['x'.repeat(100)] }]) {
      const r = await call('POST', `/nodes/${id}/heartbeat`, body, {});
      expect(r.status, JSON.stringify(body)).toBe(422);
    }
  });

  it('refuses an audit time PostgreSQL cannot hold and a rate limit too small to keep', async () => {
    for (const since of ['0000-01-01T00:00:00Z', '9999-12-31T23:59:59-23:59']) {
      const r = await call('GET', `/audit?since=${encodeURIComponent(since)}`);
      expect(r.status, since).toBe(422);
    }
    expect((await call('GET', `/audit?since=${encodeURIComponent('0001-01-01T00:00:00Z')}`)).status).toBe(200);
    for (const rate of [1e-14, 1e-300, 0.0009]) {
      const r = await call('POST', '/auth/keys', { name: 'slow', role: 'viewer', rate_limit_per_s: rate });
      expect(r.status, String(rate)).toBe(422);
    }
    // The smallest accepted limit is kept: a second request within the second is refused.
    const slow = await call('POST', '/auth/keys', { name: 'slow', role: 'viewer', rate_limit_per_s: 0.001 });
    expect(slow.status).toBe(201);
    const as = { authorization: `Bearer ${slow.body.key}` };
    expect((await call('GET', '/tasks', undefined, as)).status).toBe(200);
    expect((await call('GET', '/tasks', undefined, as)).status).toBe(429);
  });

  it("keeps the audit trail whole when a refused request's path holds a NUL", async () => {
    // Its record's target kept the NUL, and the batch insert of the audit log failed: other
    // requests' records written with it were lost (found by the fuzz test).
    expect((await call('POST', '/tasks/a%00b/cancel')).status).toBe(422);
    const made = await call('POST', '/auth/keys', { name: 'audited-beside-a-nul', role: 'viewer' });
    expect(made.status).toBe(201);
    let records: Array<{ action: string; target: string | null }> = [];
    for (let i = 0; i < 300 && !records.some((r) => r.target === made.body.id); i++) {
      await new Promise((r) => setTimeout(r, 100));
      records = (await call('GET', '/audit?limit=500')).body.items;
    }
    expect(records.map((r) => r.target)).toContain(made.body.id);
    expect(records.map((r) => r.target)).toContain('a\uFFFDb');
  });

  it('never echoes a secret in a 422, whatever shape the body has', async () => {
    for (const [path, body] of [
      ['/secrets', [{ name: 'ab', value: 'hunter2-very-secret' }]],
      ['/webhooks', [{ url: 'https://hooks.example.com/x', events: ['*'], secret: 'hunter2-very-secret' }]],
      ['/secrets', 'hunter2-very-secret'],
    ] as const) {
      const r = await call('POST', path, body);
      expect(r.status).toBe(422);
      expect(JSON.stringify(r.body)).not.toContain('hunter2');
    }
  });

  it('counts a refused request (401, 429) under the route it reached, not as unmatched', async () => {
    await call('GET', '/tasks', undefined, { authorization: 'Bearer not-a-key-at-all-0123456789' });
    const slow = await call('POST', '/auth/keys', { name: 'slower', role: 'viewer', rate_limit_per_s: 0.001 });
    for (let i = 0; i < 2; i++) await call('GET', '/tasks', undefined, { authorization: `Bearer ${slow.body.key}` });
    const metrics = (await call('GET', '/metrics')).body as string;
    expect(metrics).toMatch(/jarvis_http_request_duration_seconds_count\{method="GET",route="\/tasks",status="401"\} [1-9]/);
    expect(metrics).toMatch(/jarvis_http_request_duration_seconds_count\{method="GET",route="\/tasks",status="429"\} [1-9]/);
    expect(metrics).not.toMatch(/route="unmatched",status="40[13]"/);
  });

  it('answers 409, not 500, to two batches racing for one idempotency key', async () => {
    const body = { tasks: [{ image: 'b', idempotency_key: 'race-key' }] };
    const answers = await Promise.all([call('POST', '/tasks/batch', body), call('POST', '/tasks/batch', body), call('POST', '/tasks', body.tasks[0])]);
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses.filter((s) => s >= 500)).toEqual([]);
    expect(statuses.filter((s) => s === 201 || s === 200).length).toBeGreaterThanOrEqual(1);
    const listed = (await call('GET', '/tasks?limit=500')).body.items.filter((t: { idempotency_key: string }) => t.idempotency_key === 'race-key');
    expect(listed).toHaveLength(1);
  });
  it('bounds env, labels, node_selector, outputs and command lists, refusing one over before it is walked and storing nothing', async () => {
    const entries = (n: number, value: unknown = 'v') => Object.fromEntries(Array.from({ length: n }, (_, i) => [`K${i}`, value]));
    const dictTooLong = (loc: unknown[], max: number, actual: number) =>
      expect.objectContaining({ type: 'too_long', loc, msg: `Dictionary should have at most ${max} items after validation, not ${actual}`, ctx: { field_type: 'Dictionary', max_length: max, actual_length: actual } });
    const workflows = async () => (await call('GET', '/workflows')).body.total as number;
    const [tasksBefore, workflowsBefore] = [await taskCount(), await workflows()];

    const env = await call('POST', '/workflows', { name: 'w', tasks: [{ key: 'a', image: 'b', env: entries(1001) }] });
    expect(env.status).toBe(422);
    expect(env.body.detail).toEqual([dictTooLong(['body', 'tasks', 0, 'env'], 1000, 1001)]);
    const cases: Array<[string, unknown, unknown[], number, number]> = [
      ['/workflows', { name: 'w', tasks: [{ key: 'a', image: 'b' }, { key: 'b', image: 'b', labels: entries(101) }] }, ['body', 'tasks', 1, 'labels'], 100, 101],
      ['/tasks', { image: 'b', node_selector: entries(150) }, ['body', 'node_selector'], 100, 150],
      ['/tasks/batch', { tasks: [{ image: 'b', outputs: entries(33, { path: '/tmp/x' }) }] }, ['body', 'tasks', 0, 'outputs'], 32, 33],
      // Bad values too: the count is all that is looked at.
      ['/tasks', { image: 'b', env: entries(5000, 1) }, ['body', 'env'], 1000, 5000],
      ['/nodes/register', { name: 'n', hostname: 'h', capacity: { cpu: 1, memory_mb: 1, max_tasks: 1 }, labels: entries(101) }, ['body', 'labels'], 100, 101],
    ];
    for (const [path, body, loc, max, actual] of cases) {
      const r = await call('POST', path, body);
      expect(r.status, `${path} ${loc.join('.')}`).toBe(422);
      expect(r.body.detail).toEqual([dictTooLong(loc, max, actual)]);
    }
    const command = await call('POST', '/tasks', { image: 'b', command: Array.from({ length: 10_001 }, () => 'x') });
    expect(command.status).toBe(422);
    expect(command.body.detail).toEqual(expect.arrayContaining([expect.objectContaining({ type: 'too_long', loc: ['body', 'command', 'list[str]'], ctx: expect.objectContaining({ max_length: 10_000, actual_length: 10_001 }) })]));
    expect(await taskCount()).toBe(tasksBefore);
    expect(await workflows()).toBe(workflowsBefore);

    // At the bounds: accepted.
    const ok = await call('POST', '/workflows', { name: 'w', tasks: [{ key: 'a', image: 'b', env: entries(1000), labels: entries(100), node_selector: entries(100), command: Array.from({ length: 10_000 }, () => 'x') }] });
    expect(ok.status).toBe(201);
    expect(Object.keys(ok.body.tasks[0].env)).toHaveLength(1000);
    expect(Object.keys(ok.body.tasks[0].labels)).toHaveLength(100);
    await call('POST', `/workflows/${ok.body.id}/cancel`);
    const one = await call('POST', '/tasks', { image: 'b', labels: entries(100), outputs: entries(32, { path: '/tmp/x' }) });
    expect(one.status).toBe(201);
    await call('POST', `/tasks/${one.body.id}/cancel`);
  });
});
