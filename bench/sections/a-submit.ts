// (a) Sustained POST /tasks per second (row committed + job enqueued) of a real `jarvis server`
// process (fresh database, unique Redis prefix, no worker), driven over HTTP by a closed loop,
// against raw BullMQ `Queue.add` of the same job from this process. Also: the embedded PGlite
// default; both servers again with the pending queue paused (without a node the dispatcher
// otherwise keeps re-trying every queued task beside the API); TaskStore.create + enqueue in this
// process (no HTTP) as the floor of today's design; and two what-if prototypes of the suggested
// changes (bench/support/whatif.ts).
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { summarizeProfile } from '../support/cpuprofile.ts';
import { PRIORITY_NORMAL, TASK_BODY } from '../support/fixtures.ts';
import { onCleanup, RESULTS_DIR, RUN_ID } from '../support/harness.ts';
import { startJarvis, type JarvisProcess } from '../support/jarvis.ts';
import { HttpClient } from '../support/load.ts';
import { measured, type ThroughputResult } from '../support/measured.ts';
import { connectRedis, createDatabase, IMAGE } from '../support/services.ts';
import { S } from '../support/settings.ts';
import { round } from '../support/stats.ts';
import { pad } from '../support/table.ts';
import { groupCommit, oneStatement } from '../support/whatif.ts';

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

async function jarvisServer(redis: Redis, kind: 'postgres' | 'pglite', pauseDispatcher: boolean): Promise<ThroughputResult> {
  const label = `jarvis_${kind}${pauseDispatcher ? '_dispatcher_paused' : ''}`;
  const prefix = `${RUN_ID}-${kind === 'postgres' ? 'pg' : 'lite'}${pauseDispatcher ? 'p' : ''}`;
  const what = `jarvis server over HTTP, ${kind === 'postgres' ? 'PostgreSQL' : 'embedded PGlite'}${pauseDispatcher ? ', pending queue paused' : ''}`;
  let db: Awaited<ReturnType<typeof createDatabase>> | null = null;
  const tmp = mkdtempSync(join(tmpdir(), 'jarvis-bench-'));
  onCleanup(`remove ${tmp}`, () => rmSync(tmp, { recursive: true, force: true }));
  if (kind === 'postgres') {
    db = await createDatabase(kind);
    const d = db;
    onCleanup(`drop database ${d.name}`, () => d.drop());
  }
  if (pauseDispatcher) {
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
    prefix,
    databaseUrl: db?.url ?? null,
    dataDir: join(tmp, 'pglite'),
    nodeArgs: profiling ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : undefined,
  });
  const stop = onCleanup(`stop jarvis server ${prefix}`, () => jarvis.stop());
  const client = new HttpClient(jarvis.url, S.concurrency);
  try {
    const op = async () => {
      const r = await client.request('POST', '/tasks', TASK_BODY);
      if (r.status !== 201) throw new Error(`POST /tasks answered ${r.status}: ${r.body.slice(0, 300)}`);
    };
    const res = await measured(label, what, op, { redis, serverPid: jarvis.pid, dbName: db?.name });
    // Durable and enqueued: every accepted task is a row and a job.
    const page = await client.json<{ total: number }>('GET', '/tasks?limit=1', undefined, 200);
    const q = new Queue('pending', { connection: redis, prefix: `{${prefix}}` });
    const counts = await q.getJobCounts('prioritized', 'waiting', 'delayed', 'active');
    await q.close();
    res.check = {
      rows: page.total,
      jobs: Object.values(counts).reduce((a, b) => a + b, 0),
      job_counts: counts,
      expected: S.warmup + S.requests,
    };
    if (page.total !== S.warmup + S.requests) throw new Error(`${what}: ${page.total} tasks stored, expected ${S.warmup + S.requests}`);
    if (res.check.jobs !== S.warmup + S.requests) throw new Error(`${what}: ${res.check.jobs} jobs in the pending queue, expected ${S.warmup + S.requests}`);
    client.close();
    await stop();
    if (profiling) {
      // --cpu-prof writes on exit; only the measured loop's samples are summarised.
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

export async function submitThroughputPhase(redis: Redis): Promise<Record<string, unknown>> {
  const aStarted = new Date().toISOString();
  const rows: ThroughputResult[] = [];
  rows.push(await rawBullmq(redis));
  rows.push(await jarvisServer(redis, 'postgres', false));
  rows.push(await jarvisServer(redis, 'postgres', true));
  rows.push(await jarvisServer(redis, 'pglite', false));
  rows.push(await jarvisServer(redis, 'pglite', true));
  rows.push(await inProcessStore(redis, 'postgres'));
  rows.push(await inProcessStore(redis, 'pglite'));
  rows.push(await inProcessStore(redis, 'postgres', 'one_statement'));
  rows.push(await inProcessStore(redis, 'postgres', 'group_commit'));
  const by = (l: string) => rows.find((r) => r.label === l)!;
  const raw = by('raw_bullmq').per_second;
  return {
    method:
      'Closed loop: a fixed number of operations with a constant number in flight, after a warm-up. Jarvis variants: a real `jarvis server` ' +
      'process (no worker) with its own fresh database and Redis prefix, driven over HTTP; a request counts when it answered 201 ' +
      '(row committed and job enqueued). Without a node the dispatcher keeps taking each queued job, finding no node, updating the ' +
      'task\'s status_reason and delaying the job 500 ms; the "pending queue paused" variants pause that queue first so only the API works. ' +
      'Raw BullMQ: Queue.add of {taskId} with jobId, priority 3 and the same remove options, from this process, same concurrency.',
    started_at: aStarted,
    finished_at: new Date().toISOString(),
    results: rows,
    ratio: {
      jarvis_postgres_over_raw: round(by('jarvis_postgres').per_second / raw, 3),
      jarvis_pglite_over_raw: round(by('jarvis_pglite').per_second / raw, 3),
      jarvis_postgres_dispatcher_paused_over_raw: round(by('jarvis_postgres_dispatcher_paused').per_second / raw, 3),
      jarvis_pglite_dispatcher_paused_over_raw: round(by('jarvis_pglite_dispatcher_paused').per_second / raw, 3),
      store_postgres_in_process_over_raw: round(by('store_postgres').per_second / raw, 3),
      store_pglite_in_process_over_raw: round(by('store_pglite').per_second / raw, 3),
      target: '≥ 0.5 (jarvis PostgreSQL over raw)',
      meets_target: by('jarvis_postgres').per_second / raw >= 0.5,
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
  lines.push(`    ratio jarvis(PostgreSQL)/raw = ${ratio.jarvis_postgres_over_raw} (target ≥ 0.5: ${ratio.meets_target ? 'met' : 'NOT met'})`);
  lines.push('');
  return lines;
}
