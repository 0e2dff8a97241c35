// (a) Sustained POST /tasks per second (rows committed + jobs enqueued) of a real `jarvis server`
// (fresh database, unique Redis prefix, no worker), driven over HTTP by a closed loop, against raw
// BullMQ `Queue.add` of the same job from this process, side by side in one run: one process and
// `--processes 2`; the embedded PostgreSQL; the pending queue paused (without a node the
// dispatcher otherwise keeps re-trying every queued task beside the API); POST /tasks/batch of 100
// against raw addBulk of 100, per task; and the p99 of single submits in an open loop at half the
// best rate. `--a-only label,…` runs some rows; `--a-extra` adds the in-process store rows and
// the what-if prototypes (bench/support/whatif.ts).
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { summarizeProfile } from '../support/cpuprofile.ts';
import { PRIORITY_NORMAL, TASK_BODY } from '../support/fixtures.ts';
import { onCleanup, RESULTS_DIR, RUN_ID } from '../support/harness.ts';
import { startJarvis, type JarvisProcess } from '../support/jarvis.ts';
import { closedLoop, HttpClient, openLoop } from '../support/load.ts';
import { assertFewErrors, measured, throughputOf, type ThroughputResult } from '../support/measured.ts';
import { connectRedis, createDatabase, IMAGE } from '../support/services.ts';
import { S } from '../support/settings.ts';
import { round, sleep } from '../support/stats.ts';
import { pad } from '../support/table.ts';
import { groupCommit, oneStatement } from '../support/whatif.ts';
import { watchSlowWaits } from '../support/pg-waits.ts';
import { redisNames } from '../../src/scheduler/queues.ts';

async function rawBullmq(redis: Redis): Promise<ThroughputResult> {
  const prefix = `${RUN_ID}-raw`;
  const conn = await connectRedis();
  const queue = new Queue('pending', { connection: conn, prefix: `{${prefix}}` });
  await queue.waitUntilReady();
  try {
    const op = async () => {
      const id = randomUUID();
      await queue.add('place', { taskId: id }, { jobId: id, priority: PRIORITY_NORMAL, removeOnComplete: true, removeOnFail: { count: 1000 } });
    };
    const r = await measured('raw_bullmq', 'raw BullMQ Queue.add (this process)', op, { redis });
    const counts = await queue.getJobCounts('prioritized', 'waiting', 'delayed');
    r.check = { jobs_in_queue: Object.values(counts).reduce((a, b) => a + b, 0), expected: S.warmup + S.requests };
    return r;
  } finally {
    await queue.close();
    conn.disconnect();
  }
}

/**
 * The ceiling of any HTTP service here with this client: a bare node:http server in its own
 * process (bench/support/bare-http-server.mjs) that parses each body and answers 201 with a
 * task-sized body, nothing else. Single POSTs, the same concurrency as the Jarvis rows.
 */
async function httpCeiling(redis: Redis): Promise<ThroughputResult> {
  const script = join(dirname(fileURLToPath(import.meta.url)), '..', 'support', 'bare-http-server.mjs');
  // It answers what POST /tasks answers: the task of this body, as Jarvis presents it.
  const { loadConfig } = await import('../../src/config/index.ts');
  const { taskRowFrom } = await import('../../src/control/task-rows.ts');
  const { presentTask } = await import('../../src/api/present.ts');
  const row = taskRowFrom(JSON.parse(TASK_BODY), loadConfig({ env: {} }), { status: 'queued', statusReason: 'waiting for the scheduler to place it on a node' });
  // What the database fills in for a new task (defaults and nulls), as a read would give it.
  const filled = {
    seq: 1, tenant: 'default', nodeId: null, attempts: 0, exitCode: null, error: null, workflowId: null, workflowKey: null, dependsOn: [],
    dagReady: false, scheduleId: null, outputs: null, result: null, templates: null, whenCondition: null, scheduledAt: null, startedAt: null, finishedAt: null,
  };
  const answer = JSON.stringify(presentTask({ ...row, ...filled } as Parameters<typeof presentTask>[0]));
  const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, JARVIS_BENCH_ANSWER: answer } });
  const stop = onCleanup('stop the bare HTTP server', async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await gone;
  });
  const url = await new Promise<string>((res, rej) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = out.match(/listening on (http:\/\/\S+)/);
      if (m) res(m[1]);
    });
    child.once('exit', (code) => rej(new Error(`the bare HTTP server exited (${code}) before listening: ${out}`)));
  });
  const client = new HttpClient(url, S.concurrency);
  try {
    const op = async () => {
      const r = await client.request('POST', '/tasks', TASK_BODY);
      if (r.status !== 201) throw new Error(`bare HTTP server answered ${r.status}`);
    };
    return await measured('http_ceiling', 'ceiling: bare node:http server, parses the body, answers 201 (own process)', op, {
      redis,
      serverPid: child.pid,
    });
  } finally {
    client.close();
    await stop();
  }
}

