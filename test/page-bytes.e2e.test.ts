// A list page is bounded by what its rows weigh (control/page-bytes.ts), against a real `jarvis
// server` on PostgreSQL. A task stored through a batch may carry 10 MiB (the batch's body limit),
// so 500 of them made GET /tasks?limit=500 serialise ~630 M characters: a 500 (RangeError: Invalid
// string length) after 8-15 s, found by test/size-limits.e2e. Now a page over 32 MiB is a 422 on
// `limit` that says how many of its items fit, and those answer; another tenant's lists are not
// affected by what it cannot see.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signInWithFetch } from './support/dashboard.ts';
import { createTestDatabase } from './support/database.ts';
import { TEST_IMAGE } from './support/env.ts';
import { api, startJarvis } from './support/jarvis.ts';
import { removeLeftovers } from './support/leftovers.ts';

afterAll(removeLeftovers);

const ADMIN = 'page-bytes-admin-key-0123456789abcdef';
const MiB = 1024 * 1024;

describe('list pages bounded by their bytes', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let jarvis: Awaited<ReturnType<typeof startJarvis>>;
  const keys: Record<string, string> = {};
  const as = (key: string) => (method: string, path: string, body?: unknown) => api(jarvis.url).call(method, path, body, { authorization: `Bearer ${key}` });

  beforeAll(async () => {
    db = await createTestDatabase();
    jarvis = await startJarvis({ command: 'server', databaseUrl: db.url, env: { JARVIS_ADMIN_KEY: ADMIN } });
    for (const [name, role, tenant] of [
      ['alpha-submitter', 'submitter', 'alpha'],
      ['alpha-viewer', 'viewer', 'alpha'],
      ['beta-viewer', 'viewer', 'beta'],
    ]) {
      const r = await as(ADMIN)('POST', '/auth/keys', { name, role, tenant });
      expect(r.status).toBe(201);
      keys[name] = r.body.key;
    }
  });
  afterAll(async () => {
    await jarvis?.stop();
    await db?.drop();
  });

  it('refuses GET /tasks past 32 MiB of rows with a 422 on limit naming how many fit; those answer', async () => {
    // Four one-task batches of 9 MiB each (a batch's body may be 10 MiB; POST /tasks takes 1 MiB).
    for (let i = 0; i < 4; i++) {
      const r = await as(keys['alpha-submitter'])('POST', '/tasks/batch', { tasks: [{ image: TEST_IMAGE, name: `heavy-${i}`, labels: { blob: String(i).repeat(9 * MiB) } }] });
      expect(r.status).toBe(201);
    }
    for (const key of [keys['alpha-viewer'], ADMIN]) {
      const refused = await as(key)('GET', '/tasks?limit=500');
      expect(refused.status).toBe(422);
      expect(refused.body.detail).toEqual([
        {
          type: 'page_too_large',
          loc: ['query', 'limit'],
          msg: expect.stringMatching(/^This page of 4 tasks weighs 36\.\d MiB, more than one answer may hold \(32\.0 MiB\); ask for at most 3 \(limit=3\) and go on with offset$/),
          input: 500,
          ctx: { fits: 3, max_bytes: 32 * MiB },
        },
      ]);
      const first = await as(key)('GET', '/tasks?limit=3');
      expect(first.status).toBe(200);
      expect(first.body.items.map((t: { name: string }) => t.name)).toEqual(['heavy-3', 'heavy-2', 'heavy-1']);
      expect(first.body.total).toBe(4);
      const rest = await as(key)('GET', '/tasks?limit=3&offset=3');
      expect(rest.status).toBe(200);
      expect(rest.body.items.map((t: { name: string }) => t.name)).toEqual(['heavy-0']);
      expect(rest.body.items[0].labels.blob).toHaveLength(9 * MiB);
    }
    // The dashboard's task list shows the page's items that fit, and pages on from there.
    const s = await signInWithFetch(jarvis.url, keys['alpha-viewer']);
    const first = await fetch(`${jarvis.url}/ui/tasks`, { headers: { cookie: s.cookie }, redirect: 'manual' });
    expect(first.status).toBe(200);
    const html = await first.text();
    expect(html).toContain('Tasks 1–3 of 4');
    expect(html).toContain('the next tasks are too large to show more than 3 at once');
    expect(html).toContain('href="/ui/tasks?offset=3"');
    const older = await fetch(`${jarvis.url}/ui/tasks?offset=3`, { headers: { cookie: s.cookie }, redirect: 'manual' });
    expect(await older.text()).toContain('Tasks 4–4 of 4');
    // Beta sees none of alpha's tasks, and its page weighs nothing.
    const beta = await as(keys['beta-viewer'])('GET', '/tasks?limit=500');
    expect(beta.status).toBe(200);
    expect(beta.body).toMatchObject({ items: [], total: 0 });
  });

  it('refuses GET /schedules past 32 MiB of rows the same way', async () => {
    // 34 schedules whose task template carries ~1 MiB each (POST /schedules takes 1 MiB).
    const blob = 'x'.repeat(MiB - 4096);
    for (let i = 0; i < 34; i++) {
      const r = await as(keys['alpha-submitter'])('POST', '/schedules', { name: `heavy-${i}`, cron: '0 2 * * *', task: { image: TEST_IMAGE, labels: { blob } } });
      expect(r.status, JSON.stringify(r.body).slice(0, 300)).toBe(201);
    }
    const refused = await as(keys['alpha-viewer'])('GET', '/schedules?limit=500');
    expect(refused.status).toBe(422);
    const [problem] = refused.body.detail;
    expect(problem).toMatchObject({ type: 'page_too_large', loc: ['query', 'limit'], input: 500 });
    expect(problem.msg).toMatch(/^This page of 34 schedules weighs 33\.\d MiB, more than one answer may hold \(32\.0 MiB\); ask for at most (\d+) \(limit=\1\)/);
    const fits = problem.ctx.fits as number;
    expect(fits).toBeGreaterThanOrEqual(32);
    expect(fits).toBeLessThan(34);
    const page = await as(keys['alpha-viewer'])('GET', `/schedules?limit=${fits}`);
    expect(page.status).toBe(200);
    expect(page.body.items).toHaveLength(fits);
    expect((await as(keys['beta-viewer'])('GET', '/schedules?limit=500')).status).toBe(200);
  });
});
