// The web dashboard as a person sees it, in open mode (the quick start: no key, loopback), against
// a real `jarvis up`: each page, live log and status updates, and each action (cancel, retry,
// drain, resume, cancel a workflow). Screenshots of every page go to test-output/.
import type { BrowserContext, Page, Response } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBrowser, screenshot, watchedPage } from './support/browser.ts';
import { TEST_IMAGE } from './support/env.ts';
import { api, startJarvis } from './support/jarvis.ts';
import { removeLeftovers } from './support/leftovers.ts';

// Redis keys and task containers of this file's processes; first, so that it runs after the
// other after-hooks, once those processes are stopped.
afterAll(removeLeftovers);

const cleanups: Array<() => Promise<unknown>> = [];
let jarvis: Awaited<ReturnType<typeof startJarvis>>;
let context: BrowserContext;
let page: Page;
let problems: string[];
const http = () => api(jarvis.url);
const text = () => page.locator('main').innerText();

beforeAll(async () => {
  jarvis = await startJarvis({ databaseUrl: null });
  cleanups.push(() => jarvis.stop());
  context = await openBrowser(cleanups);
  ({ page, problems } = await watchedPage(context, jarvis.url));
});
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function submit(body: Record<string, unknown>): Promise<string> {
  const r = await http().post('/tasks', { image: TEST_IMAGE, ...body });
  expect(r.status).toBe(201);
  return r.body.id;
}