type StoreMode = 'taskstore' | 'one_statement' | 'group_commit';

/**
 * In this process, no HTTP/Hono/zod: 'taskstore' is TaskStore.create + enqueuePending exactly as
 * POST /tasks calls them (the floor of today's design); the others are what-if prototypes
 * (bench/support/whatif.ts) of the suggested changes.
 */
async function inProcessStore(redis: Redis, kind: 'postgres' | 'pglite', mode: StoreMode = 'taskstore'): Promise<ThroughputResult> {
  const { openDatabase } = await import('../../src/state/db.ts');
  const { TaskStore } = await import('../../src/state/task-store.ts');
  const { PendingQueues } = await import('../../src/scheduler/pending.ts');
  const { redisNames } = await import('../../src/scheduler/queues.ts');
  const label = mode === 'taskstore' ? `store_${kind}` : `whatif_${mode}_${kind}`;
  const prefix = `${RUN_ID}-st${kind === 'postgres' ? 'pg' : 'lite'}${mode === 'taskstore' ? '' : mode === 'one_statement' ? '1' : 'g'}`;
  let url: string | null = null;
  let dbName: string | undefined;
  const dataDir = join(mkdtempSync(join(tmpdir(), 'jarvis-bench-')), 'pglite');
  const removeDir = onCleanup('remove PGlite dir', () => rmSync(resolve(dataDir, '..'), { recursive: true, force: true }));
  if (kind === 'postgres') {
    const db = await createDatabase('store');
    onCleanup(`drop database ${db.name}`, () => db.drop());
    url = db.url;
    dbName = db.name;
  }
  const database = await openDatabase({ url, dataDir });
  const conn = await connectRedis();
  const queue = new Queue('pending', { connection: conn, prefix: `{${prefix}}` });
  await queue.waitUntilReady();
  const pending = new PendingQueues(conn, redisNames(prefix));
  try {
    const tasks = new TaskStore(database.db);
    const db = kind === 'postgres' ? 'PostgreSQL (pool of 10)' : 'PGlite';
    if (mode === 'one_statement') {
      return await measured(label, `what-if: row + event in ONE statement, then Queue.add, ${db} (no HTTP)`, oneStatement(database.db, queue), {
        redis,
        dbName,
      });
    }
    if (mode === 'group_commit') {
      const g = groupCommit(database.db, queue);
      const r = await measured(label, `what-if: group commit (multi-row statement + addBulk), ${db} (no HTTP)`, g.op, { redis, dbName });
      r.check = { batches: g.batches.length, mean_batch: round(g.batches.reduce((a, b) => a + b, 0) / g.batches.length, 1) };
      return r;
    }
    const op = async () => {
      await tasks.create(
        {
          id: randomUUID(),
          name: null,
          image: IMAGE,
          command: ['true'],
          env: {},
          priority: 'normal',
          cpu: 1,
          memoryMb: 256,
          gpu: 0,
          timeoutSeconds: null,
          maxRetries: 0,
          retryBackoffSeconds: 1,
          nodeSelector: {},
          labels: {},
          idempotencyKey: null,
          network: 'none',
          status: 'queued',
          statusReason: 'waiting for the scheduler to place it on a node',
          createdAt: new Date(),
        },
        // As POST /tasks enqueues (src/scheduler/pending.ts: addBulk of one job, same options).
        (t) => pending.add([t]),
      );
    };
    return await measured(
      label,
      `TaskStore.create + enqueue in this process, ${db} (no HTTP)`,
      op,
      { redis, dbName },
    );
  } finally {
    await queue.close();
    conn.disconnect();
    await database.close();
    await removeDir();
  }
}

