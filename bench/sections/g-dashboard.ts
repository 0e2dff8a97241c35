// (g) The web dashboard in headless Chromium with 100,000 tasks in PostgreSQL: time to first paint
// and to a complete page (the HTML parsed, every row in the DOM: pages are rendered on the server,
// nothing is drawn later by a script) for the task list, a name search, filters, the overview,
// and a workflow page of 1,000 tasks (a 998-wide fan-out, and a mesh drawn in depth bands) and of
// a 10,000-deep chain (the API's most tasks: a hostile workflow, the audit of session 33). Rows
// are written straight into a fresh database of this section (no queue to churn through), then
// ANALYZE; `jarvis server` runs in open mode on it. Each page: one warm-up load, then `uiRuns`
// loads in a new tab each, median and slowest. Then the chain's page is fetched `uiRuns` times
// more while GET /health is sent again and again until it is served: how long the page holds up
// the API's process; and GET /workflows/{id} of the chain alone, the API's read that the page
// starts with. The plans of the task list's queries are kept too, and screenshots of the workflow
// pages go to test-output/.
import pg from 'pg';
import type { Redis } from 'ioredis';
import type { BrowserContext } from 'playwright-core';
import { openBrowser, screenshot } from '../../test/support/browser.ts';
import { freshDatabase, pausePendingQueue } from '../support/fixtures.ts';
import { log, onCleanup, RUN_ID } from '../support/harness.ts';
import { startJarvis } from '../support/jarvis.ts';
import { S } from '../support/settings.ts';
import { medianMax, round, sleep } from '../support/stats.ts';
import { pad } from '../support/table.ts';

interface PageTiming {
  page: string;
  path: string;
  /** What was checked to call the page complete. */
  complete_when: string;
  bytes: number;
  runs: number;
  first_paint_ms: { median: number; max: number };
  first_contentful_paint_ms: { median: number; max: number };
  complete_ms: { median: number; max: number };
  load_ms: { median: number; max: number };
  cold_complete_ms: number;
}

export interface DashboardResult {
  tasks: number;
  workflow_tasks: number;
  seed_seconds: number;
  browser: string;
  pages: PageTiming[];
  /**
   * The 10,000-deep chain's page fetched (no browser) while GET /health is sent one after the
   * other until the page is served: the page's time, the slowest /health of each fetch, and how
   * many /health answers were not 200 (its checks of Redis and the database give up after 1.5 s,
   * so a blocked event loop reads as a dependency down).
   */
  chain_page: {
    tasks: number;
    runs: number;
    server_ms: { median: number; max: number };
    /** GET /workflows/{id} of the chain alone: the part of the page that is the API's read. */
    api_read_ms: { median: number; max: number };
    api_read_bytes: number;
    slowest_health_during_ms: { median: number; max: number };
    health_not_ok: number;
  };
  plans: Record<string, { plan: string; execution_ms: number }>;
  note: string;
}

/** The API's most tasks in a workflow: the chain c0 <- c1 <- … is as deep as a workflow can be. */
const CHAIN_TASKS = 10_000;

