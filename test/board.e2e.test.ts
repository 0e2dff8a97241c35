// The BullMQ board as a person sees it: headless Chromium (Debian's, driven by playwright-core)
// opens /admin/queues of a running jarvis, finds Jarvis's queues, opens the pending queue and
// sees the jobs of tasks waiting there. A screenshot is kept in test-output/board.png.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import { TEST_IMAGE } from './support/env.ts';
import { api, ROOT, startJarvis } from './support/jarvis.ts';

const CHROMIUM = process.env.JARVIS_CHROMIUM ?? '/usr/bin/chromium';
const OUTPUT = join(ROOT, 'test-output');

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function openBrowser(): Promise<BrowserContext> {
  const profile = mkdtempSync(join(tmpdir(), 'jarvis-chromium-'));
  cleanups.push(async () => rmSync(profile, { recursive: true, force: true }));
  // A persistent context is how playwright gives Chromium its own, new, empty --user-data-dir.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1400, height: 900 },
  });
  cleanups.push(() => context.close());
  // The page asks for web fonts; nothing leaves this machine.
  await context.route(/^(?!https?:\/\/(127\.0\.0\.1|localhost)[:/])/, (route) => route.abort());
  return context;
}

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

    const context = await openBrowser();
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

    mkdirSync(OUTPUT, { recursive: true });
    await page.screenshot({ path: join(OUTPUT, 'board.png'), fullPage: true });
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
