// The live refresh of a big running workflow's page (/ui/workflows/:id, data-live="4000"): what one
// refresh costs the API's process and the wire, when nothing changed and when a few tasks did. A
// 10,000-task workflow (the API's most: root -> 9,998 shards -> reduce; 8,000 shards succeeded,
// 200 running, the rest queued) is written straight into a fresh database beside 50,000 ended
// tasks; `jarvis server` runs in open mode on it with the pending queue paused (nothing moves but
// what this script changes). A
// refresh is the request the page's script sends (`x-jarvis-live: 1`, and `If-None-Match` with the
// page's validator when the page carries one, `data-etag`); "changed" moves 5 running shards to
// succeeded and 5 queued ones to running (rows and events, as the result recorder writes them)
// before each refresh. Each: one warm-up, then `--runs` requests; wall time from this process and
// CPU time of the server process (/proc), median and slowest, and bytes of the answer's body.
// Then the plans and times of the statement an If-None-Match costs and of the read it saves.
//
//   npx tsx bench/workflow-refresh.ts [--runs 7]
//
// Results: bench/results/workflow-refresh-<timestamp>-<commit>.json.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { freshDatabase, pausePendingQueue } from './support/fixtures.ts';
import { cleanup, cleanUpOnSignals, log, onCleanup, RUN_ID } from './support/harness.ts';
import { startJarvis } from './support/jarvis.ts';
import { connectRedis, deleteKeysWithPrefix } from './support/services.ts';
import { medianMax, sleep } from './support/stats.ts';
import { pad } from './support/table.ts';
import { writeResultFile } from './support/result-file.ts';

const { values: argv } = parseArgs({ options: { runs: { type: 'string', default: '7' } } });
const RUNS = Math.max(1, Number(argv.runs));
const TASKS = 10_000;
const SUCCEEDED = 8_000;
const RUNNING = 200;
const CHANGED = 5;

async function seed(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    // Other work beside it (50,000 ended tasks), so that the plans are those of a database in use.
    await client.query(`INSERT INTO tasks (id, name, image, env, priority, cpu, memory_mb, gpu, max_retries, retry_backoff_seconds,
        node_selector, labels, network, status, attempts, exit_code, created_at, started_at, finished_at)
      SELECT gen_random_uuid(), 'bulk-' || i, 'busybox', '{}'::jsonb, 'normal', 1, 256, 0, 0, 1, '{}'::jsonb, '{}'::jsonb, 'none', 'succeeded', 1, 0,
        now() - interval '2 hours', now() - interval '2 hours', now() - interval '2 hours' + interval '3 seconds'
      FROM generate_series(1, 50000) AS i`);
    const id = (
      await client.query<{ id: string }>(`INSERT INTO workflows (id, name, status, on_failure, created_at)
        VALUES (gen_random_uuid(), 'bench-live', 'running', 'continue', now() - interval '30 minutes') RETURNING id`)
    ).rows[0].id;
    const shards = TASKS - 2;
    // i = 0: root; 1..shards: m(i-1); shards + 1: reduce. Shard i < SUCCEEDED ran for 8-14 s,
    // 25 at a time; the next RUNNING started in the last minute; the rest are queued.
    await client.query(
      `INSERT INTO tasks (id, name, image, env, priority, cpu, memory_mb, gpu, max_retries, retry_backoff_seconds, node_selector, labels,
         network, status, status_reason, attempts, exit_code, workflow_id, workflow_key, depends_on, created_at, started_at, finished_at)
       SELECT gen_random_uuid(), null, 'busybox', '{}'::jsonb, 'normal', 1, 256, 0, 0, 1, '{}'::jsonb, '{}'::jsonb, 'none',
         k.status, null, CASE WHEN k.status IN ('queued', 'pending') THEN 0 ELSE 1 END, CASE WHEN k.status = 'succeeded' THEN 0 END,
         $1, k.key, k.deps, now() - interval '30 minutes', k.started, CASE WHEN k.status = 'succeeded' THEN k.started + (k.d || ' seconds')::interval END
       FROM (
         SELECT 'root' AS key, '[]'::jsonb AS deps, 'succeeded' AS status, now() - interval '30 minutes' AS started, 5 AS d
         UNION ALL
         SELECT 'm' || (i - 1), '["root"]'::jsonb,
           CASE WHEN i <= ${SUCCEEDED} THEN 'succeeded' WHEN i <= ${SUCCEEDED + RUNNING} THEN 'running' ELSE 'queued' END,
           CASE WHEN i <= ${SUCCEEDED} THEN now() - interval '30 minutes' + ((5 + (i / 25) * 0.2) || ' seconds')::interval
                WHEN i <= ${SUCCEEDED + RUNNING} THEN now() - ((i % 60) || ' seconds')::interval END,
           8 + (i % 7)
         FROM generate_series(1, ${shards}) AS i
         UNION ALL
         SELECT 'reduce', (SELECT jsonb_agg('m' || j) FROM generate_series(0, ${shards - 1}) AS j), 'pending', null, 0
       ) AS k`,
      [id],
    );
    await client.query(`INSERT INTO task_events (task_id, at, status, node_id, attempt, reason)
      SELECT id, coalesce(finished_at, started_at, created_at), status, null, attempts, null FROM tasks WHERE workflow_id = $1`, [id]);
    await client.query('ANALYZE');
    return id;
  } finally {
    await client.end();
  }
}