async function seed(url: string, tasks: number, wfTasks: number): Promise<{ fan: string; mesh: string; chain: string }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    // Ended tasks of four tenants-worth of labels over the last `tasks` seconds, one event each
    // (the overview's last hour reads task_events).
    await client.query(`INSERT INTO tasks (id, name, image, env, priority, cpu, memory_mb, gpu, max_retries, retry_backoff_seconds,
        node_selector, labels, network, status, status_reason, attempts, exit_code, created_at, started_at, finished_at)
      SELECT gen_random_uuid(), 'bulk-' || i, 'busybox', '{}'::jsonb, (ARRAY['critical','high','normal','low'])[1 + i % 4],
        (ARRAY[0.5, 1, 2, 4])[1 + i % 4], (ARRAY[256, 512, 2048, 8192])[1 + i % 4], 0, 0, 1, '{}'::jsonb,
        jsonb_build_object('batch', (i % 100)::text), 'none', (ARRAY['succeeded','failed','cancelled','succeeded'])[1 + i % 4], 'done', 1, 0,
        now() - (i || ' seconds')::interval - interval '5 seconds', now() - (i || ' seconds')::interval - interval '3 seconds',
        now() - (i || ' seconds')::interval
      FROM generate_series(1, ${tasks}) AS i`);
    await client.query(`INSERT INTO task_events (task_id, at, status, node_id, attempt, reason)
      SELECT id, finished_at, status, null, 1, 'done' FROM tasks`);
    const wf = async (name: string, keyed: string) => {
      const id = (await client.query<{ id: string }>(`INSERT INTO workflows (id, name, status, on_failure, created_at, finished_at)
        VALUES (gen_random_uuid(), $1, 'failed', 'continue', now() - interval '30 minutes', now()) RETURNING id`, [name])).rows[0].id;
      // keyed: SQL giving (i, key, depends_on jsonb, start offset s, duration s) for i in 0..n-1.
      await client.query(
        `INSERT INTO tasks (id, name, image, env, priority, cpu, memory_mb, gpu, max_retries, retry_backoff_seconds, node_selector, labels,
           network, status, status_reason, attempts, exit_code, workflow_id, workflow_key, depends_on, created_at, started_at, finished_at)
         SELECT gen_random_uuid(), null, 'busybox', '{}'::jsonb, 'normal', 1, 256, 0, 0, 1, '{}'::jsonb, '{}'::jsonb, 'none',
           CASE WHEN k.i % 97 = 50 THEN 'failed' ELSE 'succeeded' END, 'done', 1, CASE WHEN k.i % 97 = 50 THEN 1 ELSE 0 END,
           $1, k.key, k.deps, now() - interval '30 minutes',
           now() - interval '30 minutes' + (k.s || ' seconds')::interval, now() - interval '30 minutes' + ((k.s + k.d) || ' seconds')::interval
         FROM (${keyed}) AS k`,
        [id],
      );
      return id;
    };
    const n = wfTasks;
    // root -> m0..m(n-3) (25 at a time) -> reduce
    const fan = await wf(
      'bench-fan',
      `SELECT 0 AS i, 'root' AS key, '[]'::jsonb AS deps, 0 AS s, 5 AS d
       UNION ALL SELECT i, 'm' || (i - 1), '["root"]'::jsonb, 5 + ((i - 1) / 25) * 12 + ((i - 1) % 25) * 0.3, 8 + (i % 7) FROM generate_series(1, ${n - 2}) AS i
       UNION ALL SELECT ${n - 1}, 'reduce', (SELECT jsonb_agg('m' || j) FROM generate_series(0, ${n - 3}) AS j), 5 + ((${n - 3}) / 25 + 1) * 12 + 10, 6`,
    );
    // t_i depends on t_(i-10) and t_(i-7): a mesh too irregular to group, drawn in depth bands
    const mesh = await wf(
      'bench-mesh',
      `SELECT i, 't' || i AS key,
         CASE WHEN i = 0 THEN '[]'::jsonb ELSE (jsonb_build_array(CASE WHEN i >= 10 THEN 't' || (i - 10) ELSE 't0' END)
           || CASE WHEN i >= 7 AND i <> 7 THEN jsonb_build_array('t' || (i - 7)) ELSE '[]'::jsonb END) END AS deps,
         (i / 10) * 4 AS s, 3 + (i % 5) AS d
       FROM generate_series(0, ${n - 1}) AS i`,
    );
    // c_i depends on c_(i-1), run one after the other
    const chain = await wf(
      'bench-chain',
      `SELECT i, 'c' || i AS key, CASE WHEN i = 0 THEN '[]'::jsonb ELSE jsonb_build_array('c' || (i - 1)) END AS deps, i * 0.17 AS s, 0.15 AS d
       FROM generate_series(0, ${CHAIN_TASKS - 1}) AS i`,
    );
    await client.query('ANALYZE');
    return { fan, mesh, chain };
  } finally {
    await client.end();
  }
}

async function explain(url: string): Promise<DashboardResult['plans']> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const plans: DashboardResult['plans'] = {};
  try {
    // The conditions TaskStore.list writes (state/task-store.ts): the label filter says
    // `labels <> '{}'` too, for the partial tasks_labels_idx.
    const queries: Record<string, string> = {
      'newest 50': `select * from tasks order by seq desc limit 50`,
      'name starts with bulk-9999': `select * from tasks where name like 'bulk-9999%' order by seq desc limit 50`,
      'count, name starts with bulk-9999': `select count(*) from tasks where name like 'bulk-9999%'`,
      'label batch:7, newest 50': `select * from tasks where labels @> '{"batch":"7"}'::jsonb and labels <> '{}'::jsonb order by seq desc limit 50`,
      'count, label batch:7': `select count(*) from tasks where labels @> '{"batch":"7"}'::jsonb and labels <> '{}'::jsonb`,
      'overview, last hour of events': `select e.status, count(*) from task_events e where e.at >= now() - interval '1 hour' group by 1`,
    };
    for (const [name, q] of Object.entries(queries)) {
      const r = await client.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode; 'Execution Time': number }> }>(`explain (analyze, format json) ${q}`);
      const root = r.rows[0]['QUERY PLAN'][0];
      plans[name] = { plan: describePlan(root.Plan), execution_ms: round(root['Execution Time'], 2) };
    }
  } finally {
    await client.end();
  }
  return plans;
}

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}
const describePlan = (n: PlanNode): string =>
  `${n['Node Type']}${n['Index Name'] ? ` on ${n['Index Name']}` : ''}${n.Plans?.length ? ` <- ${n.Plans.map(describePlan).join(', ')}` : ''}`;