interface ServerVariant {
  kind: 'postgres' | 'embedded';
  /** `--processes N` (1: a single process, no cluster). */
  processes: number;
  pauseDispatcher?: boolean;
  /** Tasks per POST /tasks/batch body (0: single POST /tasks). */
  batch?: number;
  /** Open loop at this many requests per second instead of the closed loop (the p99 probe). */
  openRate?: number;
}

function labelOf(v: ServerVariant): string {
  const parts = [v.batch ? 'jarvis_batch' : 'jarvis', v.kind];
  if (v.processes > 1) parts.push(`${v.processes}proc`);
  if (v.pauseDispatcher) parts.push('dispatcher_paused');
  if (v.openRate) parts.push('half_rate');
  return parts.join('_');
}

async function jarvisServer(redis: Redis, v: ServerVariant): Promise<ThroughputResult> {
  const label = labelOf(v);
  const prefix = `${RUN_ID}-${label.replace(/^jarvis_/, '').replace(/[^a-z0-9]/g, '')}`;
  const what =
    `jarvis server${v.processes > 1 ? ` --processes ${v.processes}` : ''} over HTTP, ${v.kind === 'postgres' ? 'PostgreSQL' : 'embedded PostgreSQL'}` +
    `${v.batch ? `, POST /tasks/batch of ${v.batch} (per task)` : ''}${v.pauseDispatcher ? ', pending queue paused' : ''}` +
    `${v.openRate ? `, open loop at ${Math.round(v.openRate)}/s (half the best single rate)` : ''}`;
  let db: Awaited<ReturnType<typeof createDatabase>> | null = null;
  const tmp = mkdtempSync(join(tmpdir(), 'jarvis-bench-'));
  onCleanup(`remove ${tmp}`, () => rmSync(tmp, { recursive: true, force: true }));
  if (v.kind === 'postgres') {
    db = await createDatabase('a');
    const d = db;
    onCleanup(`drop database ${d.name}`, () => d.drop());
  }
  if (v.pauseDispatcher) {
    // The dispatcher is a BullMQ worker on this queue: paused, it takes nothing, so the server
    // does only what POST /tasks itself costs (plus the reconciler's pass every 5 s).
    const q = new Queue('pending', { connection: redis, prefix: `{${prefix}}` });
    await q.pause();
    await q.close();
  }
  const profiling = S.profile;
  const profDir = join(tmp, 'prof');
  const jarvis: JarvisProcess = await startJarvis({
    command: 'server',
    args: v.processes > 1 ? ['--processes', String(v.processes)] : [],
    prefix,
    databaseUrl: db?.url ?? null,
    dataDir: join(tmp, 'data'),
    nodeArgs: profiling ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : undefined,
  });
  const stop = onCleanup(`stop jarvis server ${prefix}`, () => jarvis.stop());
  const batch = v.batch ?? 0;
  const inFlight = batch ? Math.max(2, Math.round(S.concurrency / 8)) : S.concurrency;
  const client = new HttpClient(jarvis.url, v.openRate ? 512 : inFlight);
  const body = batch ? JSON.stringify({ tasks: Array.from({ length: batch }, () => JSON.parse(TASK_BODY)) }) : TASK_BODY;
  const perOp = batch || 1;
  const requests = Math.ceil((S.requests * (batch ? BATCH_TASKS_FACTOR : 1)) / perOp);
  const warmup = Math.ceil((S.warmup * (batch ? BATCH_TASKS_FACTOR : 1)) / perOp);
  try {
    /** Requests, warm-up included, that did not answer 201 (the loops tolerate up to 1 %). */
    const failed = { errors: 0, first: null as string | null };
    const op = async () => {
      try {
        const r = await client.request('POST', batch ? '/tasks/batch' : '/tasks', body);
        if (r.status !== 201) throw new Error(`POST ${batch ? '/tasks/batch' : '/tasks'} answered ${r.status}: ${r.body.slice(0, 300)}`);
      } catch (err) {
        failed.errors++;
        failed.first ??= (err as Error).message;
        throw err;
      }
    };
    let res: ThroughputResult;
    if (v.openRate) {
      await closedLoop(warmup, inFlight, op);
      // What the slow statements wait on during the loop: the tail's cause, in every run.
      const waits = db ? await watchSlowWaits(db.name) : null;
      const r = await openLoop(requests, v.openRate, op);
      const slowWaits = waits ? await waits() : null;
      assertFewErrors(what, r);
      res = throughputOf(label, what, r);
      res.check = { asked_per_second: round(v.openRate, 0), max_in_flight: r.concurrency };
      res.postgres_slow_waits = slowWaits;
    } else {
      res = await measured(label, what, op, { redis, serverPid: jarvis.pid, dbName: db?.name, requests, warmupOverride: warmup, concurrency: inFlight });
    }
    if (perOp > 1) perTask(res, perOp);
    // Durable and enqueued: every accepted task is a row and a job. A request that failed may or
    // may not have stored its tasks (a 503 stores nothing; a client's timeout can come after the
    // commit), so the rows lie between what was answered 201 and what was sent.
    const sent = (warmup + requests) * perOp;
    const accepted = sent - failed.errors * perOp;
    const page = await client.json<{ total: number }>('GET', '/tasks?limit=1', undefined, 200);
    const q = new Queue('pending', { connection: redis, prefix: `{${prefix}}` });
    // A task accepted while nothing waited went to the dispatcher directly and gets its job once
    // decided (no node here: it must wait): the last few may still be on their way. Up to 10 s.
    // Tasks added together are in group jobs (src/scheduler/pending.ts): the tasks in jobs are the
    // jobs plus, for each group not ended, its tasks beyond one (its size, kept beside it).
    let counts: Record<string, number> = {};
    let jobs = 0;
    for (const until = Date.now() + 10_000; ; await sleep(100)) {
      counts = await q.getJobCounts('prioritized', 'waiting', 'delayed', 'active');
      const sizes = await redis.hvals(redisNames(prefix).groupSizes('default'));
      jobs = Object.values(counts).reduce((a, b) => a + b, 0) + sizes.reduce((a, v) => a + Number(v.split(':')[1] ?? 1) - 1, 0);
      if (!v.pauseDispatcher || jobs >= page.total || Date.now() > until) break;
    }
    const other = await q.getJobCounts('completed', 'failed', 'waiting-children');
    await q.close();
    res.check = { ...res.check, rows: page.total, tasks_in_jobs: jobs, job_counts: counts, other_job_counts: other, expected: sent, failed_requests: failed.errors, first_failure: failed.first };
    if (page.total < accepted || page.total > sent) {
      const errs = failed.errors ? ` (${failed.errors} request(s) failed, first: ${failed.first})` : '';
      throw new Error(`${what}: ${page.total} tasks stored, expected ${accepted === sent ? sent : `${accepted} to ${sent}`}${errs}`);
    }
    // With the dispatcher running, a few jobs can be out of the queue when counted: tasks the
    // dispatcher holds back in memory for the next batch (fair share) have ended their job. With the
    // queue paused nothing takes a job, so every accepted task must have one.
    res.check.tasks_not_in_queue = page.total - jobs;
    if (jobs > page.total || (v.pauseDispatcher && jobs !== page.total)) {
      throw new Error(`${what}: ${jobs} tasks in the pending queue's jobs, expected ${page.total}: ${JSON.stringify(counts)}, others ${JSON.stringify(other)}`);
    }
    client.close();
    await stop();
    if (profiling) {
      // --cpu-prof writes on exit; only the measured loop's samples are summarised (the
      // busiest process's profile: with --processes N, one of the API processes).
      const files = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(profDir, f));
      const main = files.sort((x, y) => statSync(y).size - statSync(x).size)[0];
      res.profile = main && res.window_us ? summarizeProfile(main, { fromUs: res.window_us[0], toUs: res.window_us[1] }) : null;
      if (main) {
        mkdirSync(RESULTS_DIR, { recursive: true });
        const keep = join(RESULTS_DIR, `profile-${label}-${RUN_ID}.cpuprofile`);
        writeFileSync(keep, readFileSync(main));
        if (res.profile) res.profile.file = keep;
      }
    }
    return res;
  } finally {
    client.close();
    await stop();
  }
}