/** Moves CHANGED running shards to succeeded and CHANGED queued ones to running, with their events. */
async function changeSome(client: pg.Client, workflowId: string): Promise<void> {
  await client.query('BEGIN');
  await client.query(
    `WITH done AS (
       UPDATE tasks SET status = 'succeeded', exit_code = 0, finished_at = now()
       WHERE id IN (SELECT id FROM tasks WHERE workflow_id = $1 AND status = 'running' ORDER BY seq LIMIT ${CHANGED}) RETURNING *)
     INSERT INTO task_events (task_id, at, status, node_id, attempt, reason) SELECT id, now(), status, null, attempts, null FROM done`,
    [workflowId],
  );
  await client.query(
    `WITH started AS (
       UPDATE tasks SET status = 'running', attempts = 1, started_at = now()
       WHERE id IN (SELECT id FROM tasks WHERE workflow_id = $1 AND status = 'queued' ORDER BY seq LIMIT ${CHANGED}) RETURNING *)
     INSERT INTO task_events (task_id, at, status, node_id, attempt, reason) SELECT id, now(), status, null, attempts, null FROM started`,
    [workflowId],
  );
  await client.query('COMMIT');
}

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}
const describePlan = (n: PlanNode): string =>
  `${n['Node Type']}${n['Index Name'] ? ` on ${n['Index Name']}` : ''}${n.Plans?.length ? ` <- ${n.Plans.map(describePlan).join(', ')}` : ''}`;

/** User and system CPU time of a process so far, ms (Linux /proc; clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

interface Figure {
  what: string;
  /** How many answers had each status. */
  statuses: Record<number, number>;
  bytes: { median: number; max: number };
  wall_ms: { median: number; max: number };
  server_cpu_ms: { median: number; max: number };
}