async function timePage(context: BrowserContext, url: string, complete: string): Promise<{ fp: number; fcp: number; complete: number; load: number; bytes: number }> {
  const page = await context.newPage();
  try {
    const res = await page.goto(url, { waitUntil: 'load' });
    if (!res || res.status() !== 200) throw new Error(`${url}: ${res?.status()}`);
    const bytes = (await res.body()).length;
    const n = await page.locator(complete).count();
    if (n === 0) throw new Error(`${url}: nothing matches ${complete}`);
    // In the page (strings: this file is type-checked against Node's globals, not the DOM's). The
    // paint entries can land just after the load event: wait for them, polling from here:
    // page.waitForFunction re-evaluates its predicate with eval when it is not true at once, which
    // the dashboard's CSP (script-src 'self') refuses (microsoft/playwright#7395), so a loaded
    // machine failed the run. Chromium reports no separate first-paint when the first paint
    // already has content; it is then the FCP.
    const deadline = Date.now() + 10_000;
    while (!(await page.evaluate(`performance.getEntriesByType('paint').some((p) => p.name === 'first-contentful-paint')`))) {
      if (Date.now() > deadline) throw new Error(`${url}: no first-contentful-paint within 10 s`);
      await sleep(20);
    }
    const t = (await page.evaluate(`(() => {
      const nav = performance.getEntriesByType('navigation')[0];
      const paint = Object.fromEntries(performance.getEntriesByType('paint').map((p) => [p.name, p.startTime]));
      return { fp: paint['first-paint'] ?? paint['first-contentful-paint'], fcp: paint['first-contentful-paint'] ?? NaN, complete: nav.domContentLoadedEventEnd, load: nav.loadEventEnd };
    })()`)) as { fp: number; fcp: number; complete: number; load: number };
    return { ...t, bytes };
  } finally {
    await page.close();
  }
}

