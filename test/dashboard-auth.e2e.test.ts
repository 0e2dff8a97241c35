// Signing in to the dashboard with API keys of different roles and tenants, against a real
// `jarvis server` on PostgreSQL started with JARVIS_ADMIN_KEY (so not in open mode): the session
// cookie, what each role sees, forged POSTs refused with 403, and signing out (the sessions
// themselves: dashboard-session.e2e.test.ts).
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBrowser, screenshot, watchedPage } from './support/browser.ts';
import { TEST_IMAGE } from './support/env.ts';
import { createTestDatabase } from './support/database.ts';
import { api, startJarvis } from './support/jarvis.ts';
import { removeLeftovers } from './support/leftovers.ts';
import { setCookies, signInWithFetch } from './support/dashboard.ts';

// Redis keys and task containers of this file's processes; first, so that it runs after the
// other after-hooks, once those processes are stopped.
afterAll(removeLeftovers);

const ADMIN = 'test-admin-key-ui-0123456789abcdef';
const cleanups: Array<() => Promise<unknown>> = [];
let jarvis: Awaited<ReturnType<typeof startJarvis>>;
const keys: Record<string, string> = {};
const as = (key: string) => (method: string, path: string, body?: unknown) => api(jarvis.url).call(method, path, body, { authorization: `Bearer ${key}` });

beforeAll(async () => {
  const db = await createTestDatabase();
  cleanups.push(() => db.drop());
  jarvis = await startJarvis({ command: 'server', databaseUrl: db.url, env: { JARVIS_ADMIN_KEY: ADMIN } });
  cleanups.push(() => jarvis.stop());
  for (const [name, role, tenant] of [
    ['viewer-alpha', 'viewer', 'alpha'],
    ['submitter-alpha', 'submitter', 'alpha'],
    ['viewer-beta', 'viewer', 'beta'],
  ]) {
    const r = await as(ADMIN)('POST', '/auth/keys', { name, role, tenant });
    expect(r.status).toBe(201);
    keys[name] = r.body.key;
  }
});
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

/** A queued task of tenant alpha (no node runs it: the server has no worker). */
async function alphaTask(name: string): Promise<string> {
  const r = await as(keys['submitter-alpha'])('POST', '/tasks', { image: TEST_IMAGE, command: ['true'], name });
  expect(r.status).toBe(201);
  return r.body.id;
}

async function signIn(key: string): Promise<{ context: BrowserContext; page: Page; problems: string[] }> {
  const context = await openBrowser(cleanups);
  const { page, problems } = await watchedPage(context, jarvis.url);
  await page.goto(`${jarvis.url}/ui/tasks`);
  await page.waitForURL(/\/ui\/login\?next=%2Fui%2Ftasks/);
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/ui\/tasks$/);
  return { context, page, problems };
}

/** A POST as the signed-in browser's cookies would send it, with the form and headers given. */
async function post(context: BrowserContext, path: string, form: Record<string, string>, headers: Record<string, string> = {}) {
  const cookie = (await context.cookies(`${jarvis.url}/ui/`)).map((c) => `${c.name}=${c.value}`).join('; ');
  return fetch(jarvis.url + path, { method: 'POST', redirect: 'manual', headers: { cookie, origin: jarvis.url, ...headers }, body: new URLSearchParams(form) });
}

async function csrfOf(context: BrowserContext): Promise<string> {
  return (await context.cookies(`${jarvis.url}/ui/`)).find((c) => c.name === 'jarvis_ui_csrf')!.value;
}