/** A row measured in requests of `n` tasks, restated per task (rate × n; latency stays per request). */
function perTask(r: ThroughputResult, n: number): void {
  r.check = { ...r.check, tasks_per_request: n, requests_per_second: r.per_second };
  r.per_second = round(r.per_second * n, 1);
  r.requests = r.requests * n;
  if (r.jarvis_cpu_ms_per_request != null) r.jarvis_cpu_ms_per_request = round(r.jarvis_cpu_ms_per_request / n, 4);
}

/** Raw BullMQ addBulk of `n` jobs per call, with the batch rows' concurrency: the batch's reference. */
async function rawAddBulk(redis: Redis, n: number): Promise<ThroughputResult> {
  const prefix = `${RUN_ID}-rawbulk`;
  const conn = await connectRedis();
  const queue = new Queue('pending', { connection: conn, prefix: `{${prefix}}` });
  await queue.waitUntilReady();
  const inFlight = Math.max(2, Math.round(S.concurrency / 8));
  try {
    const op = async () => {
      await queue.addBulk(
        Array.from({ length: n }, () => {
          const id = randomUUID();
          return { name: 'place', data: { taskId: id }, opts: { jobId: id, priority: PRIORITY_NORMAL, removeOnComplete: true, removeOnFail: { count: 1000 } } };
        }),
      );
    };
    const r = await measured('raw_bullmq_addbulk', `raw BullMQ addBulk of ${n} (this process, per task)`, op, {
      redis,
      requests: Math.ceil((S.requests * BATCH_TASKS_FACTOR) / n),
      warmupOverride: Math.ceil((S.warmup * BATCH_TASKS_FACTOR) / n),
      concurrency: inFlight,
    });
    perTask(r, n);
    return r;
  } finally {
    await queue.close();
    conn.disconnect();
  }
}