export async function dashboardPhase(redis: Redis): Promise<DashboardResult> {
  const prefix = `${RUN_ID}-ui`;
  const { db, tmp } = await freshDatabase('dashboard');
  await pausePendingQueue(redis, prefix);
  const jarvis = await startJarvis({ command: 'server', prefix, databaseUrl: db.url, dataDir: `${tmp}/pglite`, env: { JARVIS_RECONCILE_SECONDS: '3600' } });
  onCleanup(`stop jarvis server ${prefix}`, () => jarvis.stop());
  const seedStart = performance.now();
  log(`(g) seeding ${S.uiTasks} tasks, two ${S.uiWorkflowTasks}-task workflows and a ${CHAIN_TASKS}-deep chain into ${db.name}…`);
  const wf = await seed(db.url, S.uiTasks, S.uiWorkflowTasks);
  const seedSeconds = round((performance.now() - seedStart) / 1000, 1);
  const plans = await explain(db.url);

  const cleanups: Array<() => Promise<unknown>> = [];
  onCleanup('close the benchmark browser', async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  });
  const context = await openBrowser(cleanups);
  const version = context.browser()?.version() ?? 'chromium';
  const pages: Array<[string, string, string]> = [
    ['task list, newest 50 of all', '/ui/tasks', '#task-list tbody tr:nth-child(50)'],
    ['task list, last page', `/ui/tasks?offset=${Math.max(0, S.uiTasks - 50)}`, '#task-list tbody tr'],
    ['task list, name search "bulk-9999"', '/ui/tasks?q=bulk-9999', '#task-list tbody tr'],
    ['task list, status failed + label batch:5', '/ui/tasks?status=failed&label=batch%3A5', '#task-list tbody tr'],
    ['overview', '/ui', '[data-testid=last-hour]'],
    [`workflow, ${S.uiWorkflowTasks} tasks, fan-out`, `/ui/workflows/${wf.fan}`, 'svg.dag a[data-box=group] >> nth=0'],
    [`workflow, ${S.uiWorkflowTasks} tasks, mesh in depth bands`, `/ui/workflows/${wf.mesh}`, 'svg.gantt'],
    [`workflow, ${CHAIN_TASKS.toLocaleString('en')}-deep chain in bands`, `/ui/workflows/${wf.chain}`, 'svg.gantt'],
  ];
  const shotName: Record<string, string> = { [wf.fan]: `${S.uiWorkflowTasks}-fan`, [wf.mesh]: `${S.uiWorkflowTasks}-mesh`, [wf.chain]: `chain-${CHAIN_TASKS}` };
  const out: PageTiming[] = [];
  for (const [name, path, complete] of pages) {
    const cold = await timePage(context, jarvis.url + path, complete);
    const runs = [];
    for (let i = 0; i < S.uiRuns; i++) runs.push(await timePage(context, jarvis.url + path, complete));
    out.push({
      page: name,
      path: path.replace(/[0-9a-f-]{36}/, '{id}'),
      complete_when: `DOMContentLoaded, with ${complete} in the DOM`,
      bytes: runs[0].bytes,
      runs: runs.length,
      first_paint_ms: medianMax(runs.map((r) => r.fp)),
      first_contentful_paint_ms: medianMax(runs.map((r) => r.fcp)),
      complete_ms: medianMax(runs.map((r) => r.complete)),
      load_ms: medianMax(runs.map((r) => r.load)),
      cold_complete_ms: round(cold.complete, 1),
    });
    if (path.startsWith('/ui/workflows/')) {
      // What a big workflow looks like (test-output/, shown in docs/dashboard.md).
      const shot = await context.newPage();
      await shot.goto(jarvis.url + path);
      await screenshot(shot, `dashboard-workflow-${shotName[path.slice('/ui/workflows/'.length)]}`);
      await shot.close();
    }
    log(`(g) ${name}: complete in ${out.at(-1)!.complete_ms.median} ms (median of ${runs.length})`);
  }

  const timed = async (path: string) => {
    const start = performance.now();
    const res = await fetch(jarvis.url + path);
    await res.arrayBuffer();
    return { ms: performance.now() - start, status: res.status };
  };
  const server: number[] = [];
  const health: number[] = [];
  let healthNotOk = 0;
  for (let i = 0; i < S.uiRuns; i++) {
    let served = false;
    const page = timed(`/ui/workflows/${wf.chain}`).finally(() => (served = true));
    let slowest = 0;
    while (!served) {
      const h = await timed('/health');
      slowest = Math.max(slowest, h.ms);
      if (h.status !== 200) healthNotOk++;
    }
    const p = await page;
    if (p.status !== 200) throw new Error(`the chain's page: ${p.status}`);
    server.push(p.ms);
    health.push(slowest);
    await sleep(200);
  }
  const apiRead: number[] = [];
  let apiBytes = 0;
  for (let i = 0; i < S.uiRuns; i++) {
    const start = performance.now();
    const res = await fetch(`${jarvis.url}/workflows/${wf.chain}`);
    apiBytes = (await res.arrayBuffer()).byteLength;
    if (res.status !== 200) throw new Error(`GET /workflows/{chain}: ${res.status}`);
    apiRead.push(performance.now() - start);
  }
  log(`(g) chain page ${medianMax(server).median} ms, slowest /health during it ${medianMax(health).median} ms (medians of ${S.uiRuns}), ${healthNotOk} not 200`);
  return {
    tasks: S.uiTasks,
    workflow_tasks: S.uiWorkflowTasks,
    seed_seconds: seedSeconds,
    browser: `headless ${version}`,
    pages: out,
    chain_page: { tasks: CHAIN_TASKS, runs: S.uiRuns, server_ms: medianMax(server), api_read_ms: medianMax(apiRead), api_read_bytes: apiBytes, slowest_health_during_ms: medianMax(health), health_not_ok: healthNotOk },
    plans,
    note: 'times from the navigation start in the page (performance API); one warm-up load per page first (its complete time is cold_complete_ms)',
  };
}

export function printDashboard(r: DashboardResult): string[] {
  const lines = [
    `(g) dashboard in ${r.browser}, ${r.tasks.toLocaleString('en')} tasks in PostgreSQL, workflows of ${r.workflow_tasks} tasks (ms, median / slowest of ${r.pages[0]?.runs ?? 0})`,
    `${pad('page', 48)} ${pad('first paint', 16, true)} ${pad('complete', 16, true)} ${pad('cold', 8, true)} ${pad('KiB', 6, true)}`,
  ];
  for (const p of r.pages) {
    lines.push(
      `${pad(p.page, 48)} ${pad(`${p.first_paint_ms.median} / ${p.first_paint_ms.max}`, 16, true)} ${pad(`${p.complete_ms.median} / ${p.complete_ms.max}`, 16, true)} ${pad(p.cold_complete_ms, 8, true)} ${pad(Math.round(p.bytes / 1024), 6, true)}`,
    );
  }
  const c = r.chain_page;
  lines.push(
    `${c.tasks.toLocaleString('en')}-deep chain's page, no browser: ${c.server_ms.median} / ${c.server_ms.max} ms; slowest GET /health while it was served: ${c.slowest_health_during_ms.median} / ${c.slowest_health_during_ms.max} ms (${c.health_not_ok} answers not 200); GET /workflows/{id} alone: ${c.api_read_ms.median} / ${c.api_read_ms.max} ms, ${Math.round(c.api_read_bytes / 1024)} KiB`,
  );
  lines.push('plans:');
  for (const [name, p] of Object.entries(r.plans)) lines.push(`  ${pad(name, 36)} ${pad(p.execution_ms, 8, true)} ms  ${p.plan}`);
  return lines;
}
