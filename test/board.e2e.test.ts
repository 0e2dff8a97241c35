// The BullMQ board as a person sees it: headless Chromium (Debian's, driven by playwright-core)
// opens /admin/queues of a running jarvis, finds Jarvis's queues, opens the pending queue and
// sees the jobs of tasks waiting there. A screenshot is kept in test-output/board.png.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { TEST_IMAGE } from './support/env.ts';
import { openBrowser, screenshot } from './support/browser.ts';
import { api, startJarvis } from './support/jarvis.ts';
import { removeLeftovers } from './support/leftovers.ts';

// Redis keys and task containers of this file's processes; first, so that it runs after the
// other after-hooks, once those processes are stopped.
afterAll(removeLeftovers);

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

describe('queue board at /admin/queues', () => {
  it("lists Jarvis's queues and shows the jobs waiting in one", async () => {
    const jarvis = await startJarvis({ databaseUrl: null });
    cleanups.push(() => jarvis.stop());
    const http = api(jarvis.url);
    // Tasks no node matches wait in the pending queue, so there are jobs to see.
    const waiting: string[] = [];
    for (const name of ['board-a', 'board-b']) {
      const r = await http.post('/tasks', { image: TEST_IMAGE, command: ['true'], name, node_selector: { zone: 'nowhere' } });
      expect(r.status).toBe(201);
      waiting.push(r.body.id);
    }
    for (const id of waiting) await http.waitForTask(id, (t) => /no node fits/.test(t.status_reason ?? ''));

    const context = await openBrowser(cleanups);
    const page = context.pages()[0] ?? (await context.newPage());
    const problems: string[] = [];
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('response', (res) => {
      if (res.url().startsWith(jarvis.url) && res.status() >= 400) problems.push(`${res.status()} ${res.url()}`);
    });

    await page.goto(`${jarvis.url}/admin/queues`);
    const overview = page.locator('main');
    await expect.poll(() => overview.innerText(), { timeout: 15_000 }).toMatch(/pending[\s\S]*2 Jobs/);
    expect(await overview.innerText()).toContain('task-events');
    const sidebar = await page.locator('nav, aside').first().innerText();
    expect(sidebar).toContain('pending');
    expect(sidebar).toContain('task-events');

    await page.getByRole('link', { name: 'pending', exact: true }).first().click();
    await page.waitForURL(/\/admin\/queues\/queue\/pending/);
    for (const id of waiting) await expect.poll(() => page.getByText(id, { exact: true }).count(), { timeout: 15_000 }).toBeGreaterThan(0);
    expect(await page.locator('main').innerText()).toContain('place');

    await screenshot(page, 'board');
    expect(problems).toEqual([]);

    // It only shows: a job added by hand (to task-events, a forged result) is refused and none
    // is added; so are the board's other actions on the queues.
    const forged = { type: 'finished', taskId: waiting[0], attempt: 1, status: 'succeeded', exitCode: 0, error: null, finishedAt: new Date().toISOString(), result: 'forged' };
    const add = await fetch(`${jarvis.url}/admin/queues/api/queues/task-events/add`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'finished', data: forged }) });
    expect(add.status).toBe(405);
    for (const [method, path] of [['PUT', 'pending/pause'], ['PUT', 'pending/clean/delayed'], ['PUT', 'task-events/empty'], ['PUT', 'pending/retry/failed']]) {
      expect((await fetch(`${jarvis.url}/admin/queues/api/queues/${path}`, { method })).status, `${method} ${path}`).toBe(405);
    }
    const counts = (await (await fetch(`${jarvis.url}/admin/queues/api/queues?activeQueue=task-events&status=latest&page=1`)).json()) as { queues: Array<{ name: string; counts: Record<string, number>; readOnlyMode: boolean }> };
    expect(counts.queues.every((q) => q.readOnlyMode)).toBe(true);
    expect((await http.get(`/tasks/${waiting[0]}`)).body.status).toBe('queued');
  });
});