describe('dashboard sign-in, roles and tenants', () => {
  it('refuses a wrong key, signs in with a good one into an HttpOnly SameSite=Strict cookie, and signs out', async () => {
    const context = await openBrowser(cleanups);
    const { page, problems } = await watchedPage(context, jarvis.url);
    await page.goto(`${jarvis.url}/ui`);
    await page.waitForURL(/\/ui\/login/);
    await screenshot(page, 'dashboard-login');
    await page.getByLabel('API key').fill('jvk_not-a-key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    expect(await page.getByRole('alert').innerText()).toContain('That API key is not accepted');

    await page.getByLabel('API key').fill(keys['viewer-alpha']);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/ui$/);
    expect(await page.getByTestId('who').innerText()).toBe('viewer-alpha · viewer · tenant alpha');
    // The cookie holds a session id, never the key (test/dashboard-session.e2e.test.ts).
    const cookie = (await context.cookies(`${jarvis.url}/ui/`)).find((c) => c.name === 'jarvis_ui_session')!;
    expect(cookie).toMatchObject({ value: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/), httpOnly: true, sameSite: 'Strict', secure: false, path: '/ui' });
    expect(cookie.expires * 1000).toBeGreaterThan(Date.now() + 6 * 86_400_000); // Max-Age: 7 days
    // A viewer reads tasks but not nodes: no Nodes section; the figures are its tenant's.
    expect(await page.locator('header nav').innerText()).not.toContain('Nodes');
    expect(await page.locator('main').innerText()).not.toMatch(/\d+ nodes:/);

    // Both sign-ins are in the audit log: the refused key with no name, the good one with its key's.
    let signIns: Array<{ status: number; key_name: string | null }> = [];
    for (let i = 0; i < 300 && signIns.length < 2; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 100));
      signIns = (await as(ADMIN)('GET', '/audit?action=ui.sign_in&limit=50')).body.items;
    }
    expect(signIns.map((r) => [r.status, r.key_name]).sort()).toEqual([[303, 'viewer-alpha'], [401, null]]);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/ui\/login$/);
    expect((await context.cookies(`${jarvis.url}/ui/`)).find((c) => c.name === 'jarvis_ui_session')).toBeUndefined();
    await page.goto(`${jarvis.url}/ui/tasks`);
    await page.waitForURL(/\/ui\/login/);
    expect(problems).toEqual([]);
  });

  it('shows a viewer no action buttons, and the API refuses the action if a viewer posts it anyway', async () => {
    const id = await alphaTask('ui-viewer');
    const { context, page } = await signIn(keys['viewer-alpha']);
    await page.goto(`${jarvis.url}/ui/tasks/${id}`);
    expect(await page.locator('h1').innerText()).toContain('ui-viewer');
    expect(await page.locator('main button').count()).toBe(0);
    const r = await post(context, `/ui/tasks/${id}/cancel`, { _csrf: await csrfOf(context), back: `/ui/tasks/${id}` });
    expect(r.status).toBe(303);
    await page.goto(jarvis.url + r.headers.get('location'));
    expect(await page.getByRole('alert').innerText()).toMatch(/Refused \(403\): This needs the submitter role; your key has the viewer role/);
    expect((await as(ADMIN)('GET', `/tasks/${id}`)).body.status).toBe('queued');
  });

  it('refuses forged POSTs with 403 (no token, wrong token, foreign Origin) and takes the real one', async () => {
    const id = await alphaTask('ui-forged');
    const { context, page, problems } = await signIn(keys['submitter-alpha']);
    const token = await csrfOf(context);
    const path = `/ui/tasks/${id}/cancel`;
    const forged = [
      await post(context, path, {}),
      await post(context, path, { _csrf: 'x'.repeat(43) }),
      await post(context, path, { _csrf: token }, { origin: 'http://evil.example' }),
      await post(context, path, { _csrf: token }, { origin: '' }),
    ];
    expect(forged.map((r) => r.status)).toEqual([403, 403, 403, 403]);
    expect(await forged[0].text()).toContain('no valid CSRF token');
    expect(await forged[2].text()).toContain('not sent from this dashboard');
    expect((await as(ADMIN)('GET', `/tasks/${id}`)).body.status).toBe('queued');

    await page.goto(`${jarvis.url}/ui/tasks/${id}`);
    await page.getByRole('button', { name: 'Cancel task' }).click();
    await page.waitForURL(/ok=/);
    expect(await page.locator('.flash').innerText()).toBe('Task cancelled');
    expect((await as(ADMIN)('GET', `/tasks/${id}`)).body.status).toBe('cancelled');
    expect(problems).toEqual([]);
  });

  it("audits an action taken in the dashboard with the browser's address", async () => {
    // Before session 33 the dashboard's in-process API call had no connection, so its audit
    // record said client: null.
    const id = await alphaTask('ui-audited');
    const { page } = await signIn(keys['submitter-alpha']);
    await page.goto(`${jarvis.url}/ui/tasks/${id}`);
    await page.getByRole('button', { name: 'Cancel task' }).click();
    await page.waitForURL(/ok=/);
    let records: Array<{ target: string; status: number; key_name: string; client: string | null }> = [];
    for (let i = 0; i < 300 && records.length === 0; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 100));
      records = (await as(ADMIN)('GET', '/audit?action=task.cancel&limit=100')).body.items.filter((r: { target: string }) => r.target === id);
    }
    expect(records).toEqual([expect.objectContaining({ status: 200, key_name: 'submitter-alpha', client: expect.stringMatching(/^(::ffff:)?127\.0\.0\.1$|^::1$/) })]);
  });

  it('keeps forms small, redirects only within the dashboard, shows only its own flash messages, and sends a CSP', async () => {
    const id = await alphaTask('ui-hardening');
    const { context, page, problems } = await signIn(keys['submitter-alpha']);
    // `/ui/..//evil.example` passes a prefix check and resolves to `//evil.example`.
    const r = await post(context, `/ui/tasks/${id}/cancel`, { _csrf: await csrfOf(context), back: '/ui/..//evil.example/x' });
    expect(r.status).toBe(303);
    expect(r.headers.get('location')).toMatch(/^\/ui(\/|\?|$)/);
    // A flash message in a link someone else made is not shown (it is not signed for this viewer).
    await page.goto(`${jarvis.url}/ui/tasks?error=${encodeURIComponent('Your key was revoked: sign in again at https://evil.example')}`);
    expect(await page.locator('.flash').count()).toBe(0);
    // A form bigger than any real one is refused before it is read, signed in or not.
    const big = await fetch(`${jarvis.url}/ui/login`, { method: 'POST', headers: { origin: jarvis.url, 'content-type': 'application/x-www-form-urlencoded' }, body: `key=${'a'.repeat(100_000)}` });
    expect(big.status).toBe(413);
    const login = await fetch(`${jarvis.url}/ui/login`);
    expect(login.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(problems).toEqual([]);
  });

  it('sends a `next` with a line break back to /ui: no 500, no header of its own', async () => {
    // Before session 33 the prefix check let `/ui/\r\nX` through, and the sign-in's redirect threw
    // in Headers.set: a 500, and Hono's stack trace on stderr.
    const next = '/ui/\r\nX-Injected: yes';
    const csrf = setCookies(await fetch(`${jarvis.url}/ui/login`)).jarvis_ui_csrf;
    for (const sent of [next, '/ui/\nx', '/ui/\tx', '/ui/%0d%0ax']) {
      const r = await fetch(`${jarvis.url}/ui/login`, {
        method: 'POST',
        redirect: 'manual',
        headers: { origin: jarvis.url, cookie: `jarvis_ui_csrf=${csrf}` },
        body: new URLSearchParams({ key: keys['viewer-alpha'], _csrf: csrf, next: sent }),
      });
      expect(r.status, JSON.stringify(sent)).toBe(303);
      // `%0d%0a` is text in a path, escaped as it came: it stays on the dashboard.
      expect(r.headers.get('location'), JSON.stringify(sent)).toBe(sent === '/ui/%0d%0ax' ? '/ui/%0d%0ax' : '/ui');
      expect(r.headers.get('x-injected')).toBeNull();
    }
    // The form does not carry it either.
    const form = await fetch(`${jarvis.url}/ui/login?next=${encodeURIComponent(next)}`);
    expect(form.status).toBe(200);
    expect(await form.text()).toMatch(/name="next" value="\/ui"/);
    expect(jarvis.output()).not.toMatch(/Headers\.set|Invalid header value/);
  });

  it('marks every dashboard answer Cache-Control: no-store, but its script', async () => {
    // Before session 33 pages were cacheable: after Sign out, Back (or the back/forward cache)
    // showed the tenant's tasks again.
    const id = await alphaTask('ui-no-store');
    const { context, page } = await signIn(keys['viewer-alpha']);
    for (const path of ['/ui', '/ui/tasks', `/ui/tasks/${id}`, '/ui/workflows']) {
      const res = await page.goto(jarvis.url + path);
      expect(res?.status(), path).toBe(200);
      expect(res?.headers()['cache-control'], path).toBe('no-store');
    }
    const cookie = (await context.cookies(`${jarvis.url}/ui/`)).map((c) => `${c.name}=${c.value}`).join('; ');
    const plain = (path: string, headers: Record<string, string> = {}, method = 'GET') => fetch(jarvis.url + path, { method, headers, redirect: 'manual' });
    const stream = await plain(`/ui/tasks/${id}/logs/stream`, { cookie }, 'HEAD');
    expect(stream.status).toBe(200);
    expect(stream.headers.get('cache-control')).toBe('no-store');
    expect((await plain('/ui/login')).headers.get('cache-control')).toBe('no-store');
    expect((await plain('/ui/tasks')).headers.get('cache-control')).toBe('no-store'); // the redirect to the sign-in
    expect((await plain('/ui/static/live.js')).headers.get('cache-control')).toBe('no-cache');
    await context.close();
  });

  it("answers another tenant's task as not found, and lists only one's own", async () => {
    const id = await alphaTask('ui-alpha-only');
    const { context, page } = await signIn(keys['viewer-beta']);
    const res = await page.goto(`${jarvis.url}/ui/tasks/${id}`);
    expect(res?.status()).toBe(404);
    expect(await page.locator('h1').innerText()).toBe('Not found');
    await page.goto(`${jarvis.url}/ui/tasks`);
    expect(await page.locator('main').innerText()).not.toContain('ui-alpha-only');
    // Searching by its name finds nothing either.
    await page.goto(`${jarvis.url}/ui/tasks?q=ui-alpha`);
    expect(await page.locator('main').innerText()).toContain('No tasks match.');
    await context.close();
  });

  it("counts only the key's tenant on the overview; an admin sees all or picks one", async () => {
    const r = await as(keys['submitter-alpha'])('POST', '/tasks', { image: TEST_IMAGE, command: ['true'], name: 'ui-big', priority: 'high', resources: { cpu: 3, memory_mb: 3000, gpu: 0 } });
    expect(r.status).toBe(201);
    const alpha = (await as(keys['viewer-alpha'])('GET', '/overview')).body;
    const beta = (await as(keys['viewer-beta'])('GET', '/overview')).body;
    const all = (await as(ADMIN)('GET', '/overview')).body;
    const picked = (await as(ADMIN)('GET', '/overview?tenant=alpha')).body;
    expect(alpha.tasks_by_status.queued).toBeGreaterThanOrEqual(1);
    expect(beta.tasks_by_status).toEqual({});
    expect(beta.queued_demand).toEqual([]);
    expect(picked).toEqual(alpha);
    expect(all.tasks_by_status.queued).toBeGreaterThanOrEqual(alpha.tasks_by_status.queued);
    expect(alpha.queued_by_priority.high).toBe(1);
    expect(alpha.queued_demand).toContainEqual({ cpu: 4, memory_mb: 4096, gpu: 0, tasks: 1, cpu_total: 3, memory_mb_total: 3000, gpu_total: 0 });
    expect((await as(keys['viewer-alpha'])('GET', '/overview?tenant=beta')).body).toEqual(alpha);

    const { context, page } = await signIn(keys['viewer-beta']);
    await page.goto(`${jarvis.url}/ui`);
    expect(await page.locator('[data-status=queued] .n').innerText()).toBe('0');
    expect(await page.locator('main').innerText()).toContain('No task is queued.');
    await context.close();
    const a = await signIn(keys['viewer-alpha']);
    await a.page.goto(`${jarvis.url}/ui`);
    expect(await a.page.locator('[data-priority=high] .n').innerText()).toBe('1');
    expect(await a.page.getByTestId('demand').innerText()).toMatch(/≤ 4 CPU, ≤ 4 GiB, 0 GPU\s+1\s+3 CPU\s+2.9 GiB\s+0/);
    expect(await a.page.getByLabel('Tenant', { exact: true }).count()).toBe(0);
    // Fair share: a key limited to its tenant sees that tenant's row only.
    expect(await a.page.getByTestId('tenants').locator('tr[data-tenant]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-tenant')))).toEqual(['alpha']);
    await a.context.close();
    // An admin picks a tenant on the overview; the figures are that tenant's.
    const admin = await signIn(ADMIN);
    await admin.page.goto(`${jarvis.url}/ui`);
    await admin.page.getByLabel('Tenant').fill('alpha');
    await admin.page.getByRole('button', { name: 'Show' }).click();
    await admin.page.waitForURL(/\/ui\?tenant=alpha$/);
    expect(await admin.page.locator('h1').innerText()).toBe('Overview of tenant alpha');
    expect(await admin.page.locator('[data-priority=high] .n').innerText()).toBe('1');
    await admin.page.goto(`${jarvis.url}/ui?tenant=beta`);
    expect(await admin.page.locator('[data-status=queued] .n').innerText()).toBe('0');
    await admin.context.close();
  });

  it('shows a viewer no workflow actions; a submitter gets cancel on a running workflow', async () => {
    const r = await as(keys['submitter-alpha'])('POST', '/workflows', { name: 'ui-wf-roles', tasks: [{ key: 'only', image: TEST_IMAGE, command: ['true'] }] });
    expect(r.status).toBe(201);
    const v = await signIn(keys['viewer-alpha']);
    await v.page.goto(`${jarvis.url}/ui/workflows/${r.body.id}`);
    expect(await v.page.locator('h1').innerText()).toContain('ui-wf-roles');
    expect(await v.page.locator('main button').count()).toBe(0);
    await v.context.close();
    const s = await signIn(keys['submitter-alpha']);
    await s.page.goto(`${jarvis.url}/ui/workflows/${r.body.id}`);
    expect(await s.page.locator('main button').allInnerTexts()).toEqual(['Cancel workflow']);
    await s.context.close();
  });

  it("lets an admin pick one tenant's tasks, showing each task's tenant; a viewer gets no tenant filter", async () => {
    await alphaTask('ui-tenant-pick');
    const { context, page } = await signIn(ADMIN);
    await page.goto(`${jarvis.url}/ui/tasks?tenant=alpha`);
    expect(await page.locator('main').innerText()).toContain('ui-tenant-pick');
    expect(await page.locator('main tbody').innerText()).toContain('alpha');
    await page.goto(`${jarvis.url}/ui/tasks?tenant=beta`);
    expect(await page.locator('main').innerText()).not.toContain('ui-tenant-pick');
    await context.close();
    const v = await signIn(keys['viewer-beta']);
    expect(await v.page.getByLabel('Tenant', { exact: true }).count()).toBe(0);
    await v.context.close();
  });

  it("answers a running workflow's unchanged live refresh with 304, checked with the viewer's key and tenant; a task's end draws it again", async () => {
    const wf = await as(keys['submitter-alpha'])('POST', '/workflows', {
      name: 'ui-wf-live',
      tasks: [
        { key: 'a', image: TEST_IMAGE, command: ['true'] },
        { key: 'b', image: TEST_IMAGE, command: ['true'] },
      ],
    });
    expect(wf.status).toBe(201);
    const path = `/ui/workflows/${wf.body.id}`;
    const made = await as(ADMIN)('POST', '/auth/keys', { name: 'viewer-alpha-live', role: 'viewer', tenant: 'alpha' });
    expect(made.status).toBe(201);
    const alpha = await signInWithFetch(jarvis.url, made.body.key, path);
    const beta = await signInWithFetch(jarvis.url, keys['viewer-beta'], path);
    /** The refresh the page's script sends, with the validator of the copy it has. */
    const refresh = async (cookie: string, tag?: string) => {
      const res = await fetch(jarvis.url + path, { redirect: 'manual', headers: { cookie, 'x-jarvis-live': '1', ...(tag ? { 'if-none-match': tag } : {}) } });
      const body = await res.text();
      return { res, body, tag: /data-etag="([^"]*)"/.exec(body)?.[1].replaceAll('&quot;', '"') };
    };
    let drawn = await refresh(alpha.cookie);
    expect(drawn.res.status).toBe(200);
    expect(drawn.body).toContain('2 queued');
    expect(drawn.tag).toMatch(/^W\/"[^"]+"$/);
    // Nothing changed: 304 with no body. (A write the scheduler makes meanwhile, such as a task's
    // waiting reason, or a new minute, draws it once more, with a new validator.)
    let again = await refresh(alpha.cookie, drawn.tag);
    for (let i = 0; again.res.status === 200 && i < 5; i++) [drawn, again] = [again, await refresh(alpha.cookie, again.tag)];
    expect(again.res.status).toBe(304);
    expect(again.body).toBe('');
    expect(again.res.headers.get('etag')).toBe(drawn.tag);

    // The validator is no key: another tenant's viewer sending it gets "not found", as without it;
    // and so does the API's ETag sent to the API.
    const other = await refresh(beta.cookie, drawn.tag);
    expect(other.res.status).toBe(404);
    expect(other.body).toContain('No workflow with this id that your key can see.');
    expect(other.res.headers.get('etag')).toBeNull();
    const read = await as(made.body.key)('GET', `/workflows/${wf.body.id}`);
    const apiTag = read.headers.get('etag')!;
    expect(apiTag).toMatch(/^W\/"[^"]+"$/);
    const ask = (key: string) => api(jarvis.url).call('GET', `/workflows/${wf.body.id}`, undefined, { authorization: `Bearer ${key}`, 'if-none-match': apiTag });
    expect((await ask(made.body.key)).status).toBe(304);
    expect((await ask(keys['viewer-beta'])).status).toBe(404);

    // A task ends: the same validator now gets the page drawn again, showing it.
    const a = wf.body.tasks.find((t: { workflow_key: string }) => t.workflow_key === 'a');
    expect((await as(keys['submitter-alpha'])('POST', `/tasks/${a.id}/cancel`)).status).toBe(200);
    const changed = await refresh(alpha.cookie, drawn.tag);
    expect(changed.res.status).toBe(200);
    expect(changed.body).toMatch(/1 cancelled/);
    expect(changed.tag).not.toBe(drawn.tag);
    expect((await ask(made.body.key)).status).toBe(200);

    // The key is revoked: its refresh goes to the sign-in form, whatever validator it sends.
    expect((await as(ADMIN)('DELETE', `/auth/keys/${made.body.id}`)).status).toBe(204);
    const revoked = await refresh(alpha.cookie, changed.tag);
    expect(revoked.res.status).toBe(303);
    expect(revoked.res.headers.get('location')).toBe(`/ui/login?next=${encodeURIComponent(path)}&expired=1`);
    expect((await as(keys['submitter-alpha'])('POST', `/workflows/${wf.body.id}/cancel`)).status).toBe(200);
  });
});