/** The rows a default run measures; --a-only picks some by label, --a-extra adds the in-process ones. */
export const SUBMIT_VARIANTS = [
  'raw_bullmq',
  'raw_bullmq_addbulk',
  'http_ceiling',
  'jarvis_postgres',
  'jarvis_postgres_2proc',
  'jarvis_postgres_dispatcher_paused',
  'jarvis_postgres_2proc_dispatcher_paused',
  'jarvis_embedded',
  'jarvis_embedded_2proc',
  'jarvis_batch_postgres',
  'jarvis_batch_postgres_2proc',
  'jarvis_postgres_half_rate',
  'jarvis_postgres_2proc_half_rate',
  'jarvis_postgres_dispatcher_paused_half_rate',
] as const;
const EXTRA_VARIANTS = ['store_postgres', 'whatif_one_statement_postgres', 'whatif_group_commit_postgres'];

const BATCH = 100;
/**
 * The batch rows (raw addBulk and POST /tasks/batch) send this many times `--requests` tasks:
 * 20,000 tasks were 200 bodies, 0.6-1.5 s of measure, and the batch ratio moved by ±15 % between
 * runs of the same code; 1,000 bodies take 3-7 s.
 */
const BATCH_TASKS_FACTOR = 5;

export async function submitThroughputPhase(redis: Redis): Promise<Record<string, unknown>> {
  const aStarted = new Date().toISOString();
  const rows: ThroughputResult[] = [];
  const wanted = (label: string) => (S.aOnly ? S.aOnly.includes(label) : (SUBMIT_VARIANTS as readonly string[]).includes(label) || (S.aExtra && EXTRA_VARIANTS.includes(label)));
  const run = async (label: string, f: () => Promise<ThroughputResult>) => {
    if (wanted(label)) rows.push(await f());
  };
  await run('raw_bullmq', () => rawBullmq(redis));
  await run('raw_bullmq_addbulk', () => rawAddBulk(redis, BATCH));
  await run('http_ceiling', () => httpCeiling(redis));
  await run('jarvis_postgres', () => jarvisServer(redis, { kind: 'postgres', processes: 1 }));
  await run('jarvis_postgres_2proc', () => jarvisServer(redis, { kind: 'postgres', processes: 2 }));
  await run('jarvis_postgres_dispatcher_paused', () => jarvisServer(redis, { kind: 'postgres', processes: 1, pauseDispatcher: true }));
  await run('jarvis_postgres_2proc_dispatcher_paused', () => jarvisServer(redis, { kind: 'postgres', processes: 2, pauseDispatcher: true }));
  await run('jarvis_embedded', () => jarvisServer(redis, { kind: 'embedded', processes: 1 }));
  await run('jarvis_embedded_2proc', () => jarvisServer(redis, { kind: 'embedded', processes: 2 }));
  await run('jarvis_batch_postgres', () => jarvisServer(redis, { kind: 'postgres', processes: 1, batch: BATCH }));
  await run('jarvis_batch_postgres_2proc', () => jarvisServer(redis, { kind: 'postgres', processes: 2, batch: BATCH }));
  const by = (l: string) => rows.find((r) => r.label === l);
  const singles = rows.filter((r) => /^jarvis_postgres(_2proc)?$/.test(r.label));
  const best = singles.sort((a, b) => b.per_second - a.per_second)[0];
  // The same rate for each: one process; --processes 2 (the dispatcher in a process of its own);
  // one process with the pending queue paused (the API alone, no dispatcher re-trying every
  // queued task beside it: there is no node in this section).
  if (best) {
    const openRate = best.per_second / 2;
    await run('jarvis_postgres_half_rate', () => jarvisServer(redis, { kind: 'postgres', processes: 1, openRate }));
    await run('jarvis_postgres_2proc_half_rate', () => jarvisServer(redis, { kind: 'postgres', processes: 2, openRate }));
    await run('jarvis_postgres_dispatcher_paused_half_rate', () => jarvisServer(redis, { kind: 'postgres', processes: 1, openRate, pauseDispatcher: true }));
  }
  await run('store_postgres', () => inProcessStore(redis, 'postgres'));
  await run('whatif_one_statement_postgres', () => inProcessStore(redis, 'postgres', 'one_statement'));
  await run('whatif_group_commit_postgres', () => inProcessStore(redis, 'postgres', 'group_commit'));
  const raw = by('raw_bullmq')?.per_second ?? NaN;
  const rawBulk = by('raw_bullmq_addbulk')?.per_second ?? NaN;
  const ratio = (l: string, base: number) => (by(l) ? round(by(l)!.per_second / base, 3) : null);
  const bestSingle = best ? best.per_second / raw : NaN;
  const batches = rows.filter((r) => r.label.startsWith('jarvis_batch_postgres')).sort((a, b) => b.per_second - a.per_second)[0];
  const halves = rows.filter((r) => r.label.endsWith('_half_rate') && !r.label.includes('paused')).sort((a, b) => a.latency_ms.p99 - b.latency_ms.p99);
  const half = halves[0];
  return {
    method:
      'Closed loop: a fixed number of operations with a constant number in flight, after a warm-up. Jarvis variants: a real `jarvis server` ' +
      'process (or --processes 2: a primary and two API processes on one port) with its own fresh database and Redis prefix, no worker, driven ' +
      'over HTTP; a request counts when it answered 201 (rows committed and jobs enqueued). Without a node the dispatcher keeps taking each ' +
      'queued job, finding no node, updating the task\'s status_reason and delaying the job; the "pending queue paused" variant pauses that ' +
      `queue first so only the API works. Batches: POST /tasks/batch of 100 tasks with concurrency/8 requests in flight, ${BATCH_TASKS_FACTOR} times as many tasks as the single rows, against raw addBulk ` +
      'of 100 jobs with the same in flight, both restated per task. Raw BullMQ: Queue.add of {taskId} with jobId, priority 3 and the same ' +
      'remove options, from this process, same concurrency. Half rate: an open loop of single POST /tasks at half the best closed-loop ' +
      'single rate of this run, on one process, on --processes 2 and on one process with the queue paused; the lower p99 of the first two ' +
      'is the latency figure. Ceiling: a bare node:http server in its own process that parses each body and answers 201 with a ' +
      'task-sized body (no validation, database or queue), same client and concurrency: no HTTP service can beat it here.',
    started_at: aStarted,
    finished_at: new Date().toISOString(),
    results: rows,
    ratio: {
      http_ceiling_over_raw: ratio('http_ceiling', raw),
      jarvis_postgres_over_raw: ratio('jarvis_postgres', raw),
      jarvis_postgres_2proc_over_raw: ratio('jarvis_postgres_2proc', raw),
      jarvis_postgres_dispatcher_paused_over_raw: ratio('jarvis_postgres_dispatcher_paused', raw),
      jarvis_postgres_2proc_dispatcher_paused_over_raw: ratio('jarvis_postgres_2proc_dispatcher_paused', raw),
      jarvis_embedded_over_raw: ratio('jarvis_embedded', raw),
      jarvis_embedded_2proc_over_raw: ratio('jarvis_embedded_2proc', raw),
      jarvis_batch_postgres_over_raw_addbulk: ratio('jarvis_batch_postgres', rawBulk),
      jarvis_batch_postgres_2proc_over_raw_addbulk: ratio('jarvis_batch_postgres_2proc', rawBulk),
      best_single_over_raw: round(bestSingle, 3),
      best_batch_over_raw_addbulk: batches ? round(batches.per_second / rawBulk, 3) : null,
      half_rate_p99_ms: half?.latency_ms.p99 ?? null,
      half_rate_p99_setup: half?.label ?? null,
      half_rate_2proc_p99_ms: by('jarvis_postgres_2proc_half_rate')?.latency_ms.p99 ?? null,
      half_rate_dispatcher_paused_p99_ms: by('jarvis_postgres_dispatcher_paused_half_rate')?.latency_ms.p99 ?? null,
      target: 'single ≥ 0.3 of raw Queue.add; batch ≥ 0.5 of raw addBulk per task; p99 at half rate ≤ 25 ms',
      meets_target: bestSingle >= 0.3,
      meets_batch_target: batches ? batches.per_second / rawBulk >= 0.5 : null,
      meets_p99_target: half ? half.latency_ms.p99 <= 25 : null,
    },
  };
}