describe('dashboard at /ui (open mode)', () => {
  it('needs no sign-in in open mode and shows totals by status, queue depth and nodes', async () => {
    await submit({ name: 'ov-waiting', command: ['true'], node_selector: { zone: 'nowhere' } });
    await page.goto(`${jarvis.url}/ui/login`);
    expect(await text()).toContain('open mode');
    await page.goto(`${jarvis.url}/ui`);
    await expect.poll(text, { timeout: 15_000 }).toMatch(/1\s*queued/);
    const main = await text();
    expect(main).toContain('Tasks by status');
    expect(await page.locator('[data-priority=normal] .n').innerText()).toBe('1');
    expect(main).toMatch(/Queue depth by priority[\s\S]*normal/);
    // What the queued task asks for (the defaults: 1 CPU, 256 MiB), as a resource shape.
    expect(await page.getByTestId('demand').locator('tbody tr').allInnerTexts()).toEqual([expect.stringMatching(/≤ 1 CPU, ≤ 256 MiB, 0 GPU\s+1\s+1 CPU\s+256 MiB\s+0/)]);
    // The last hour in 5-minute rows: the status as a column heading (a word), the count in the last row.
    const hour = page.getByTestId('last-hour');
    expect(await hour.locator('thead').innerText()).toMatch(/From\s+queued/);
    expect(await hour.locator('tbody tr').count()).toBe(12);
    expect(await hour.locator('tbody tr').last().innerText()).toMatch(/^\d\d:\d\d\s+1\b/);
    expect(main).toMatch(/1 nodes: 1 available/);
    // Fair share per tenant (GET /tenants): the default tenant's queued task, its share as text.
    expect(await page.getByTestId('tenants').locator('tr[data-tenant=default]').innerText()).toMatch(/^default\s+1\s+0 \(no quota\)\s+0 \(no quota\)\s+0 \(no quota\)\s+0 \(no quota\)\s+1\s+0% of cpu \/ 100%/);
    expect(await page.getByTestId('who').innerText()).toBe('open mode (no sign-in)');
    await screenshot(page, 'dashboard-overview');
  });

  it('lists tasks with their columns, filters them, finds one by id, and follows its log live', async () => {
    const id = await submit({
      name: 'ui-live',
      command: ['sh', '-c', 'for i in 1 2 3 4 5 6; do echo line-$i; sleep 1; done; echo 42 > /tmp/count'],
      labels: { team: 'ui' },
      outputs: { count: { path: '/tmp/count' } },
    });
    await http().waitForTask(id, (t) => t.status === 'running');
    await page.goto(`${jarvis.url}/ui/tasks/${id}`);
    const log = page.locator('pre#log');
    // The page was rendered before line-4 existed: it arrives over the relayed SSE stream.
    await expect.poll(() => log.innerText(), { timeout: 20_000 }).toContain('line-4');
    await expect.poll(() => page.locator('#log-state').innerText(), { timeout: 20_000 }).toMatch(/Log complete \(task succeeded\)/);
    await expect.poll(() => page.locator('h1').innerText(), { timeout: 10_000 }).toContain('succeeded');
    await expect.poll(() => page.locator('#task-live').innerText(), { timeout: 10_000 }).toMatch(/Events[\s\S]*succeeded/);
    await expect.poll(() => page.locator('#task-fields').innerText(), { timeout: 10_000 }).toMatch(/status\s+succeeded[\s\S]*finished_at\s+20\d\d-/);
    // Ended: the live parts stop, and so do the page's refreshes.
    await expect.poll(() => page.locator('[data-live]').count(), { timeout: 10_000 }).toBe(0);
    let refreshes = 0;
    const count = (r: { headers(): Record<string, string> }) => void (r.headers()['x-jarvis-live'] && refreshes++);
    page.on('request', count);
    await page.waitForTimeout(3_500);
    page.off('request', count);
    expect(refreshes).toBe(0);
    expect((await log.innerText()).match(/line-\d/g)).toEqual(['line-1', 'line-2', 'line-3', 'line-4', 'line-5', 'line-6']);
    // What it produced: its result (the last line of its output) and the output file it declared.
    await page.reload();
    expect(await page.getByTestId('task-result').innerText()).toContain('line-6');
    expect(await page.getByTestId('task-outputs').innerText()).toMatch(/count\s+42/);
    const main = await text();
    expect(main).toContain('Why succeeded: its command exited with code 0');
    expect(main).toMatch(/Events[\s\S]*queued[\s\S]*running[\s\S]*succeeded/);
    expect(main).toContain('labels');
    expect(main).toContain('{"team":"ui"}');
    await screenshot(page, 'dashboard-task');

    // The stored log after the end, on a fresh load: same lines, no gap.
    await page.reload();
    expect((await log.innerText()).match(/line-\d/g)).toEqual(['line-1', 'line-2', 'line-3', 'line-4', 'line-5', 'line-6']);
    expect(await page.locator('#log-state').innerText()).toBe('Stored log.');

    await page.goto(`${jarvis.url}/ui/tasks`);
    const row = page.locator('tr', { hasText: 'ui-live' });
    expect(await row.innerText()).toMatch(/ui-live[\s\S]*succeeded[\s\S]*normal/);
    expect(await page.locator('thead').innerText()).toMatch(/Task\s+Status\s+Tenant\s+Priority\s+Node\s+Age\s+Duration/);
    await screenshot(page, 'dashboard-tasks');

    await page.getByLabel('Label (key:value)').fill('team:ui');
    await page.getByRole('button', { name: 'Show' }).click();
    await page.waitForURL(/label=team%3Aui/);
    expect(await text()).toMatch(/Tasks 1–1 of 1[\s\S]*ui-live/);
    await page.getByLabel('Status').selectOption('queued');
    await page.getByRole('button', { name: 'Show' }).click();
    await page.waitForURL(/status=queued/);
    expect(await text()).toContain('No tasks match.');

    // A name searches by its start, together with the other filters, all kept in the URL.
    await page.goto(`${jarvis.url}/ui/tasks`);
    await page.getByLabel('Task id or name').fill('ui-li');
    await page.getByLabel('Label (key:value)').fill('team:ui');
    await page.getByLabel('Status').selectOption('succeeded');
    await page.getByLabel('Task id or name').press('Enter');
    await page.waitForURL(/q=ui-li&status=succeeded&label=team%3Aui/);
    expect(await page.getByTestId('list-summary').innerText()).toBe('Tasks 1–1 of 1 · name starts with "ui-li", status "succeeded", label "team:ui"');
    expect(await page.getByLabel('Task id or name').inputValue()).toBe('ui-li');
    // Live: a task that starts to match appears without a reload.
    const second = await submit({ name: 'ui-live-2', command: ['true'], labels: { team: 'ui' } });
    await http().waitForTask(second, (t) => t.status === 'succeeded');
    await expect.poll(() => page.getByTestId('list-summary').innerText(), { timeout: 15_000 }).toMatch(/^Tasks 1–2 of 2/);
    expect(await page.locator('#task-list tbody tr').first().innerText()).toContain('ui-live-2');
    await page.getByLabel('Task id or name').fill('no-such-name');
    await page.getByLabel('Task id or name').press('Enter');
    await page.waitForURL(/q=no-such-name/);
    expect(await text()).toContain('No tasks match.');

    await page.getByLabel('Task id or name').fill(id);
    await page.getByLabel('Task id or name').press('Enter');
    await page.waitForURL(new RegExp(`/ui/tasks/${id}$`));
    expect(await page.locator('h1').innerText()).toContain('ui-live');
    expect(problems).toEqual([]);
  });

  it('cancels a running task and retries a cancelled one, with the result shown on the page', async () => {
    const id = await submit({ name: 'ui-cancel', command: ['sleep', '60'] });
    await http().waitForTask(id, (t) => t.status === 'running');
    await page.goto(`${jarvis.url}/ui/tasks/${id}`);
    expect(await page.getByRole('button', { name: 'Retry task' }).count()).toBe(0);
    await page.getByRole('button', { name: 'Cancel task' }).click();
    await page.waitForURL(/ok=Task\+cancelled|ok=Task%20cancelled/);
    expect(await page.getByRole('status').first().innerText()).toBe('Task cancelled');
    expect(await page.locator('h1').innerText()).toContain('cancelled');
    expect(await page.getByRole('button', { name: 'Cancel task' }).count()).toBe(0);

    // Retried here: a task cancelled while it waited (a running one retried within seconds of its
    // cancel is cancelled again by its node, a worker bug reported separately).
    const waiting = await submit({ name: 'ui-retry', command: ['true'], node_selector: { zone: 'nowhere' } });
    expect((await http().post(`/tasks/${waiting}/cancel`)).status).toBe(200);
    await page.goto(`${jarvis.url}/ui/tasks/${waiting}`);
    await page.getByRole('button', { name: 'Retry task' }).click();
    await page.waitForURL(/ok=Task\+queued\+again|ok=Task%20queued%20again/);
    expect(await page.locator('.flash').innerText()).toBe('Task queued again');
    expect(await page.locator('h1').innerText()).toContain('queued');
    expect(await page.locator('#task-live').innerText()).toMatch(/retry requested after cancelled/);
    await http().post(`/tasks/${waiting}/cancel`);
    expect(problems).toEqual([]);
  });

  it('shows nodes with capacity bars and heartbeat age, and drains and resumes one', async () => {
    await page.goto(`${jarvis.url}/ui/nodes`);
    const row = page.locator(`tr[data-node="node-${jarvis.prefix}"]`);
    expect(await row.innerText()).toMatch(/available[\s\S]*CPU[\s\S]*Memory[\s\S]*GPU[\s\S]*Slots[\s\S]*s ago/);
    expect(await row.locator('meter').count()).toBe(4);
    await screenshot(page, 'dashboard-nodes');
    await row.getByRole('button', { name: /^Drain / }).click();
    await page.waitForURL(/ok=/);
    expect(await page.locator('.flash').innerText()).toContain('Node draining');
    expect(await page.locator(`tr[data-node="node-${jarvis.prefix}"]`).innerText()).toContain('draining');
    await page.locator(`tr[data-node="node-${jarvis.prefix}"]`).getByRole('button', { name: /^Resume / }).click();
    await page.waitForURL(/ok=Node\+resumed|ok=Node%20resumed/);
    expect(await page.locator(`tr[data-node="node-${jarvis.prefix}"]`).innerText()).toContain('available');
    expect(problems).toEqual([]);
  });

  it('draws a workflow as a graph with a wide fan-out collapsed, a timeline, and cancels it', async () => {
    const fan = Array.from({ length: 25 }, (_, i) => ({ key: `shard-${i}`, image: TEST_IMAGE, command: ['true'], depends_on: ['extract'], node_selector: { zone: 'nowhere' } }));
    const r = await http().post('/workflows', {
      name: 'ui-fan',
      tasks: [{ key: 'extract', image: TEST_IMAGE, command: ['sh', '-c', 'echo extracted'] }, ...fan, { key: 'load', image: TEST_IMAGE, command: ['true'], depends_on: fan.map((f) => f.key) }],
    });
    expect(r.status).toBe(201);
    const extract = r.body.tasks.find((t: { workflow_key: string }) => t.workflow_key === 'extract');
    await http().waitForTask(extract.id, (t) => t.status === 'succeeded');

    await page.goto(`${jarvis.url}/ui/workflows`);
    expect(await page.locator('tr', { hasText: 'ui-fan' }).innerText()).toMatch(/running[\s\S]*1 succeeded/);
    await screenshot(page, 'dashboard-workflows');
    await page.getByRole('link', { name: 'ui-fan' }).click();
    await page.waitForURL(/\/ui\/workflows\//);
    const svg = page.locator('svg.dag');
    expect(await svg.locator('a[data-box=task]').count()).toBe(2); // extract and load
    const group = svg.locator('a[data-box=group]');
    expect(await group.count()).toBe(1);
    expect(await group.locator('text').allTextContents()).toEqual(expect.arrayContaining(['25 tasks (shard-0 … shard-24)', '25 queued']));
    const box = svg.locator('a[data-box=task]', { hasText: 'extract' });
    expect(await box.locator('text').allTextContents()).toEqual(['extract', 'succeeded']);
    expect(await svg.locator('a[data-box=task]', { hasText: 'load' }).locator('text').allTextContents()).toEqual(['load', 'pending']);
    expect(await page.locator('svg.gantt').getAttribute('aria-label')).toMatch(/Timeline of 1 tasks/);
    await screenshot(page, 'dashboard-workflow');

    // Keyboard: the graph's boxes are links; Enter opens the task.
    await box.focus();
    await page.keyboard.press('Enter');
    await page.waitForURL(new RegExp(`/ui/tasks/${extract.id}$`));
    expect(await page.locator('pre#log').innerText()).toContain('extracted');
    await page.goBack();

    await page.getByRole('button', { name: 'Cancel workflow' }).click();
    await page.waitForURL(/ok=Workflow/);
    expect(await page.locator('h1').innerText()).toContain('cancelled');
    expect(await page.getByRole('button', { name: 'Cancel workflow' }).count()).toBe(0);

    // Retry, a POST to the API's POST /workflows/{id}/retry: the cancelled tasks are queued again.
    await page.getByRole('button', { name: 'Retry workflow' }).click();
    await page.waitForURL(/\/ui\/workflows\/[0-9a-f-]{36}\?ok=/);
    expect(await page.locator('.flash').innerText()).toMatch(/^Workflow retried/);
    expect(await page.locator('h1').innerText()).not.toContain('cancelled');
    expect(problems).toEqual([]);
  });

  it('keeps a 1,000-task workflow readable: an irregular mesh is listed in bands, every task counted once', async () => {
    // t_i depends on t_(i-10) and t_(i-7): too irregular to group; the root waits for a node that never comes.
    const tasks = Array.from({ length: 1000 }, (_, i) => ({
      key: `t${i}`,
      image: TEST_IMAGE,
      command: ['true'],
      depends_on: i === 0 ? [] : i < 10 ? ['t0'] : [`t${i - 10}`, `t${i - 7}`],
      ...(i === 0 ? { node_selector: { zone: 'nowhere' } } : {}),
    }));
    const r = await http().post('/workflows', { name: 'ui-mesh', tasks });
    expect(r.status).toBe(201);
    await page.goto(`${jarvis.url}/ui/workflows/${r.body.id}`);
    const bands = page.locator('ol.bands li');
    expect(await bands.count()).toBeGreaterThan(1);
    expect(await bands.count()).toBeLessThanOrEqual(60);
    const texts = await bands.allInnerTexts();
    const counted = texts.reduce((n, t) => n + [...t.matchAll(/(\d+) (pending|queued)/g)].reduce((a, m) => a + Number(m[1]), 0), 0);
    expect(counted).toBe(1000);
    expect(texts[0]).toMatch(/^1\. /);
    expect(await page.locator('main').innerText()).toContain('listed as bands of consecutive depths, in order');
    // Bands are links to the workflow's tasks, reachable with the keyboard.
    await page.locator('ol.bands a').first().focus();
    await page.keyboard.press('Enter');
    await page.waitForURL(new RegExp(`/ui/tasks\\?workflow_id=${r.body.id}$`));
    expect(await page.getByTestId('list-summary').innerText()).toMatch(/^Tasks 1–50 of 1000 · workflow id/);
    expect((await http().post(`/workflows/${r.body.id}/cancel`)).status).toBe(200);
    expect(problems).toEqual([]);
  });

  it("refreshes a running workflow's page only when it changed: 304 with no body while nothing did, then a task's end and the workflow's", async () => {
    const held = (key: string) => ({ key, image: TEST_IMAGE, command: ['true'], node_selector: { zone: 'nowhere' } });
    const r = await http().post('/workflows', { name: 'ui-live-wf', tasks: [held('first'), held('second')] });
    expect(r.status).toBe(201);
    const idOf = (key: string) => r.body.tasks.find((t: { workflow_key: string }) => t.workflow_key === key).id;
    const live: Array<{ status: number; bytes: number }> = [];
    const seen = async (res: Response) => {
      if (res.request().headers()['x-jarvis-live']) live.push({ status: res.status(), bytes: (await res.request().sizes()).responseBodySize });
    };
    page.on('response', seen);
    try {
      await page.goto(`${jarvis.url}/ui/workflows/${r.body.id}`);
      await page.evaluate('window.jarvisTestLoaded = true'); // gone if the page were loaded again
      const counts = page.locator('#workflow-live > p').first();
      expect(await counts.innerText()).toMatch(/^2 tasks: 2 queued/);
      // Nothing changes: the refreshes (every 4 s) are answered 304, with no body. (One drawn
      // again may come first: a task's waiting reason written meanwhile, or a new minute.)
      await expect.poll(() => live.filter((l) => l.status === 304).length, { timeout: 30_000 }).toBeGreaterThanOrEqual(2);
      expect(new Set(live.filter((l) => l.status === 304).map((l) => l.bytes))).toEqual(new Set([0]));

      // A task ends: a refresh shows it, without a reload.
      expect((await http().post(`/tasks/${idOf('first')}/cancel`)).status).toBe(200);
      await expect.poll(() => counts.innerText(), { timeout: 15_000 }).toMatch(/^2 tasks: 1 cancelled, 1 queued/);
      expect(await page.locator('svg.dag a[data-box=task]', { hasText: 'first' }).locator('text').allTextContents()).toEqual(['first', 'cancelled']);
      // The workflow ends: shown, and the refreshes stop.
      expect((await http().post(`/tasks/${idOf('second')}/cancel`)).status).toBe(200);
      await expect.poll(() => page.locator('h1').innerText(), { timeout: 15_000 }).not.toContain('running');
      expect(await page.locator('[data-live]').count()).toBe(0);
      expect(await page.evaluate('window.jarvisTestLoaded')).toBe(true);
    } finally {
      page.off('response', seen);
    }
    expect(problems).toEqual([]);
  });

  it('is usable on a narrow screen and in a dark theme', async () => {
    await page.setViewportSize({ width: 380, height: 800 });
    await page.emulateMedia({ colorScheme: 'dark' });
    const workflow = await page.goto(`${jarvis.url}/ui/workflows`).then(() => page.getByRole('link', { name: 'ui-fan' }).getAttribute('href'));
    for (const path of ['/ui', '/ui/tasks', '/ui/workflows', workflow!, '/ui/nodes']) {
      await page.goto(jarvis.url + path);
      expect(await page.evaluate('getComputedStyle(document.body).backgroundColor'), path).toBe('rgb(20, 23, 28)');
      // Nothing but the tables' and graphs' own scrollers overflows the page's width.
      expect(await page.evaluate('document.documentElement.scrollWidth'), path).toBeLessThanOrEqual(380);
    }
    await page.goto(`${jarvis.url}/ui/tasks`);
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement?.textContent')).toBe('Skip to content');
    await screenshot(page, 'dashboard-tasks-narrow-dark');
    await page.goto(`${jarvis.url}/ui`);
    await screenshot(page, 'dashboard-overview-narrow-dark');
    await page.setViewportSize({ width: 1400, height: 900 });
    await page.emulateMedia({ colorScheme: 'light' });
    await page.goto(`${jarvis.url}/ui/tasks`);
    expect(await page.evaluate('getComputedStyle(document.body).backgroundColor')).toBe('rgb(255, 255, 255)');
  });

  it('says every status in words, not colour alone, on every page', async () => {
    const workflow = await page.goto(`${jarvis.url}/ui/workflows`).then(() => page.getByRole('link', { name: 'ui-fan' }).getAttribute('href'));
    const words = new Set(['pending', 'queued', 'scheduled', 'running', 'succeeded', 'failed', 'timed_out', 'cancelled', 'skipped', 'available', 'draining', 'unhealthy', 'offline']);
    for (const path of ['/ui', '/ui/tasks', '/ui/workflows', workflow!, '/ui/nodes']) {
      await page.goto(jarvis.url + path);
      const badges = await page.locator('.status').allInnerTexts();
      expect(badges.length, path).toBeGreaterThan(0);
      for (const b of badges) expect(words.has(b.trim()), `${path}: "${b}"`).toBe(true);
    }
    // The graph's boxes carry their status as text too.
    await page.goto(jarvis.url + workflow!);
    for (const box of await page.locator('svg.dag a').all()) expect(await box.locator('text').allTextContents()).toEqual(expect.arrayContaining([expect.stringMatching(/succeeded|queued|pending|cancelled|skipped|\d+ \w+/)]));
    expect(problems).toEqual([]);
  });

  it('works with the keyboard alone: skip link, navigation, filters and an action', async () => {
    const id = await submit({ name: 'ui-keys', command: ['true'], node_selector: { zone: 'nowhere' } });
    await page.goto(`${jarvis.url}/ui`);
    const focused = () => page.evaluate('(document.activeElement?.innerText ?? document.activeElement?.value ?? "").trim()') as Promise<string>;
    const tabTo = async (want: RegExp, limit = 60) => {
      for (let i = 0; i < limit; i++) {
        await page.keyboard.press('Tab');
        if (want.test(await focused())) return;
      }
      throw new Error(`Tab never reached ${want}`);
    };
    // The skip link moves focus past the navigation.
    await page.keyboard.press('Tab');
    expect(await focused()).toBe('Skip to content');
    await page.keyboard.press('Enter');
    expect(await page.evaluate('document.activeElement?.id')).toBe('main');
    // Navigation by Tab and Enter.
    await page.goto(`${jarvis.url}/ui`);
    await tabTo(/^Tasks$/);
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/ui\/tasks$/);
    // The filter form: type a name, Enter submits it.
    await tabTo(/^$/); // the search box (empty)
    expect(await page.evaluate('document.activeElement?.name')).toBe('q');
    await page.keyboard.type('ui-keys');
    await page.keyboard.press('Enter');
    await page.waitForURL(/q=ui-keys/);
    await tabTo(/^ui-keys$/);
    await page.keyboard.press('Enter');
    await page.waitForURL(new RegExp(`/ui/tasks/${id}$`));
    // Focus is visible: an outline on the focused control.
    await tabTo(/^Cancel task$/);
    expect(await page.evaluate('getComputedStyle(document.activeElement).outlineStyle')).toBe('solid');
    await page.keyboard.press('Enter');
    await page.waitForURL(/ok=Task/);
    expect(await page.locator('h1').innerText()).toContain('cancelled');
    expect(problems).toEqual([]);
  });
});