cleanUpOnSignals();
const results: Figure[] = [];
/** EXPLAIN ANALYZE of the statement an If-None-Match costs (WorkflowStore.version) and of the tasks' read it saves. */
const plans: Record<string, { plan: string; execution_ms: number }> = {};
try {
  const prefix = `${RUN_ID}-refresh`;
  const { db, tmp } = await freshDatabase('refresh');
  const redis = await connectRedis();
  onCleanup('close redis', () => redis.quit());
  // Last: the server's queues, once it has stopped (clean-ups run in reverse order).
  onCleanup(`delete the Redis keys of ${prefix}`, () => deleteKeysWithPrefix(redis, prefix));
  await pausePendingQueue(redis, prefix);
  // Started first: it makes the tables.
  const jarvis = await startJarvis({ command: 'server', prefix, databaseUrl: db.url, dataDir: `${tmp}/pglite`, env: { JARVIS_RECONCILE_SECONDS: '3600' } });
  onCleanup(`stop jarvis server ${prefix}`, () => jarvis.stop());
  log(`seeding a running ${TASKS}-task workflow into ${db.name}…`);
  const wf = await seed(db.url);
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  onCleanup('close the seeding client', () => client.end());

  const page = `${jarvis.url}/ui/workflows/${wf}`;
  /** One request: wall and server CPU time, status, body bytes, and the validator it carries. */
  const request = async (url: string, headers: Record<string, string>) => {
    const cpu = cpuMs(jarvis.pid);
    const start = performance.now();
    const res = await fetch(url, { headers });
    const body = await res.text();
    const wall = performance.now() - start;
    await sleep(30); // the server's last ticks of this request
    const tag = /data-etag="([^"]*)"/.exec(body)?.[1]?.replace(/&quot;/g, '"') ?? res.headers.get('etag');
    return { wall, cpu: cpuMs(jarvis.pid) - cpu, status: res.status, bytes: Buffer.byteLength(body), tag };
  };
  const measure = async (what: string, before: () => Promise<void>, send: () => ReturnType<typeof request>) => {
    const runs: Array<Awaited<ReturnType<typeof request>>> = [];
    for (let i = 0; i <= RUNS; i++) {
      await before();
      runs.push(await send());
    }
    const measured = runs.slice(1);
    const statuses: Record<number, number> = {};
    for (const r of measured) statuses[r.status] = (statuses[r.status] ?? 0) + 1;
    const fig: Figure = {
      what,
      statuses,
      bytes: medianMax(measured.map((r) => r.bytes)),
      wall_ms: medianMax(measured.map((r) => r.wall)),
      server_cpu_ms: medianMax(measured.map((r) => r.cpu)),
    };
    results.push(fig);
    process.stdout.write(`${pad(what, 52)} ${pad(Object.entries(statuses).map(([s, n]) => `${n}×${s}`).join(' '), 10, true)} ${pad(fig.bytes.median, 10, true)} ${pad(`${fig.wall_ms.median} / ${fig.wall_ms.max}`, 18, true)} ${pad(`${fig.server_cpu_ms.median} / ${fig.server_cpu_ms.max}`, 18, true)}\n`);
    return runs.at(-1)!;
  };
  const nothing = async () => undefined;
  process.stdout.write(`${pad(`${TASKS}-task running workflow`, 52)} ${pad('HTTP', 10, true)} ${pad('bytes', 10, true)} ${pad('wall ms', 18, true)} ${pad('server CPU ms', 18, true)}\n`);

  let last = await measure('page load', nothing, () => request(page, {}));
  // What the page's script sends: its validator (when the page has one) with every refresh.
  const live = () => ({ 'x-jarvis-live': '1', ...(last.tag ? { 'if-none-match': last.tag } : {}) });
  await measure('refresh, nothing changed', nothing, () => request(page, live()));
  await measure(`refresh, ${CHANGED} finished and ${CHANGED} started`, () => changeSome(client, wf), async () => (last = await request(page, live())));
  let apiTag: string | null = null;
  await measure('GET /workflows/{id}', nothing, async () => {
    const r = await request(`${jarvis.url}/workflows/${wf}`, {});
    apiTag = r.tag;
    return r;
  });
  if (apiTag) await measure('GET /workflows/{id}, If-None-Match', nothing, () => request(`${jarvis.url}/workflows/${wf}`, { 'if-none-match': apiTag! }));
  const statements: Record<string, string> = {
    'version (If-None-Match)': `select w.tenant, w.xmin::text as wx, t.n::text as n, t.h::text as h from workflows w,
      lateral (select count(*) as n, coalesce(sum(hashtextextended(xmin::text, 0)), 0) as h from tasks where workflow_id = w.id) t where w.id = $1`,
    'every task (the read it saves)': 'select * from tasks where workflow_id = $1 order by seq',
  };
  for (const [name, q] of Object.entries(statements)) {
    const runs: Array<{ plan: string; ms: number }> = [];
    for (let i = 0; i < 3; i++) {
      const r = await client.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode; 'Execution Time': number }> }>(`explain (analyze, format json) ${q}`, [wf]);
      const root = r.rows[0]['QUERY PLAN'][0];
      runs.push({ plan: describePlan(root.Plan), ms: root['Execution Time'] });
    }
    plans[name] = { plan: runs[0].plan, execution_ms: medianMax(runs.map((r) => r.ms)).median };
    process.stdout.write(`plan, ${name}: ${plans[name].execution_ms} ms (median of 3), ${plans[name].plan}\n`);
  }
} finally {
  await cleanup();
}

const file = writeResultFile('workflow-refresh', { runs: RUNS, tasks: TASKS, succeeded: SUCCEEDED, running: RUNNING, changed_per_refresh: CHANGED * 2, figures: results, plans });
process.stdout.write(`results: ${file}\n`);