/** The section's table for the console (the JSON result holds every figure). */
export function printSubmitThroughput(a: Record<string, unknown>): string[] {
  const lines: string[] = [];
  const rows = a.results as ThroughputResult[];
  const raw = rows.find((r) => r.label === 'raw_bullmq');
  lines.push(`(a) submit throughput: ${S.requests} requests after ${S.warmup} warm-up, ${S.concurrency} in flight`);
  lines.push(
    `    ${pad('variant', 76)}${pad('per s', 9, true)}${pad('p50 ms', 9, true)}${pad('p99 ms', 9, true)}${pad('vs raw', 8, true)}${pad('other CPU', 11, true)}`,
  );
  let noisy = false;
  for (const r of rows) {
    const ratio = raw ? round(r.per_second / raw.per_second, 3) : NaN;
    const other = r.cpu?.other_processes_pct_of_all_cores ?? null;
    const flag = other !== null && other > 15;
    noisy ||= flag;
    lines.push(
      `    ${pad(r.what, 76)}${pad(round(r.per_second, 0), 9, true)}${pad(r.latency_ms.p50, 9, true)}${pad(r.latency_ms.p99, 9, true)}${pad(ratio.toFixed(3), 8, true)}${pad(other === null ? '-' : `${other}%${flag ? '*' : ''}`, 11, true)}`,
    );
  }
  lines.push('    other CPU: share of the machine busy outside the processes measured (other users, dockerd, kernel) during the loop.');
  if (noisy) lines.push('    * more than 15%: that row was measured on a busy machine; rerun to confirm it.');
  const ratio = a.ratio as Record<string, unknown>;
  const met = (x: unknown) => (x === null ? 'not measured' : x ? 'met' : 'NOT met');
  lines.push(`    best single POST /tasks / raw Queue.add = ${ratio.best_single_over_raw} (target ≥ 0.3: ${met(ratio.meets_target)})`);
  if (ratio.http_ceiling_over_raw !== null) lines.push(`    ceiling: a bare HTTP server that does nothing / raw Queue.add = ${ratio.http_ceiling_over_raw}`);
  lines.push(`    best POST /tasks/batch / raw addBulk, per task = ${ratio.best_batch_over_raw_addbulk} (target ≥ 0.5: ${met(ratio.meets_batch_target)})`);
  lines.push(`    p99 of single submits at half that rate = ${ratio.half_rate_p99_ms} ms (target ≤ 25: ${met(ratio.meets_p99_target)})`);
  for (const r of a.results as ThroughputResult[]) {
    const w = r.postgres_slow_waits;
    if (!w) continue;
    const top = w.slow.slice(0, 3).map((x) => `${x.samples} × ${x.wait} (${x.statement.slice(0, 24)}…)`);
    lines.push(`    ${r.label}: PostgreSQL statements > 20 ms, by wait, of ${w.samples} samples: ${top.length ? top.join(', ') : 'none'}`);
  }
  lines.push('');
  return lines;
}
