// Foundation benchmark: Jarvis against the raw tools it is built on, side by side in one run on
// the same Redis, PostgreSQL and Docker engine.
//
//  (a) sustained POST /tasks per second (row committed + job enqueued) of a real `jarvis server`
//      process (fresh database, unique Redis prefix, no worker), driven over HTTP by a closed
//      loop, against raw BullMQ `Queue.add` of the same job from this process. Also: the embedded
//      PGlite default; both servers again with the pending queue paused (without a node the
//      dispatcher otherwise keeps re-trying every queued task beside the API); TaskStore.create +
//      enqueue in this process (no HTTP) as the floor of today's design; and two what-if
//      prototypes of the suggested changes (bench/support/whatif.ts).
//  (b) submit→succeeded latency of a trivial container through `jarvis up`, observed by polling
//      GET /tasks/{id} every 10 ms, against a bare `docker run --rm`, a dockerode
//      create/start/wait/remove and Jarvis's DockerExecutor.run alone (its Engine API calls timed),
//      with a per-task breakdown from the task's events, BullMQ's event streams and Docker's times.
//  (c) workflows: (1) a 10,000-task layered DAG: zod parsing (WorkflowCreate) and validateGraph in
//      this process, storing it (WorkflowStore.create as POST /workflows calls it) in this
//      process, and POST /workflows end to end over HTTP, valid (201) and with a cycle (422);
//      (2) release latency on a `jarvis server` + `jarvis worker --executor simulated`: a
//      fan-out/fan-in workflow (root -> 1,000 tasks -> sink) and a chain, from each parent's
//      "succeeded" event to its child's "scheduled" event (GET /tasks/{id}/events).
//      The server's PostgreSQL connections are sampled meanwhile (pg_stat_activity) to show what
//      they wait on.
//  (d) what metrics cost on the submit path: POST /tasks per second of two `jarvis server`s side
//      by side, metrics on and off (JARVIS_METRICS_ENABLED=false), in pairs of loops whose order
//      alternates; then one pair under --cpu-prof to attribute the metrics' own CPU.
//  (e) cluster-scale placement (bench/scale.ts): per node count, a `jarvis server` and one
//      `jarvis worker --executor simulated --nodes N`; p50/p99 submit→placed while capacity exists,
//      enqueue latency on an empty queue and with a backlog of mixed-priority, mixed-size tasks,
//      and placements per second draining that backlog (with a time cap).
//
// Usage: npx tsx bench/run.ts [--requests 5000] [--warmup 500] [--concurrency 32]
//          [--latency-count 30] [--latency-warmup 3] [--poll-ms 10] [--only a|b|c|d|a,c…] [--profile]
//          [--dag-tasks 10000] [--dag-width 100] [--dag-rounds 3] [--fan-width 1000] [--fan-rounds 2]
//          [--sim-ms 10] [--chain 100] [--metrics-pairs 6] [--metrics-requests 3000]
//          [--scale-tasks 100000] [--scale-nodes 100,1000] [--scale-drain-seconds 180] [--scale-probe 1000]
//          [--scale-steady-rates 50,200] [--scale-steady-seconds 10] [--scale-aging-seconds 3600]
// Results: bench/results/foundation-<timestamp>.json and bench/results/foundation-latest.json.
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import Dockerode from 'dockerode';
import type { Redis } from 'ioredis';
import { summarizeProfile, type ProfileSummary } from './support/cpuprofile.ts';
import {
  chain,
  fanOutFanIn,
  layeredDag,
  releaseSamples,
  SIM_DURATION_LABEL,
  summarizeRelease,
  withCycle,
  type ReleaseSample,
  type TaskEvents,
  type WorkflowBody,
} from './support/dag.ts';
import { groupCommit, oneStatement } from './support/whatif.ts';
import { scalePhase } from './scale.ts';
import { startJarvis, type JarvisProcess } from './support/jarvis.ts';
import { closedLoop, HttpClient, loopFigures, type LoopResult } from './support/load.ts';
import {
  checkServices,
  commandStatsDelta,
  connectRedis,
  cpuDelta,
  cpuSnapshot,
  cpuWithWorker,
  createDatabase,
  deleteKeysWithPrefix,
  IMAGE,
  machineFacts,
  MissingServiceError,
  pgCounters,
  processCpuMs,
  redisCommandStats,
  samplePgActivity,
  type PgActivitySample,
  REDIS_URL,
  type PgCounters,
} from './support/services.ts';
import { round, sleep, summarize, type Summary } from './support/stats.ts';
import { DEFAULT_PRIORITY, FINAL_STATUSES, PRIORITY_RANK } from '../src/domain/task.ts';

// ---------------------------------------------------------------------------------------------
// Settings

const { values: argv } = parseArgs({
  options: {
    requests: { type: 'string', default: '5000' },
    warmup: { type: 'string', default: '500' },
    concurrency: { type: 'string', default: '32' },
    'latency-count': { type: 'string', default: '30' },
    'latency-warmup': { type: 'string', default: '3' },
    'poll-ms': { type: 'string', default: '10' },
    only: { type: 'string' },
    profile: { type: 'boolean', default: false },
    'dag-tasks': { type: 'string', default: '10000' },
    'dag-width': { type: 'string', default: '100' },
    'dag-rounds': { type: 'string', default: '3' },
    'fan-width': { type: 'string', default: '1000' },
    'fan-rounds': { type: 'string', default: '2' },
    'sim-ms': { type: 'string', default: '10' },
    chain: { type: 'string', default: '100' },
    'metrics-pairs': { type: 'string', default: '6' },
    'metrics-requests': { type: 'string', default: '3000' },
    'scale-tasks': { type: 'string', default: '100000' },
    'scale-nodes': { type: 'string', default: '100,1000' },
    'scale-drain-seconds': { type: 'string', default: '180' },
    'scale-probe': { type: 'string', default: '1000' },
    'scale-steady-rates': { type: 'string', default: '50,200' },
    'scale-steady-seconds': { type: 'string', default: '10' },
    'scale-aging-seconds': { type: 'string', default: '3600' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (argv.help) {
  process.stdout.write(
    'npx tsx bench/run.ts [--requests N] [--warmup N] [--concurrency N] [--latency-count N] [--latency-warmup N] [--poll-ms N] [--only a|b|c|d|e|a,c…] [--profile]\n' +
      '                     [--dag-tasks N] [--dag-width N] [--dag-rounds N] [--fan-width N] [--fan-rounds N] [--sim-ms N] [--chain N]\n' +
      '                     [--metrics-pairs N] [--metrics-requests N]\n' +
      '                     [--scale-tasks N] [--scale-nodes N,N…] [--scale-drain-seconds N] [--scale-probe N] [--scale-steady-rates N,N…] [--scale-steady-seconds N] [--scale-aging-seconds N]\n' +
      '  a: submit throughput  b: submit->succeeded latency  c: workflows (10,000-task DAG, release latency)  d: cost of metrics on POST /tasks\n' +
      '  e: cluster-scale placement (placements/s, submit->placed, enqueue latency with a backlog) on simulated nodes\n',
  );
  process.exit(0);
}
const int = (name: string, v: string | undefined) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) {
    process.stderr.write(`bench: --${name} must be a whole number, got "${v}"\n`);
    process.exit(2);
  }
  return n;
};
const S = {
  requests: int('requests', argv.requests),
  warmup: int('warmup', argv.warmup),
  concurrency: Math.max(1, int('concurrency', argv.concurrency)),
  latencyCount: Math.max(1, int('latency-count', argv['latency-count'])),
  latencyWarmup: int('latency-warmup', argv['latency-warmup']),
  pollMs: Math.max(1, int('poll-ms', argv['poll-ms'])),
  only: argv.only ? new Set(argv.only.split(',').map((x) => x.trim())) : null,
  profile: argv.profile ?? false,
  dagTasks: Math.max(2, int('dag-tasks', argv['dag-tasks'])),
  dagWidth: Math.max(1, int('dag-width', argv['dag-width'])),
  dagRounds: Math.max(1, int('dag-rounds', argv['dag-rounds'])),
  fanWidth: Math.max(1, int('fan-width', argv['fan-width'])),
  fanRounds: Math.max(1, int('fan-rounds', argv['fan-rounds'])),
  simMs: int('sim-ms', argv['sim-ms']),
  chain: int('chain', argv.chain),
  metricsPairs: Math.max(1, int('metrics-pairs', argv['metrics-pairs'])),
  metricsRequests: Math.max(1, int('metrics-requests', argv['metrics-requests'])),
  scaleTasks: Math.max(1, int('scale-tasks', argv['scale-tasks'])),
  scaleNodes: (argv['scale-nodes'] ?? '').split(',').map((x) => Math.max(1, int('scale-nodes', x.trim()))),
  scaleDrainSeconds: Math.max(1, int('scale-drain-seconds', argv['scale-drain-seconds'])),
  scaleProbe: Math.max(1, int('scale-probe', argv['scale-probe'])),
  scaleSteadyRates: (argv['scale-steady-rates'] ?? '').split(',').map((x) => Math.max(1, int('scale-steady-rates', x.trim()))),
  scaleSteadySeconds: Math.max(1, int('scale-steady-seconds', argv['scale-steady-seconds'])),
  scaleAgingSeconds: Math.max(1, int('scale-aging-seconds', argv['scale-aging-seconds'])),
};
const SECTIONS = ['a', 'b', 'c', 'd', 'e'] as const;
type Section = (typeof SECTIONS)[number];
if (S.only && (S.only.size === 0 || [...S.only].some((x) => !(SECTIONS as readonly string[]).includes(x)))) {
  process.stderr.write(`bench: --only takes one or more of ${SECTIONS.join(', ')} (comma-separated), got "${argv.only}"\n`);
  process.exit(2);
}
/** Whether this run includes a section (all of them without --only). */
const runs = (section: Section) => !S.only || S.only.has(section);

const ROOT = resolve(import.meta.dirname, '..');
const RESULTS_DIR = join(ROOT, 'bench/results');
const RUN_ID = `jb-${randomBytes(3).toString('hex')}`;
const TASK_BODY = JSON.stringify({ image: IMAGE, command: ['true'] });
const PRIORITY_NORMAL = PRIORITY_RANK[DEFAULT_PRIORITY]; // the priority POST /tasks gives by default
const FINAL: readonly string[] = FINAL_STATUSES;

const log = (msg: string) => process.stderr.write(`bench: ${msg}\n`);

// ---------------------------------------------------------------------------------------------
// Clean-up: everything started or created registers how to undo it; run in reverse order.

const cleanups: Array<{ what: string; fn: () => Promise<unknown> | unknown }> = [];
const onCleanup = (what: string, fn: () => Promise<unknown> | unknown) => {
  const entry = { what, fn };
  cleanups.push(entry);
  return async () => {
    const i = cleanups.indexOf(entry);
    if (i >= 0) cleanups.splice(i, 1);
    await fn();
  };
};
let cleaning: Promise<void> | null = null;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    while (cleanups.length) {
      const c = cleanups.pop()!;
      try {
        await c.fn();
      } catch (err) {
        log(`clean-up: ${c.what} failed: ${(err as Error).message}`);
      }
    }
  })();
  return cleaning;
}
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    interrupted = true;
    log(`${sig}: cleaning up…`);
    void cleanup().finally(() => process.exit(130));
  });
}

// ---------------------------------------------------------------------------------------------
// (a) submit throughput

interface ThroughputResult {
  label: string;
  what: string;
  requests: number;
  warmup: number;
  concurrency: number;
  elapsed_s: number;
  per_second: number;
  latency_ms: Summary;
  errors: number;
  first_error: string | null;
  cpu?: ReturnType<typeof cpuDelta>;
  jarvis_cpu_ms_per_request?: number | null;
  postgres_per_request?: Record<string, number> | null;
  redis_calls_per_request?: { total: number; top: Array<[string, number]>; note: string };
  check?: Record<string, unknown>;
  profile?: ProfileSummary | null;
  /** CLOCK_MONOTONIC µs around the measured loop (for the profile). */
  window_us?: [number, number];
}

function throughputOf(label: string, what: string, r: LoopResult): ThroughputResult {
  const { requests, ...rest } = loopFigures(r);
  return { label, what, requests, warmup: S.warmup, concurrency: r.concurrency, ...rest };
}

function assertFewErrors(what: string, r: LoopResult) {
  if (r.errors > Math.max(1, r.count * 0.01)) throw new Error(`${what}: ${r.errors} of ${r.count} operations failed; first: ${r.firstError}`);
}

/** Runs warm-up then the measured loop, with CPU / PostgreSQL / Redis observers around the latter. */
async function measured(
  label: string,
  what: string,
  op: () => Promise<void>,
  obs: { redis: Redis; serverPid?: number; dbName?: string; tag?: string; requests?: number },
): Promise<ThroughputResult> {
  const tag = obs.tag ?? '(a)';
  const requests = obs.requests ?? S.requests;
  log(`${tag} ${what}: ${S.warmup} warm-up, then ${requests} with ${S.concurrency} in flight…`);
  const warm = await closedLoop(S.warmup, S.concurrency, op);
  assertFewErrors(`${what} (warm-up)`, warm);
  const pg0: PgCounters | null = obs.dbName ? await pgCounters(obs.dbName) : null;
  const rs0 = await redisCommandStats(obs.redis);
  const cpu0 = cpuSnapshot(obs.serverPid ?? null);
  const fromUs = Number(process.hrtime.bigint() / 1000n);
  const r = await closedLoop(requests, S.concurrency, op);
  const toUs = Number(process.hrtime.bigint() / 1000n);
  const cpu1 = cpuSnapshot(obs.serverPid ?? null);
  const rs1 = await redisCommandStats(obs.redis);
  assertFewErrors(what, r);
  const out = throughputOf(label, what, r);
  out.window_us = [fromUs, toUs];
  out.cpu = cpuDelta(cpu0, cpu1);
  if (out.cpu.jarvis_cpu_ms !== null) out.jarvis_cpu_ms_per_request = round(out.cpu.jarvis_cpu_ms / requests, 3);
  const delta = commandStatsDelta(rs0, rs1);
  const total = delta.reduce((a, [, n]) => a + n, 0);
  out.redis_calls_per_request = {
    total: round(total / requests, 2),
    top: delta.slice(0, 6).map(([k, n]) => [k, round(n / requests, 2)]),
    note: 'INFO commandstats of the whole (shared) Redis server during the measured loop, per request; EVALSHA = one BullMQ script',
  };
  if (obs.dbName && pg0) {
    await sleep(1_100); // PostgreSQL flushes its statistics about once a second
    const pg1 = await pgCounters(obs.dbName);
    if (pg1) {
      out.postgres_per_request = Object.fromEntries(
        Object.entries(pg1).map(([k, v]) => [k, round((v - pg0[k as keyof PgCounters]) / requests, 2)]),
      );
    }
  }
  log(`${tag} ${what}: ${out.per_second} /s, p50 ${out.latency_ms.p50} ms, p99 ${out.latency_ms.p99} ms`);
  return out;
}

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
  const { openDatabase } = await import('../src/state/db.ts');
  const { TaskStore } = await import('../src/state/task-store.ts');
  const { enqueuePending } = await import('../src/scheduler/pending.ts');
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
        (t) => enqueuePending(queue, [t]),
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

// ---------------------------------------------------------------------------------------------
// (b) submit → succeeded latency

interface LatencySample {
  wall_ms: number;
}

async function latencyPhase(redis: Redis, facts: { cli: boolean }) {
  const prefix = `${RUN_ID}-up`;
  const tmp = mkdtempSync(join(tmpdir(), 'jarvis-bench-'));
  onCleanup(`remove ${tmp}`, () => rmSync(tmp, { recursive: true, force: true }));
  const db = await createDatabase('up');
  onCleanup(`drop database ${db.name}`, () => db.drop());
  log('(b) starting `jarvis up` (PostgreSQL)…');
  const jarvis = await startJarvis({ command: 'up', prefix, databaseUrl: db.url, dataDir: join(tmp, 'pglite') });
  const stop = onCleanup(`stop jarvis up ${prefix}`, () => jarvis.stop());
  const client = new HttpClient(jarvis.url, 4);
  const docker = new Dockerode();
  const { DockerExecutor } = await import('../src/worker/docker-executor.ts');
  // The executor gets its own client whose every Engine API call is timed (request sent →
  // answer, or for attach → stream open), to show which calls its time goes to.
  const execDocker = new Dockerode();
  const engineCalls = new Map<string, number[]>();
  const modem = execDocker.modem as unknown as { dial(o: { method: string; path: string }, cb: (e: unknown, d: unknown) => void): unknown };
  const dial = modem.dial.bind(modem);
  modem.dial = (o, cb) => {
    const path = o.path
      .replace(/^\/v[\d.]+\//, '/')
      .replace(/\/containers\/[0-9a-f]{64}/, '/containers/{id}')
      .replace(/\/containers\/jarvis-[^/?]+/, '/containers/{name}')
      .replace(/\/images\/.+\/json/, '/images/{name}/json')
      .replace(/\?.*$/, '');
    const key = `${o.method} ${path}`;
    const t0 = performance.now();
    return dial(o, (e, d) => {
      const list = engineCalls.get(key) ?? [];
      list.push(performance.now() - t0);
      engineCalls.set(key, list);
      cb(e, d);
    });
  };
  const executor = new DockerExecutor({ docker: execDocker });

  // --- one sample of each ---
  const epochNow = () => performance.timeOrigin + performance.now();

  interface JarvisSample extends LatencySample {
    id: string;
    post_ms: number;
    polls: number;
    t0: number;
    observed: number;
  }
  const jarvisOnce = async (): Promise<JarvisSample> => {
    const t0 = epochNow();
    const r = await client.request('POST', '/tasks', TASK_BODY);
    if (r.status !== 201) throw new Error(`POST /tasks answered ${r.status}: ${r.body.slice(0, 300)}`);
    const postMs = epochNow() - t0;
    const id = (JSON.parse(r.body) as { id: string }).id;
    let polls = 0;
    for (;;) {
      const s = epochNow();
      const g = await client.request('GET', `/tasks/${id}`);
      polls++;
      const t = JSON.parse(g.body) as { status: string; error: string | null };
      if (FINAL.includes(t.status)) {
        const observed = epochNow();
        if (t.status !== 'succeeded') throw new Error(`task ${id} ended ${t.status}: ${t.error}`);
        return { id, wall_ms: observed - t0, post_ms: postMs, polls, t0, observed };
      }
      if (s - t0 > 60_000) throw new Error(`task ${id} did not finish within 60 s (status ${t.status})`);
      await sleep(Math.max(0, S.pollMs - (epochNow() - s)));
    }
  };

  interface ExecutorSample extends LatencySample {
    to_started_ms: number;
    after_finished_ms: number;
  }
  const executorOnce = async (): Promise<ExecutorSample> => {
    const t0 = epochNow();
    const res = await executor.run({
      taskId: randomUUID(),
      attempt: 1,
      image: IMAGE,
      command: ['true'],
      env: {},
      cpu: 1,
      memoryMb: 256,
      gpu: 0,
      network: 'none',
      timeoutSeconds: null,
      labels: { 'jarvis.bench': RUN_ID },
    });
    const t1 = epochNow();
    if (res.status !== 'succeeded') throw new Error(`DockerExecutor.run: ${res.status}: ${res.error}`);
    return {
      wall_ms: t1 - t0,
      to_started_ms: (res.startedAt?.getTime() ?? NaN) - t0,
      after_finished_ms: t1 - res.finishedAt.getTime(),
    };
  };

  interface DockerodeSample extends LatencySample {
    create_ms: number;
    start_ms: number;
    wait_ms: number;
    remove_ms: number;
  }
  const dockerodeOnce = async (): Promise<DockerodeSample> => {
    const t0 = performance.now();
    const c = await docker.createContainer({ Image: IMAGE, Cmd: ['true'], Labels: { 'jarvis.bench': RUN_ID }, HostConfig: { NetworkMode: 'none' } });
    const t1 = performance.now();
    try {
      await c.start();
      const t2 = performance.now();
      const w = (await c.wait()) as { StatusCode: number };
      const t3 = performance.now();
      await c.remove();
      const t4 = performance.now();
      if (w.StatusCode !== 0) throw new Error(`dockerode: container exited ${w.StatusCode}`);
      return { wall_ms: t4 - t0, create_ms: t1 - t0, start_ms: t2 - t1, wait_ms: t3 - t2, remove_ms: t4 - t3 };
    } catch (err) {
      await c.remove({ force: true }).catch(() => undefined);
      throw err;
    }
  };

  const cliOnce = () =>
    new Promise<LatencySample>((resolveSample, reject) => {
      const t0 = performance.now();
      const child = spawn('docker', ['run', '--rm', '--network', 'none', IMAGE, 'true'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d) => (err += d));
      child.on('error', reject);
      child.on('exit', (code) => {
        const ms = performance.now() - t0;
        if (code !== 0) reject(new Error(`docker run exited ${code}: ${err.trim()}`));
        else resolveSample({ wall_ms: ms });
      });
    });

  // --- interleaved rounds: one of each per round, so drift on this shared machine hits all alike ---
  const samples = { jarvis: [] as JarvisSample[], executor: [] as ExecutorSample[], dockerode: [] as DockerodeSample[], cli: [] as LatencySample[] };
  const rounds = S.latencyWarmup + S.latencyCount;
  log(`(b) ${S.latencyWarmup} warm-up + ${S.latencyCount} measured rounds, each: jarvis task, DockerExecutor.run, dockerode, docker run…`);
  const started = new Date().toISOString();
  for (let i = 0; i < rounds; i++) {
    const j = await jarvisOnce();
    const e = await executorOnce();
    const d = await dockerodeOnce();
    const c = facts.cli ? await cliOnce() : null;
    if (i + 1 === S.latencyWarmup) engineCalls.clear();
    if (i >= S.latencyWarmup) {
      samples.jarvis.push(j);
      samples.executor.push(e);
      samples.dockerode.push(d);
      if (c) samples.cli.push(c);
    }
    if ((i + 1) % 10 === 0) log(`(b) round ${i + 1}/${rounds}: jarvis ${round(j.wall_ms, 0)} ms, docker run ${c ? round(c.wall_ms, 0) : '-'} ms`);
  }
  const finished = new Date().toISOString();

  // --- breakdown of the Jarvis samples from the task's own timestamps ---
  // Sources, all on this host's clock: the task's events (PostgreSQL, ms), Docker's StartedAt /
  // FinishedAt, and BullMQ's per-queue event streams ({prefix}:<queue>:events), whose entry ids
  // are Redis's own ms timestamps of "added" and "active" for each job.
  interface TaskView {
    node_id: string | null;
    started_at: string | null;
    finished_at: string | null;
  }
  const streamTimes = (queue: string) => bullEventTimes(redis, prefix, queue);
  const pendingQ = await streamTimes('pending');
  const reportQ = await streamTimes('task-events');
  const nodeQs = new Map<string, Map<string, Record<string, number>>>();
  const segs: Record<string, number[]> = {
    '01_post_sent_to_row_inserted': [],
    '02_row_inserted_to_pending_job_added': [],
    '03_pending_job_added_to_dispatcher_took_it': [],
    '04_dispatcher_took_it_to_node_job_added': [],
    '05_node_job_added_to_worker_took_it': [],
    '06_worker_took_it_to_container_started': [],
    '07_container_running': [],
    '08_container_exited_to_result_report_added': [],
    '09_result_report_added_to_recorder_took_it': [],
    '10_recorder_took_it_to_succeeded_recorded': [],
    '11_succeeded_recorded_to_observed_by_poll': [],
  };
  const extra: Record<string, number[]> = {
    post_response_ms: [],
    polls_per_task: [],
    submit_to_succeeded_recorded_ms: [],
    started_report_recorded_after_container_start_ms: [],
  };
  for (const s of samples.jarvis) {
    const t = await client.json<TaskView>('GET', `/tasks/${s.id}`, undefined, 200);
    const ev = await client.json<{ items: Array<{ at: string; status: string }> }>('GET', `/tasks/${s.id}/events`, undefined, 200);
    const at = (status: string) => Date.parse(ev.items.find((e) => e.status === status)?.at ?? '');
    let nodeQ = nodeQs.get(t.node_id ?? '');
    if (!nodeQ) {
      nodeQ = await streamTimes(`node-${t.node_id}`);
      nodeQs.set(t.node_id ?? '', nodeQ);
    }
    const pend = pendingQ.get(s.id) ?? {};
    const node = nodeQ.get(`${s.id}-a1`) ?? {};
    const fin = reportQ.get(`finished-${s.id}-a1`) ?? {};
    const queued = at('queued');
    const succeeded = at('succeeded');
    const started = Date.parse(t.started_at ?? '');
    const finished = Date.parse(t.finished_at ?? '');
    const points = [
      s.t0,
      queued,
      pend.added,
      pend.active,
      node.added,
      node.active,
      started,
      finished,
      fin.added,
      fin.active,
      succeeded,
      s.observed,
    ];
    Object.values(segs).forEach((list, k) => list.push(points[k + 1] - points[k]));
    extra.post_response_ms.push(s.post_ms);
    extra.polls_per_task.push(s.polls);
    extra.submit_to_succeeded_recorded_ms.push(succeeded - s.t0);
    extra.started_report_recorded_after_container_start_ms.push(at('running') - started);
  }
  client.close();
  await stop();

  const sum = (xs: LatencySample[]) => summarize(xs.map((x) => x.wall_ms));
  const result = {
    method: {
      jarvis:
        `\`jarvis up\` (PostgreSQL, one local worker). Tasks submitted one at a time: POST /tasks ${TASK_BODY}, then GET /tasks/{id} every ` +
        `${S.pollMs} ms (start to start) until a final status; wall time from sending the POST to receiving the GET that shows "succeeded". ` +
        `Polling was chosen over following /tasks/{id}/logs?follow=true: that stream's end event waits for the recorded result by re-reading ` +
        `the task every 50 ms (src/api/routes/tasks.ts), which would measure its 50 ms loop instead of Jarvis. The poll adds on average about ` +
        `half the interval plus one GET; segment 7 of the breakdown shows it.`,
      docker_executor: 'Jarvis\'s DockerExecutor.run called in the bench process (no queues, no database): image inspect, create, attach, start, inspect, wait, inspect, remove; same limits as a Jarvis task (1 CPU, 256 MiB, network none).',
      dockerode: 'dockerode in the bench process: createContainer (network none) → start → wait → remove; no attach, no limits.',
      docker_run: `\`docker run --rm --network none ${IMAGE} true\` spawned with child_process, wall time to exit.`,
      order: `${S.latencyWarmup} warm-up rounds, then ${S.latencyCount} measured rounds; each round runs one of each, in turn, sequentially.`,
      breakdown:
        'Per task, from timestamps on this host\'s one clock: the task\'s events in PostgreSQL ("queued" = row inserted, "succeeded" = result recorded), ' +
        'BullMQ\'s event streams of the pending, node and task-events queues (Redis-stamped "added" and "active" of each job), Docker\'s StartedAt/FinishedAt, ' +
        'and the bench\'s own send/observe times. Segments are consecutive, so per task they add up to the wall time (medians need not).',
    },
    started_at: started,
    finished_at: finished,
    count: S.latencyCount,
    warmup: S.latencyWarmup,
    poll_ms: S.pollMs,
    image: IMAGE,
    jarvis_submit_to_succeeded_ms: sum(samples.jarvis),
    docker_executor_run_ms: sum(samples.executor),
    dockerode_create_start_wait_remove_ms: sum(samples.dockerode),
    docker_run_cli_ms: samples.cli.length ? sum(samples.cli) : null,
    dockerode_phases_ms: {
      create: summarize(samples.dockerode.map((d) => d.create_ms)),
      start: summarize(samples.dockerode.map((d) => d.start_ms)),
      wait: summarize(samples.dockerode.map((d) => d.wait_ms)),
      remove: summarize(samples.dockerode.map((d) => d.remove_ms)),
    },
    docker_executor_phases_ms: {
      call_to_container_started: summarize(samples.executor.map((e) => e.to_started_ms)),
      container_exited_to_return: summarize(samples.executor.map((e) => e.after_finished_ms)),
    },
    docker_executor_engine_calls_ms: Object.fromEntries(
      [...engineCalls].map(([k, v]) => [k, { calls_per_run: round(v.length / samples.executor.length, 2), ...summarize(v) }]),
    ),
    jarvis_breakdown_ms: Object.fromEntries(Object.entries(segs).map(([k, v]) => [k, summarize(v)])),
    jarvis_extra: Object.fromEntries(Object.entries(extra).map(([k, v]) => [k, summarize(v)])),
    ratio: {} as Record<string, number | boolean | string | null>,
  };
  const jp50 = result.jarvis_submit_to_succeeded_ms.p50;
  const cli50 = result.docker_run_cli_ms?.p50 ?? NaN;
  result.ratio = {
    jarvis_p50_over_docker_run_p50: round(jp50 / cli50, 3),
    target: '≤ 1.15',
    meets_target: jp50 / cli50 <= 1.15,
    jarvis_recorded_p50_over_docker_run_p50: round(result.jarvis_extra.submit_to_succeeded_recorded_ms.p50 / cli50, 3),
    jarvis_p50_over_dockerode_p50: round(jp50 / result.dockerode_create_start_wait_remove_ms.p50, 3),
    docker_executor_p50_over_dockerode_p50: round(result.docker_executor_run_ms.p50 / result.dockerode_create_start_wait_remove_ms.p50, 3),
    docker_run_p50_over_dockerode_p50: round(cli50 / result.dockerode_create_start_wait_remove_ms.p50, 3),
  };
  return result;
}

// ---------------------------------------------------------------------------------------------
// Shared by (c) and (d)

/** First Redis-stamped time (ms) of each event of each job, from a BullMQ queue's event stream. */
async function bullEventTimes(redis: Redis, prefix: string, queue: string): Promise<Map<string, Record<string, number>>> {
  const entries = await redis.xrange(`{${prefix}}:${queue}:events`, '-', '+');
  const byJob = new Map<string, Record<string, number>>();
  for (const [id, fields] of entries) {
    const f: Record<string, string> = {};
    for (let k = 0; k + 1 < fields.length; k += 2) f[fields[k]] = fields[k + 1];
    if (!f.jobId || !f.event) continue;
    const rec = byJob.get(f.jobId) ?? {};
    rec[f.event] ??= Number(id.split('-')[0]);
    byJob.set(f.jobId, rec);
  }
  return byJob;
}

/** A fresh PostgreSQL database and temp dir, registered for clean-up. */
async function freshDatabase(tag: string) {
  const tmp = mkdtempSync(join(tmpdir(), 'jarvis-bench-'));
  onCleanup(`remove ${tmp}`, () => rmSync(tmp, { recursive: true, force: true }));
  const db = await createDatabase(tag);
  onCleanup(`drop database ${db.name}`, () => db.drop());
  return { db, tmp };
}

async function pausePendingQueue(redis: Redis, prefix: string): Promise<void> {
  const q = new Queue('pending', { connection: redis, prefix: `{${prefix}}` });
  await q.pause();
  await q.close();
}

const epochNow = () => performance.timeOrigin + performance.now();

// ---------------------------------------------------------------------------------------------
// (c) workflows: a 10,000-task DAG, and release latency on the simulated executor

interface TimedRequest {
  status: number;
  wall_ms: number;
  /** The server's own "request" log line: handler time from first middleware to response. */
  server_handler_ms: number | null;
  server_cpu_ms: number | null;
  request_bytes: number;
  response_bytes: number;
}

async function dagValidationInProcess(bodyText: string, cycleText: string) {
  const { WorkflowCreate } = await import('../src/api/schemas.ts');
  const { validateGraph } = await import('../src/dag/validate.ts');
  const warmup = 2;
  const rounds = 10;
  const m = { json_parse_ms: [] as number[], zod_parse_ms: [] as number[], validate_graph_ms: [] as number[], validate_graph_with_cycle_ms: [] as number[] };
  const cold: Record<string, number> = {};
  let problemsOfCycle: string | null = null;
  for (let i = 0; i < warmup + rounds; i++) {
    const t0 = performance.now();
    const raw = JSON.parse(bodyText) as unknown;
    const t1 = performance.now();
    const parsed = WorkflowCreate.safeParse(raw);
    const t2 = performance.now();
    if (!parsed.success) throw new Error(`(c) WorkflowCreate refused the bench's DAG: ${parsed.error.message.slice(0, 500)}`);
    const problems = validateGraph(parsed.data.tasks.map((t) => ({ key: t.key, depends_on: t.depends_on ?? [] })));
    const t3 = performance.now();
    if (problems.length) throw new Error(`(c) validateGraph refused the bench's DAG: ${JSON.stringify(problems[0])}`);
    const cyc = WorkflowCreate.parse(JSON.parse(cycleText));
    const entries = cyc.tasks.map((t) => ({ key: t.key, depends_on: t.depends_on ?? [] }));
    const t4 = performance.now();
    const cycProblems = validateGraph(entries);
    const t5 = performance.now();
    if (cycProblems.length !== 1 || !cycProblems[0].msg.includes('cycle:')) throw new Error(`(c) validateGraph missed the cycle: ${JSON.stringify(cycProblems).slice(0, 300)}`);
    problemsOfCycle ??= `${cycProblems[0].msg.slice(0, 80)}… (loc ${JSON.stringify(cycProblems[0].loc)})`;
    if (i === 0) Object.assign(cold, { json_parse_ms: t1 - t0, zod_parse_ms: t2 - t1, validate_graph_ms: t3 - t2, validate_graph_with_cycle_ms: t5 - t4 });
    if (i >= warmup) {
      m.json_parse_ms.push(t1 - t0);
      m.zod_parse_ms.push(t2 - t1);
      m.validate_graph_ms.push(t3 - t2);
      m.validate_graph_with_cycle_ms.push(t5 - t4);
    }
  }
  const zodPlusGraph = m.zod_parse_ms.map((z, i) => z + m.validate_graph_ms[i]);
  return {
    what: `in this process, ${warmup} warm-up + ${rounds} measured rounds: JSON.parse of the body text, WorkflowCreate.safeParse (src/api/schemas.ts, the schema POST /workflows validates with), validateGraph (src/dag/validate.ts) on the parsed tasks; and validateGraph on the same graph plus one edge closing a cycle through every layer`,
    rounds,
    ms: Object.fromEntries(Object.entries(m).map(([k, v]) => [k, summarize(v)])),
    zod_plus_validate_graph_ms: summarize(zodPlusGraph),
    first_call_ms: Object.fromEntries(Object.entries(cold).map(([k, v]) => [k, round(v)])),
    cycle_reported_as: problemsOfCycle,
  };
}

/** WorkflowStore.create exactly as POST /workflows calls it, on a fresh database, in this process. */
async function dagPersistInProcess(redis: Redis, bodyText: string) {
  const { openDatabase } = await import('../src/state/db.ts');
  const { TaskStore } = await import('../src/state/task-store.ts');
  const { WorkflowStore } = await import('../src/state/workflow-store.ts');
  const { WorkflowReleaser } = await import('../src/dag/release.ts');
  const { enqueuePending } = await import('../src/scheduler/pending.ts');
  const { workflowRows } = await import('../src/control/task-rows.ts');
  const { presentWorkflow } = await import('../src/api/present.ts');
  const { WorkflowCreate } = await import('../src/api/schemas.ts');
  const { loadConfig } = await import('../src/config/index.ts');
  const config = loadConfig({ env: {} });
  const { db, tmp } = await freshDatabase('wfstore');
  const database = await openDatabase({ url: db.url, dataDir: join(tmp, 'pglite') });
  const prefix = `${RUN_ID}-wfs`;
  const conn = await connectRedis();
  const queue = new Queue('pending', { connection: conn, prefix: `{${prefix}}` });
  await queue.pause();
  try {
    const taskStore = new TaskStore(database.db);
    const workflows = new WorkflowStore(database.db, taskStore);
    const releaser = new WorkflowReleaser(workflows);
    const m = {
      build_rows_ms: [] as number[],
      store_ms: [] as number[],
      enqueue_roots_ms: [] as number[],
      read_back_ms: [] as number[],
      present_and_stringify_ms: [] as number[],
    };
    const storeCpuMs: number[] = [];
    let queuedCount = 0;
    const warmup = 1;
    for (let i = 0; i < warmup + S.dagRounds; i++) {
      const body = WorkflowCreate.parse(JSON.parse(bodyText));
      const t0 = performance.now();
      const { id, wf, rows } = workflowRows(body, config);
      const c1 = process.cpuUsage();
      const t1 = performance.now();
      const { workflow, queued } = await workflows.create(wf, rows, (tx, w) => releaser.start(tx, w));
      const t2 = performance.now();
      const storeCpu = process.cpuUsage(c1);
      await enqueuePending(queue, queued);
      const t3 = performance.now();
      const all = await workflows.tasksOf(id);
      const t4 = performance.now();
      const text = JSON.stringify(presentWorkflow(workflow, all));
      const t5 = performance.now();
      if (all.length !== body.tasks.length || text.length < 100) throw new Error(`(c) stored ${all.length} tasks, expected ${body.tasks.length}`);
      queuedCount = queued.length;
      if (i >= warmup) {
        storeCpuMs.push((storeCpu.user + storeCpu.system) / 1000);
        m.build_rows_ms.push(t1 - t0);
        m.store_ms.push(t2 - t1);
        m.enqueue_roots_ms.push(t3 - t2);
        m.read_back_ms.push(t4 - t3);
        m.present_and_stringify_ms.push(t5 - t4);
      }
    }
    return {
      what:
        'in this process on a fresh PostgreSQL database (pool of 10), as POST /workflows does after validation: build the rows (workflowRows), ' +
        'WorkflowStore.create (one transaction: the workflow row, every task in ONE INSERT … FROM jsonb_to_recordset, the roots queued by WorkflowReleaser.start), ' +
        'enqueue the roots (addBulk, paused queue), read every task back (tasksOf) and present + JSON.stringify the 201 body',
      rounds: S.dagRounds,
      roots_queued: queuedCount,
      ms: Object.fromEntries(Object.entries(m).map(([k, v]) => [k, summarize(v)])),
      /** CPU of this (Node) process during the store step: building and serialising the INSERTs. */
      store_node_cpu_ms: summarize(storeCpuMs),
    };
  } finally {
    await queue.close();
    conn.disconnect();
    await database.close();
  }
}

async function dagOverHttp(redis: Redis, bodyText: string, cycleText: string, tasks: number, width: number) {
  const prefix = `${RUN_ID}-wf`;
  const { db, tmp } = await freshDatabase('wfhttp');
  // No worker, and the pending queue paused: the server does what POST /workflows costs, nothing else.
  await pausePendingQueue(redis, prefix);
  log('(c) starting `jarvis server` for POST /workflows…');
  const jarvis = await startJarvis({ command: 'server', prefix, databaseUrl: db.url, dataDir: join(tmp, 'pglite') });
  const stop = onCleanup(`stop jarvis server ${prefix}`, () => jarvis.stop());
  const client = new HttpClient(jarvis.url, 2);
  try {
    const handlerTimes = () =>
      jarvis.logLines((l) => l.msg === 'request' && l.method === 'POST' && l.path === '/workflows').map((l) => Number(l.ms));
    const timed = async (text: string): Promise<TimedRequest & { body: string }> => {
      const seen = handlerTimes().length;
      const c0 = processCpuMs(jarvis.pid);
      const t0 = performance.now();
      const r = await client.request('POST', '/workflows', text, 120_000);
      const wall = performance.now() - t0;
      const c1 = processCpuMs(jarvis.pid);
      await sleep(50); // the log line is written after the response
      const h = handlerTimes();
      return {
        status: r.status,
        wall_ms: round(wall),
        server_handler_ms: h.length > seen ? h[h.length - 1] : null,
        server_cpu_ms: c0 !== null && c1 !== null ? round(c1 - c0) : null,
        request_bytes: Buffer.byteLength(text),
        response_bytes: Buffer.byteLength(r.body),
        body: r.body,
      };
    };
    const valid: TimedRequest[] = [];
    const cycle: TimedRequest[] = [];
    const load0 = cpuSnapshot(jarvis.pid);
    for (let i = 0; i < 1 + S.dagRounds; i++) {
      const ok = await timed(bodyText);
      if (ok.status !== 201) throw new Error(`(c) POST /workflows (${tasks} tasks) answered ${ok.status}: ${ok.body.slice(0, 300)}`);
      const wf = JSON.parse(ok.body) as { tasks: Array<{ status: string }> };
      const queued = wf.tasks.filter((t) => t.status === 'queued').length;
      if (wf.tasks.length !== tasks || queued !== Math.min(width, tasks)) {
        throw new Error(`(c) POST /workflows returned ${wf.tasks.length} tasks with ${queued} queued; expected ${tasks} and ${Math.min(width, tasks)}`);
      }
      const bad = await timed(cycleText);
      const detail = bad.status === 422 ? (JSON.parse(bad.body) as { detail: Array<{ msg: string }> }).detail : [];
      if (bad.status !== 422 || !detail[0]?.msg.includes('cycle:')) throw new Error(`(c) POST /workflows with a cycle answered ${bad.status}: ${bad.body.slice(0, 300)}`);
      const { body: _a, ...okRow } = ok;
      const { body: _b, ...badRow } = bad;
      if (i > 0) {
        valid.push(okRow);
        cycle.push(badRow);
      }
      log(`(c) POST /workflows ${tasks} tasks${i === 0 ? ' (warm-up)' : ''}: 201 in ${okRow.wall_ms} ms, with a cycle: 422 in ${badRow.wall_ms} ms`);
    }
    const load1 = cpuSnapshot(jarvis.pid);
    const page = await client.json<{ total: number }>('GET', '/tasks?limit=1', undefined, 200);
    const wfPage = await client.json<{ total: number }>('GET', '/workflows?limit=1', undefined, 200);
    const expected = (1 + S.dagRounds) * tasks;
    if (page.total !== expected || wfPage.total !== 1 + S.dagRounds) throw new Error(`(c) ${page.total} tasks / ${wfPage.total} workflows stored, expected ${expected} / ${1 + S.dagRounds} (a refused workflow must store nothing)`);
    const col = (rows: TimedRequest[], k: keyof TimedRequest) => summarize(rows.map((r) => r[k] as number));
    return {
      what:
        '`jarvis server` (PostgreSQL, no worker, pending queue paused), one request at a time, after one warm-up pair. wall = request sent -> ' +
        'whole response received (the 201 body has every task); server_handler = the server\'s own request log (middleware to response); ' +
        'the 422 request is the same graph plus one edge closing a cycle, so it measures reading + zod + validateGraph + the error, nothing stored',
      rounds: S.dagRounds,
      valid_201: { wall_ms: col(valid, 'wall_ms'), server_handler_ms: col(valid, 'server_handler_ms'), server_cpu_ms: col(valid, 'server_cpu_ms'), request_bytes: valid[0].request_bytes, response_bytes: valid[0].response_bytes, rows: valid },
      cycle_422: { wall_ms: col(cycle, 'wall_ms'), server_handler_ms: col(cycle, 'server_handler_ms'), server_cpu_ms: col(cycle, 'server_cpu_ms'), rows: cycle },
      check: { tasks_stored: page.total, workflows_stored: wfPage.total, expected_tasks: expected },
      cpu: cpuDelta(load0, load1),
    };
  } finally {
    client.close();
    await stop();
  }
}

interface WorkflowRun {
  shape: string;
  tasks: number;
  wall_ms: number;
  samples: ReleaseSample[];
  /**
   * fan-out only: first child queued -> last child scheduled, and how fast the middle tasks'
   * successes were recorded meanwhile (each in a transaction under the workflow's row lock).
   */
  burst?: { children: number; drain_ms: number; placements_per_second: number; successes_recorded_per_second: number; success_gap_p50_ms: number };
  cpu: ReturnType<typeof cpuWithWorker>;
  /** The server's PostgreSQL connections (pool of 10), sampled every 50 ms: POST to last task seen done. */
  database_connections: ReturnType<typeof pgActivitySummary>;
  /** The same over the fan-out's placement burst (first child queued -> last child scheduled). */
  database_connections_during_fan_out?: ReturnType<typeof pgActivitySummary>;
}

/** Means over the samples in [from, to] of what the database's connections were doing. */
function pgActivitySummary(samples: PgActivitySample[], from: number, to: number) {
  const inside = samples.filter((x) => x.at >= from && x.at <= to);
  const mean = (k: keyof PgActivitySample) => (inside.length ? round(inside.reduce((a, x) => a + x[k], 0) / inside.length, 2) : null);
  return {
    samples: inside.length,
    mean_connections: mean('conns'),
    mean_busy: mean('busy'),
    mean_waiting_for_workflow_row_lock: mean('workflow_lock_waits'),
    mean_waiting_for_node_row_lock: mean('node_lock_waits'),
    mean_other_lock_waits: mean('other_lock_waits'),
    share_of_samples_with_every_connection_busy: inside.length ? round(inside.filter((x) => x.busy >= 10).length / inside.length, 3) : null,
  };
}

async function runWorkflow(
  client: HttpClient,
  redis: Redis,
  prefix: string,
  dbName: string,
  jarvis: JarvisProcess,
  worker: JarvisProcess,
  shape: string,
  body: WorkflowBody,
): Promise<WorkflowRun> {
  const activity = samplePgActivity(dbName, 50);
  const cpu0 = cpuSnapshot(jarvis.pid);
  const w0 = { pid: worker.pid, cpu0: processCpuMs(worker.pid) };
  const t0 = epochNow();
  const created = await client.json<{ id: string; tasks: Array<{ id: string; workflow_key: string; depends_on: string[] }> }>('POST', '/workflows', body, 201);
  const ids = new Map(created.tasks.map((t) => [t.workflow_key, t.id]));
  const lastId = ids.get(body.tasks[body.tasks.length - 1].key) as string;
  for (;;) {
    const t = await client.json<{ status: string }>('GET', `/tasks/${lastId}`, undefined, 200);
    if (FINAL.includes(t.status)) {
      if (t.status !== 'succeeded') throw new Error(`(c) ${shape}: the last task ended ${t.status}`);
      break;
    }
    if (epochNow() - t0 > 180_000) throw new Error(`(c) ${shape}: not finished within 180 s (last task ${t.status})`);
    await sleep(50);
  }
  const wall = epochNow() - t0;
  const cpu = cpuWithWorker(cpu0, cpuSnapshot(jarvis.pid), w0);
  const pgSamples = await activity.stop();
  const wf = await client.json<{ status: string }>('GET', `/workflows/${created.id}`, undefined, 200);
  if (wf.status !== 'succeeded') throw new Error(`(c) ${shape}: workflow ${created.id} is ${wf.status}`);
  const pendingJobs = await bullEventTimes(redis, prefix, 'pending');
  const histories: TaskEvents[] = new Array(created.tasks.length);
  const loop = await closedLoop(created.tasks.length, 8, async (i) => {
    const t = created.tasks[i];
    const ev = await client.json<{ items: Array<{ at: string; status: string }> }>('GET', `/tasks/${t.id}/events`, undefined, 200);
    const at: Record<string, number> = {};
    for (const e of ev.items) at[e.status] ??= Date.parse(e.at);
    for (const s of ['queued', 'scheduled', 'succeeded']) if (!(s in at)) throw new Error(`(c) ${shape}: task ${t.workflow_key} has no "${s}" event`);
    histories[i] = { id: t.id, key: t.workflow_key, dependsOn: t.depends_on, at };
  });
  if (loop.errors) throw new Error(`(c) ${shape}: reading task histories: ${loop.firstError}`);
  const samples = releaseSamples(histories, pendingJobs, ids);
  const run: WorkflowRun = { shape, tasks: body.tasks.length, wall_ms: round(wall), samples, cpu, database_connections: pgActivitySummary(pgSamples, t0, t0 + wall) };
  const fanned = histories.filter((h) => h.dependsOn.length === 1 && h.dependsOn[0] === 'root');
  if (fanned.length > 1) {
    const first = Math.min(...fanned.map((h) => h.at.queued));
    const last = Math.max(...fanned.map((h) => h.at.scheduled));
    const done = fanned.map((h) => h.at.succeeded).sort((x, y) => x - y);
    const gaps = done.slice(1).map((t, i) => t - done[i]);
    run.database_connections_during_fan_out = pgActivitySummary(pgSamples, first, last);
    run.burst = {
      children: fanned.length,
      drain_ms: last - first,
      placements_per_second: round(fanned.length / ((last - first) / 1000), 1),
      successes_recorded_per_second: round(done.length / ((done[done.length - 1] - done[0]) / 1000), 1),
      success_gap_p50_ms: summarize(gaps).p50,
    };
  }
  return run;
}

async function releasePhase(redis: Redis) {
  const prefix = `${RUN_ID}-dag`;
  const { db, tmp } = await freshDatabase('dag');
  log('(c) starting `jarvis server` + `jarvis worker --executor simulated`…');
  const jarvis = await startJarvis({ command: 'server', prefix, databaseUrl: db.url, dataDir: join(tmp, 'pglite') });
  const stopServer = onCleanup(`stop jarvis server ${prefix}`, () => jarvis.stop());
  const workerArgs = ['--executor', 'simulated', '--cpu', '10000', '--memory-mb', '10000000', '--max-tasks', '2000'];
  const worker = await startJarvis({ command: 'worker', prefix, databaseUrl: null, dataDir: join(tmp, 'pglite-worker'), apiUrl: jarvis.url, args: workerArgs });
  // Stopped before the server (clean-ups run in reverse).
  const stopWorker = onCleanup(`stop jarvis worker ${prefix}`, () => worker.stop());
  const client = new HttpClient(jarvis.url, 8);
  const started = new Date().toISOString();
  try {
    log('(c) warm-up workflow (fan-out/fan-in of 50)…');
    await runWorkflow(client, redis, prefix, db.name, jarvis, worker, 'warm-up', fanOutFanIn({ width: 50, image: IMAGE, middleDurationMs: S.simMs, name: 'bench-warmup' }));
    const runs: WorkflowRun[] = [];
    if (S.chain > 1) {
      log(`(c) chain of ${S.chain} tasks (0 ms each)…`);
      const r = await runWorkflow(client, redis, prefix, db.name, jarvis, worker, 'chain', chain({ length: S.chain, image: IMAGE, durationMs: 0 }));
      runs.push(r);
      log(`(c) chain: ${round(r.wall_ms / 1000, 2)} s, release p50 ${summarize(r.samples.map((x) => x.release_ms)).p50} ms`);
    }
    for (let i = 0; i < S.fanRounds; i++) {
      log(`(c) fan-out/fan-in ${i + 1}/${S.fanRounds}: root -> ${S.fanWidth} tasks (${S.simMs} ms each) -> sink…`);
      const r = await runWorkflow(client, redis, prefix, db.name, jarvis, worker, 'fan', fanOutFanIn({ width: S.fanWidth, image: IMAGE, middleDurationMs: S.simMs }));
      runs.push(r);
      const sink = r.samples.find((x) => x.key === 'sink');
      log(
        `(c) fan-out/fan-in ${i + 1}: ${round(r.wall_ms / 1000, 2)} s; fan-out release p50 ${summarize(r.samples.filter((x) => x.key !== 'sink').map((x) => x.release_ms)).p50} ms, ` +
          `p99 ${summarize(r.samples.filter((x) => x.key !== 'sink').map((x) => x.release_ms)).p99} ms; sink ${sink?.release_ms} ms`,
      );
    }
    const finished = new Date().toISOString();
    const fan = runs.filter((r) => r.shape === 'fan');
    const fanAll = fan.flatMap((r) => r.samples);
    const fanOut = fanAll.filter((x) => x.key !== 'sink');
    const fanIn = fanAll.filter((x) => x.key === 'sink');
    const chainSamples = runs.filter((r) => r.shape === 'chain').flatMap((r) => r.samples);
    const group = (xs: ReleaseSample[]) => (xs.length ? { n: xs.length, ...summarizeRelease(xs) } : null);
    const p99 = fanAll.length ? summarize(fanAll.map((x) => x.release_ms)).p99 : NaN;
    return {
      what:
        'release latency = the last parent\'s "succeeded" event -> the child\'s "scheduled" event, from GET /tasks/{id}/events (both stamped by the ' +
        'one `jarvis server` process, JS Date, ms resolution). It includes: the rest of the parent\'s finish transaction after its event (the DAG hook: ' +
        'workflow row lock, pending children, ready marking, queueReady, unfinished count) and its commit; the result recorder\'s addBulk of the released ' +
        'child to the pending queue; the wait in that queue until the dispatcher (a BullMQ worker, 16 at once) takes the job — behind every sibling released ' +
        'by the same commit; the dispatcher\'s reads (task, node list), the choice of node, and the placement transaction up to its event. ' +
        'It excludes the worker: the worker\'s report of the parent before "succeeded", and the hand-over to the node queue after "scheduled". ' +
        'The breakdown adds the pending job\'s Redis-stamped "added"/"active" times (BullMQ event stream; same host clock).',
      setup:
        `\`jarvis server\` (PostgreSQL) + one \`jarvis worker ${workerArgs.join(' ')}\`; every task asks cpu 0.01, memory_mb 1, so capacity never limits placement; ` +
        `middle tasks of the fan-out simulate ${S.simMs} ms (label ${SIM_DURATION_LABEL}), root, sink and chain tasks 0 ms. One warm-up fan-out of 50 first.`,
      started_at: started,
      finished_at: finished,
      fan_width: S.fanWidth,
      fan_rounds: S.fanRounds,
      chain_length: S.chain,
      fan_out_fan_in_all_children: group(fanAll),
      fan_out_children: group(fanOut),
      fan_in_sink: group(fanIn),
      chain_children: group(chainSamples),
      runs: runs.map(({ samples, ...r }) => ({ ...r, sink_release_ms: samples.find((x) => x.key === 'sink')?.release_ms ?? null })),
      target: 'p99 < 50 ms (fan-out/fan-in, all children)',
      meets_target: p99 < 50,
    };
  } finally {
    client.close();
    await stopWorker();
    await stopServer();
  }
}

async function workflowPhase(redis: Redis) {
  const started = new Date().toISOString();
  const body = layeredDag({ tasks: S.dagTasks, width: S.dagWidth, image: IMAGE });
  const { edges, layers, ...wire } = body;
  const bodyText = JSON.stringify(wire);
  const cycleText = JSON.stringify(withCycle(wire));
  log(`(c) ${S.dagTasks}-task DAG (${layers} layers of ${S.dagWidth}, ${edges} edges, ${round(bodyText.length / 1e6, 2)} MB): validation in this process…`);
  const validation = await dagValidationInProcess(bodyText, cycleText);
  log(`(c) zod ${validation.ms.zod_parse_ms.p50} ms + validateGraph ${validation.ms.validate_graph_ms.p50} ms (p50); storing it in this process…`);
  const persist = await dagPersistInProcess(redis, bodyText);
  log(`(c) WorkflowStore.create ${persist.ms.store_ms.p50} ms (p50); POST /workflows over HTTP…`);
  const http = await dagOverHttp(redis, bodyText, cycleText, S.dagTasks, S.dagWidth);
  const release = await releasePhase(redis);
  const validationMs = validation.zod_plus_validate_graph_ms.p50;
  return {
    started_at: started,
    finished_at: new Date().toISOString(),
    dag: {
      shape: `${S.dagTasks} tasks in ${layers} layers of ${S.dagWidth}; every task after the first layer depends on 1-3 distinct tasks of the layer before (seeded PRNG); ${edges} edges; each task {image, command ["true"], resources {cpu 0.01, memory_mb 1}, labels}`,
      body_bytes: Buffer.byteLength(bodyText),
      validation_in_process: validation,
      persist_in_process: persist,
      post_workflows_http: http,
      target: 'validation of 10,000 tasks < 1 s (zod parse + validateGraph, p50, in process; the 422 over HTTP is the end-to-end check)',
      meets_target: validationMs < 1000,
    },
    release,
  };
}

// ---------------------------------------------------------------------------------------------
// (d) what metrics cost on the submit path

interface MetricsServer {
  arm: 'on' | 'off';
  jarvis: JarvisProcess;
  client: HttpClient;
  profDir: string;
  stop(): Promise<unknown>;
}

async function startMetricsServer(redis: Redis, arm: 'on' | 'off', tag: string, profile: boolean): Promise<MetricsServer> {
  const prefix = `${RUN_ID}-m${tag}${arm}`;
  const { db, tmp } = await freshDatabase(`metrics_${arm}`);
  await pausePendingQueue(redis, prefix);
  const profDir = join(tmp, 'prof');
  const jarvis = await startJarvis({
    command: 'server',
    prefix,
    databaseUrl: db.url,
    dataDir: join(tmp, 'pglite'),
    // The reconciler walks every queued task every 5 s (thousands here, none of it metrics): one
    // pass at start only, so a pass landing in one arm's loop and not the other's adds no noise.
    env: { JARVIS_METRICS_ENABLED: arm === 'on' ? 'true' : 'false', JARVIS_RECONCILE_SECONDS: '3600' },
    nodeArgs: profile ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : undefined,
  });
  const stopServer = onCleanup(`stop jarvis server ${prefix}`, () => jarvis.stop());
  const client = new HttpClient(jarvis.url, S.concurrency);
  return {
    arm,
    jarvis,
    client,
    profDir,
    stop: async () => {
      client.close();
      await stopServer();
    },
  };
}

/** The arm is what it says: with metrics on every accepted task was counted; off, nothing is exposed. */
async function checkMetricsArm(s: MetricsServer, expected: number) {
  const scrapes: number[] = [];
  let text = '';
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    const r = await s.client.request('GET', '/metrics');
    scrapes.push(performance.now() - t0);
    text = r.body;
  }
  const counted = Number(/^jarvis_tasks_submitted_total\{priority="normal"\} (\d+)/m.exec(text)?.[1] ?? NaN);
  if (s.arm === 'on' && counted !== expected) throw new Error(`(d) metrics on: jarvis_tasks_submitted_total is ${counted}, expected ${expected}`);
  if (s.arm === 'off' && /^jarvis_/m.test(text)) throw new Error('(d) metrics off: /metrics still exposes jarvis_* series');
  const page = await s.client.json<{ total: number }>('GET', '/tasks?limit=1', undefined, 200);
  if (page.total !== expected) throw new Error(`(d) metrics ${s.arm}: ${page.total} tasks stored, expected ${expected}`);
  return {
    tasks_stored: page.total,
    submitted_counter: s.arm === 'on' ? counted : null,
    expected,
    scrape_ms: s.arm === 'on' ? summarize(scrapes) : null,
    scrape_bytes: text.length,
  };
}

const postTask = (client: HttpClient) => async () => {
  const r = await client.request('POST', '/tasks', TASK_BODY);
  if (r.status !== 201) throw new Error(`POST /tasks answered ${r.status}: ${r.body.slice(0, 300)}`);
};

/**
 * One more pair under the CPU profiler: the share of the server's CPU in the measured loop that
 * is the metrics' own code (prom-client, src/monitor/metrics.ts, the GC observer in perf_hooks).
 * Direct attribution, immune to the other load that moves the rates by more than 5 %.
 */
async function profiledMetricsPair(redis: Redis) {
  const out: Record<string, unknown> = {};
  for (const arm of ['on', 'off'] as const) {
    const s = await startMetricsServer(redis, arm, 'prof', true);
    try {
      const res = await measured(`metrics_${arm}_profiled`, `jarvis server, metrics ${arm}, under --cpu-prof`, postTask(s.client), {
        redis,
        serverPid: s.jarvis.pid,
        tag: '(d)',
        requests: S.metricsRequests,
      });
      await s.stop(); // --cpu-prof writes on exit
      const files = readdirSync(s.profDir).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(s.profDir, f));
      const main = files.sort((x, y) => statSync(y).size - statSync(x).size)[0];
      if (!main || !res.window_us) throw new Error('(d) the profiled server wrote no profile');
      const p = summarizeProfile(main, { fromUs: res.window_us[0], toUs: res.window_us[1] }, 10_000);
      // Kept with --profile only (as (a) does); otherwise summarised and removed with the temp dir.
      let keep: string | null = null;
      if (S.profile) {
        mkdirSync(RESULTS_DIR, { recursive: true });
        keep = join(RESULTS_DIR, `profile-metrics_${arm}-${RUN_ID}.cpuprofile`);
        writeFileSync(keep, readFileSync(main));
      }
      const isMetrics = (name: string) => name === 'prom-client' || name === 'jarvis src/monitor/metrics.ts' || name === 'node:perf_hooks';
      const metricsMs = p.by_package_inclusive.filter((r) => isMetrics(r.name)).reduce((a, r) => a + r.ms, 0);
      out[arm] = {
        per_second: res.per_second,
        profile_file: keep,
        busy_ms: p.busy_ms,
        busy_ms_per_request: round(p.busy_ms / S.metricsRequests, 4),
        metrics_code_ms: metricsMs,
        metrics_code_ms_per_request: round(metricsMs / S.metricsRequests, 4),
        metrics_code_pct_of_busy: round((metricsMs / p.busy_ms) * 100, 2),
        metrics_packages: p.by_package_inclusive.filter((r) => isMetrics(r.name)),
        top_metrics_functions: p.top_functions_self.filter((r) => /prom-client|monitor\/metrics|perf_hooks/.test(r.name)).slice(0, 8),
        garbage_collector_pct_of_busy: p.by_package_self.find((r) => r.name === '(garbage collector)')?.pct_of_busy ?? null,
        other_cpu_pct: res.cpu?.other_processes_pct_of_all_cores ?? null,
      };
    } finally {
      await s.stop();
    }
  }
  return out as Record<'on' | 'off', { metrics_code_pct_of_busy: number; metrics_code_ms_per_request: number; busy_ms_per_request: number; per_second: number }>;
}

async function metricsCostPhase(redis: Redis) {
  const started = new Date().toISOString();
  const servers = { on: await startMetricsServer(redis, 'on', 'r', false), off: await startMetricsServer(redis, 'off', 'r', false) };
  const rows: Array<ThroughputResult & { arm: string; pair: number; order: number }> = [];
  let checks: Record<string, unknown> = {};
  try {
    for (let p = 0; p < S.metricsPairs; p++) {
      const order: Array<'on' | 'off'> = p % 2 === 0 ? ['on', 'off'] : ['off', 'on'];
      for (const [k, arm] of order.entries()) {
        const s = servers[arm];
        // measured() runs a warm-up loop before each measured one.
        const r = await measured(`metrics_${arm}_pair${p + 1}`, `jarvis server, metrics ${arm}, pair ${p + 1}`, postTask(s.client), {
          redis,
          serverPid: s.jarvis.pid,
          tag: '(d)',
          requests: S.metricsRequests,
        });
        rows.push({ ...r, arm, pair: p + 1, order: k + 1 });
      }
    }
    const expected = S.metricsPairs * (S.warmup + S.metricsRequests);
    checks = { on: await checkMetricsArm(servers.on, expected), off: await checkMetricsArm(servers.off, expected) };
  } finally {
    await servers.on.stop();
    await servers.off.stop();
  }
  log('(d) one more pair under the CPU profiler, to attribute the metrics\' own CPU…');
  const profiled = await profiledMetricsPair(redis);

  const pairs = Array.from({ length: S.metricsPairs }, (_, p) => {
    const on = rows.find((r) => r.pair === p + 1 && r.arm === 'on')!;
    const off = rows.find((r) => r.pair === p + 1 && r.arm === 'off')!;
    const cpuOn = on.jarvis_cpu_ms_per_request ?? NaN;
    const cpuOff = off.jarvis_cpu_ms_per_request ?? NaN;
    return {
      pair: p + 1,
      order: p % 2 === 0 ? 'on, off' : 'off, on',
      on_per_second: on.per_second,
      off_per_second: off.per_second,
      rate_cost_pct: round((1 - on.per_second / off.per_second) * 100, 1),
      on_jarvis_cpu_ms_per_request: cpuOn,
      off_jarvis_cpu_ms_per_request: cpuOff,
      cpu_cost_pct: round((cpuOn / cpuOff - 1) * 100, 1),
      other_cpu_pct: [on.cpu?.other_processes_pct_of_all_cores ?? null, off.cpu?.other_processes_pct_of_all_cores ?? null],
    };
  });
  const median = (xs: number[]) => {
    const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
    return v.length ? (v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2) : NaN;
  };
  const sumOn = rows.filter((r) => r.arm === 'on').reduce((a, r) => a + r.per_second, 0);
  const sumOff = rows.filter((r) => r.arm === 'off').reduce((a, r) => a + r.per_second, 0);
  const medianRateCost = round(median(pairs.map((p) => p.rate_cost_pct)), 1);
  const quiet = pairs.filter((p) => p.other_cpu_pct.every((x) => x !== null && x <= 15));
  return {
    method:
      'Two `jarvis server` processes side by side, metrics on and off (JARVIS_METRICS_ENABLED=false), each with its own fresh PostgreSQL database and Redis ' +
      'prefix, no worker, pending queue paused (only the API works), reconciler interval 1 h (see config_note). ' +
      `${S.metricsPairs} pairs of closed loops like (a): ${S.warmup} warm-up then ${S.metricsRequests} POST /tasks, ${S.concurrency} in flight, against one server ` +
      'then the other, the order alternating (on/off, off/on, …) so drift on this shared machine hits both; both servers hold the same number of tasks ' +
      'at the same point. Off: no prom-client registry, no default process metrics (event-loop delay and GC observers), no-op counters and histograms. ' +
      'Nothing scrapes /metrics during the loops (a Prometheus scrape every 15 s would land in few of these 1-3 s loops); scrape_ms is 3 scrapes afterwards. ' +
      'rate_cost = 1 - on/off; cpu_cost = the server\'s CPU ms per request, on/off - 1. Then one more pair of fresh servers under --cpu-prof: the CPU ' +
      'of the metrics\' own code in the measured loop (prom-client, src/monitor/metrics.ts, node:perf_hooks; inclusive), a figure other load does not move.',
    config_note: 'JARVIS_RECONCILE_SECONDS=3600 in both arms: the default 5 s pass over every queued task is unrelated to metrics and would add noise',
    started_at: started,
    finished_at: new Date().toISOString(),
    results: rows,
    check: checks,
    pairs,
    profiled,
    summary: {
      median_rate_cost_pct: medianRateCost,
      mean_on_per_second: round(sumOn / S.metricsPairs, 1),
      mean_off_per_second: round(sumOff / S.metricsPairs, 1),
      rate_cost_of_means_pct: round((1 - sumOn / sumOff) * 100, 1),
      median_cpu_cost_pct: round(median(pairs.map((p) => p.cpu_cost_pct)), 1),
      quiet_pairs: quiet.length,
      /** Pairs where neither loop had more than 15% of the machine busy elsewhere. */
      median_rate_cost_quiet_pairs_pct: quiet.length ? round(median(quiet.map((p) => p.rate_cost_pct)), 1) : null,
      metrics_code_pct_of_server_cpu: profiled.on.metrics_code_pct_of_busy,
      target: '≤ 5 % (median over pairs of the submit-rate cost)',
      meets_target: medianRateCost <= 5,
      /**
       * Whether the rates can carry the verdict: at least half the pairs quiet. On a busy machine
       * the pair-to-pair spread is far wider than 5 %; the profiled share is then the figure to use.
       */
      conclusive: quiet.length * 2 >= S.metricsPairs,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Output

function pad(s: string | number, n: number, right = false) {
  const t = String(s);
  return right ? t.padStart(n) : t.padEnd(n);
}

function printTables(
  a: Record<string, unknown> | null,
  b: Awaited<ReturnType<typeof latencyPhase>> | null,
  c: Awaited<ReturnType<typeof workflowPhase>> | null,
  d: Awaited<ReturnType<typeof metricsCostPhase>> | null,
  e: Awaited<ReturnType<typeof scalePhase>> | null,
) {
  const lines: string[] = [''];
  if (a) {
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
  }
  if (b) {
    lines.push(`(b) submit→succeeded, ${b.count} sequential runs of \`${IMAGE} true\` after ${b.warmup} warm-up (ms)`);
    lines.push(`    ${pad('variant', 50)}${pad('p50', 9, true)}${pad('p90', 9, true)}${pad('mean', 9, true)}`);
    const row = (name: string, s: Summary | null) => {
      if (s) lines.push(`    ${pad(name, 50)}${pad(s.p50, 9, true)}${pad(s.p90, 9, true)}${pad(s.mean, 9, true)}`);
    };
    row(`jarvis up: POST → seen succeeded (poll ${b.poll_ms} ms)`, b.jarvis_submit_to_succeeded_ms);
    row('jarvis up: POST → succeeded recorded (server clock)', b.jarvis_extra.submit_to_succeeded_recorded_ms);
    row('DockerExecutor.run alone (in process)', b.docker_executor_run_ms);
    row('dockerode create/start/wait/remove', b.dockerode_create_start_wait_remove_ms);
    row('docker run --rm --network none (CLI)', b.docker_run_cli_ms);
    lines.push(`    ratio jarvis p50 / docker run p50 = ${b.ratio.jarvis_p50_over_docker_run_p50} (target ≤ 1.15: ${b.ratio.meets_target ? 'met' : 'NOT met'})`);
    lines.push(
      `    DockerExecutor engine calls, p50 ms: ${Object.entries(b.docker_executor_engine_calls_ms)
        .map(([k, v]) => `${k} ${round(v.p50, 1)}${v.calls_per_run !== 1 ? ` (×${v.calls_per_run})` : ''}`)
        .join(', ')}`,
    );
    lines.push('    where jarvis time goes (p50 / mean ms):');
    for (const [k, s] of Object.entries(b.jarvis_breakdown_ms)) lines.push(`      ${pad(k, 48)}${pad(s.p50, 9, true)}${pad(s.mean, 9, true)}`);
    lines.push('');
  }
  if (c) {
    const dag = c.dag;
    const v = dag.validation_in_process;
    const h = dag.post_workflows_http;
    const pst = dag.persist_in_process;
    lines.push(`(c) workflows: a ${S.dagTasks}-task layered DAG (${round(dag.body_bytes / 1e6, 2)} MB body) (ms)`);
    lines.push(`    ${pad('step', 76)}${pad('p50', 9, true)}${pad('min', 9, true)}${pad('max', 9, true)}`);
    const row = (name: string, s: Summary | null | undefined) => {
      if (s) lines.push(`    ${pad(name, 76)}${pad(s.p50, 9, true)}${pad(s.min, 9, true)}${pad(s.max, 9, true)}`);
    };
    row('in process: JSON.parse of the body', v.ms.json_parse_ms);
    row('in process: zod WorkflowCreate.safeParse', v.ms.zod_parse_ms);
    row('in process: validateGraph', v.ms.validate_graph_ms);
    row('in process: validateGraph, graph with a cycle', v.ms.validate_graph_with_cycle_ms);
    row('in process: zod + validateGraph', v.zod_plus_validate_graph_ms);
    row('in process: build rows (workflowRows)', pst.ms.build_rows_ms);
    row(`in process: WorkflowStore.create, one transaction (Node CPU ${round(pst.store_node_cpu_ms.p50, 0)} ms)`, pst.ms.store_ms);
    row('in process: read back every task (tasksOf)', pst.ms.read_back_ms);
    row('in process: present + JSON.stringify the 201 body', pst.ms.present_and_stringify_ms);
    row(`HTTP: POST /workflows → 201, wall (${round(h.valid_201.response_bytes / 1e6, 1)} MB answer)`, h.valid_201.wall_ms);
    row('HTTP: POST /workflows → 201, server handler (its request log)', h.valid_201.server_handler_ms);
    row('HTTP: POST /workflows with a cycle → 422, wall', h.cycle_422.wall_ms);
    lines.push(
      `    first call in a fresh process: zod ${v.first_call_ms.zod_parse_ms} ms, validateGraph ${v.first_call_ms.validate_graph_ms} ms; ` +
        `validation < 1 s: ${dag.meets_target ? 'met' : 'NOT met'} (zod + validateGraph p50 ${v.zod_plus_validate_graph_ms.p50} ms)`,
    );
    const r = c.release;
    lines.push(`    release latency, last parent "succeeded" → child "scheduled" (ms; ${r.fan_rounds}× root → ${r.fan_width} → sink, ${S.simMs} ms each; chain of ${r.chain_length}):`);
    lines.push(`    ${pad('children', 40)}${pad('n', 7, true)}${pad('p50', 9, true)}${pad('p90', 9, true)}${pad('p99', 9, true)}${pad('max', 9, true)}`);
    const rrow = (name: string, g: typeof r.fan_out_children) => {
      if (g) lines.push(`    ${pad(name, 40)}${pad(g.n, 7, true)}${pad(g.release_ms.p50, 9, true)}${pad(g.release_ms.p90, 9, true)}${pad(g.release_ms.p99, 9, true)}${pad(g.release_ms.max, 9, true)}`);
    };
    rrow('fan-out/fan-in, all children', r.fan_out_fan_in_all_children);
    rrow('  fan-out (released together by root)', r.fan_out_children);
    rrow('  fan-in (sink, 1 per workflow)', r.fan_in_sink);
    rrow('chain (one child per release)', r.chain_children);
    const all = r.fan_out_fan_in_all_children;
    if (all) {
      lines.push('    where the fan-out/fan-in release time goes (p50 / p99 ms):');
      for (const [k, s] of Object.entries(all.breakdown_ms)) lines.push(`      ${pad(k, 48)}${pad(s.p50, 9, true)}${pad(s.p99, 9, true)}`);
    }
    const bursts = r.runs.filter((x) => x.burst).map((x) => `${x.burst!.placements_per_second}/s (${x.burst!.children} in ${x.burst!.drain_ms} ms)`);
    if (bursts.length) lines.push(`    fan-out placement rate (first child queued → last scheduled): ${bursts.join(', ')}`);
    const recorded = r.runs.filter((x) => x.burst).map((x) => `${x.burst!.successes_recorded_per_second}/s`);
    if (recorded.length) lines.push(`    middle tasks' successes recorded (each under the workflow row lock): ${recorded.join(', ')}`);
    const conns = r.runs.filter((x) => x.database_connections_during_fan_out).map((x) => x.database_connections_during_fan_out!);
    if (conns.length) {
      lines.push(
        `    server's PostgreSQL pool (10) during the fan-out burst, mean of 50 ms samples: ${conns
          .map((x) => `${x.mean_busy} busy, ${x.mean_waiting_for_workflow_row_lock} waiting for the workflow row, ${x.mean_waiting_for_node_row_lock} for the node row`)
          .join('; ')}`,
      );
    }
    lines.push(`    release p99 < 50 ms: ${r.meets_target ? 'met' : 'NOT met'}`);
    lines.push('');
  }
  if (d) {
    lines.push(`(d) metrics cost on POST /tasks: ${S.metricsPairs} pairs, ${S.metricsRequests} requests after ${S.warmup} warm-up, ${S.concurrency} in flight`);
    lines.push(
      `    ${pad('pair', 6)}${pad('order', 10)}${pad('on /s', 9, true)}${pad('off /s', 9, true)}${pad('rate cost', 11, true)}${pad('CPU ms/req on', 15, true)}${pad('off', 7, true)}${pad('CPU cost', 10, true)}${pad('other CPU on/off', 18, true)}`,
    );
    let noisy = false;
    for (const p of d.pairs) {
      const other = p.other_cpu_pct.map((x) => (x === null ? '-' : `${x}%${x > 15 ? '*' : ''}`)).join('/');
      noisy ||= p.other_cpu_pct.some((x) => x !== null && x > 15);
      lines.push(
        `    ${pad(p.pair, 6)}${pad(p.order, 10)}${pad(round(p.on_per_second, 0), 9, true)}${pad(round(p.off_per_second, 0), 9, true)}${pad(`${p.rate_cost_pct}%`, 11, true)}` +
          `${pad(p.on_jarvis_cpu_ms_per_request, 15, true)}${pad(p.off_jarvis_cpu_ms_per_request, 7, true)}${pad(`${p.cpu_cost_pct}%`, 10, true)}${pad(other, 18, true)}`,
      );
    }
    if (noisy) lines.push('    * more than 15% of the machine busy elsewhere during that loop; its pair is less trustworthy.');
    const sm = d.summary;
    lines.push(
      `    median rate cost ${sm.median_rate_cost_pct}% (means: on ${sm.mean_on_per_second}/s, off ${sm.mean_off_per_second}/s, ${sm.rate_cost_of_means_pct}%); ` +
        `median CPU cost ${sm.median_cpu_cost_pct}%; target ≤ 5%: ${sm.meets_target ? 'met' : 'NOT met'}` +
        (sm.conclusive ? '' : ' (inconclusive: fewer than half the pairs ran on a quiet machine)'),
    );
    lines.push(
      `    quiet pairs (≤ 15% other CPU in both loops): ${sm.quiet_pairs} of ${d.pairs.length}` +
        (sm.median_rate_cost_quiet_pairs_pct === null ? '' : `, median rate cost ${sm.median_rate_cost_quiet_pairs_pct}%`) +
        '; rate cost = 1 − on/off, CPU cost = jarvis CPU per request on/off − 1',
    );
    const pr = d.profiled;
    lines.push(
      `    under --cpu-prof: the metrics' own code (prom-client, monitor/metrics.ts, perf_hooks) is ${pr.on.metrics_code_pct_of_busy}% of the server's CPU ` +
        `(${pr.on.metrics_code_ms_per_request} ms per request; off: ${pr.off.metrics_code_pct_of_busy}%); server CPU per request on ${pr.on.busy_ms_per_request} ms, off ${pr.off.busy_ms_per_request} ms`,
    );
    lines.push('');
  }
  if (e) {
    const rates = S.scaleSteadyRates.join('/');
    lines.push(`(e) cluster-scale placement: ${S.scaleTasks} mixed tasks on simulated nodes (drain capped at ${S.scaleDrainSeconds} s); ms unless stated`);
    lines.push(
      `    ${pad('nodes', 7)}${pad('placed/s', 10, true)}${pad('placed', 16, true)}${pad(`s→p p99 @${rates}/s`, 22, true)}${pad('after backlog', 15, true)}` +
        `${pad('enq p99 empty', 14, true)}${pad('backlog', 9, true)}${pad('build/s', 9, true)}${pad('srv/wkr CPU', 13, true)}`,
    );
    const p99s = (xs: Array<{ submit_to_placed_ms: Summary }> | { skipped: string } | undefined) =>
      Array.isArray(xs) ? xs.map((x) => round(x.submit_to_placed_ms.p99, 0)).join(' / ') : '-';
    for (const r of e.runs) {
      if (r.error) {
        lines.push(`    ${pad(r.nodes, 7)}FAILED: ${r.error.split('\n')[0]}`);
        continue;
      }
      const dr = r.drain!;
      lines.push(
        `    ${pad(r.nodes, 7)}${pad(round(dr.placements_per_second, 0), 10, true)}${pad(`${dr.placed}/${dr.queued_at_resume}${dr.capped ? '*' : ''}`, 16, true)}` +
          `${pad(p99s(r.capacity_exists_empty_queue), 22, true)}${pad(p99s(r.capacity_exists_after_backlog), 15, true)}` +
          `${pad(r.enqueue!.empty_queue.latency_ms.p99, 14, true)}${pad(r.enqueue!.with_backlog.latency_ms.p99, 9, true)}${pad(round(r.backlog_build!.tasks_per_second, 0), 9, true)}` +
          `${pad(`${dr.cpu.server_pct_of_one_core ?? '-'}/${dr.cpu.worker_pct_of_one_core ?? '-'}%`, 13, true)}`,
      );
    }
    lines.push('    placed/s: over the drain (first → last first placement); s→p: submit→placed while capacity exists, empty queue, at each arrival rate;');
    lines.push('    after backlog: the same once the whole backlog is placed; enq: POST /tasks p99 on an empty queue / with the backlog queued;');
    lines.push('    srv/wkr CPU: server and worker processes during the drain, % of one core.');
    if (e.runs.some((r) => r.drain?.capped)) lines.push('    * the drain hit its time cap (or stalled): the rate is over what was placed by then.');
    for (const r of e.runs) {
      const again = r.at_end as { placed_and_queued_again?: number; tasks_placed_more_than_once?: number; node_statuses?: Record<string, number> } | undefined;
      if (again?.tasks_placed_more_than_once) {
        lines.push(
          `    ${r.nodes} nodes: ${again.tasks_placed_more_than_once} tasks placed more than once (their node or result deemed lost), ${again.placed_and_queued_again} queued again at the end; nodes ${JSON.stringify(again.node_statuses)}`,
        );
      }
    }
    lines.push(`    ≥ 3,300 placements/s and p99 submit→placed < 50 ms: ${e.meets_target ? 'met' : 'NOT met'}`);
    lines.push('');
  }
  process.stdout.write(lines.join('\n') + '\n');
}

// ---------------------------------------------------------------------------------------------
// Main

async function main() {
  const startedAt = new Date();
  log(`run ${RUN_ID}: checking services…`);
  let services;
  try {
    services = await checkServices();
  } catch (err) {
    if (err instanceof MissingServiceError) {
      process.stderr.write(`bench: cannot run, a service is missing:\n${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const redis = await connectRedis();
  onCleanup('close Redis', () => redis.disconnect());
  onCleanup(`delete Redis keys {${RUN_ID}*`, async () => {
    const n = await deleteKeysWithPrefix(redis, RUN_ID);
    log(`removed ${n} Redis keys of this run ({${RUN_ID}-*})`);
  });
  onCleanup('remove leftover bench containers', async () => {
    const docker = new Dockerode();
    const left = await docker.listContainers({ all: true, filters: { label: [`jarvis.bench=${RUN_ID}`] } });
    for (const c of left) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
  });

  const result: Record<string, unknown> = {
    benchmark: 'foundation',
    run_id: RUN_ID,
    started_at: startedAt.toISOString(),
    machine: { ...machineFacts(), ...services },
    services: { redis_url: REDIS_URL.replace(/\/\/[^@]*@/, '//***@'), note: 'Redis, PostgreSQL and Docker are shared with anything else running on this machine' },
    settings: {
      requests: S.requests,
      warmup: S.warmup,
      concurrency: S.concurrency,
      http_client: 'node:http keep-alive agent, one socket per in-flight request',
      task_body: JSON.parse(TASK_BODY),
      latency_count: S.latencyCount,
      latency_warmup: S.latencyWarmup,
      poll_ms: S.pollMs,
      jarvis_log_level: process.env.JARVIS_LOG_LEVEL ?? 'info (default)',
      sections: SECTIONS.filter(runs),
      dag_tasks: S.dagTasks,
      dag_width: S.dagWidth,
      dag_rounds: S.dagRounds,
      fan_width: S.fanWidth,
      fan_rounds: S.fanRounds,
      sim_ms: S.simMs,
      chain: S.chain,
      metrics_pairs: S.metricsPairs,
      metrics_requests: S.metricsRequests,
      scale_tasks: S.scaleTasks,
      scale_nodes: S.scaleNodes,
      scale_drain_seconds: S.scaleDrainSeconds,
      scale_probe: S.scaleProbe,
      scale_steady_rates: S.scaleSteadyRates,
      scale_steady_seconds: S.scaleSteadySeconds,
      scale_aging_seconds: S.scaleAgingSeconds,
    },
    /** 1/5/15-minute load averages when each section started and at the end (this machine is shared). */
    loadavg: {} as Record<string, number[]>,
  };
  const loadavg = result.loadavg as Record<string, number[]>;
  const noteLoad = (at: string) => (loadavg[at] = os.loadavg().map((x) => round(x, 2)));

  let a: Record<string, unknown> | null = null;
  if (runs('a')) {
    noteLoad('a_start');
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
    a = {
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
    result.a_submit_throughput = a;
  }

  let b: Awaited<ReturnType<typeof latencyPhase>> | null = null;
  if (runs('b')) {
    noteLoad('b_start');
    b = await latencyPhase(redis, { cli: true });
    result.b_submit_to_succeeded = b;
  }

  let c: Awaited<ReturnType<typeof workflowPhase>> | null = null;
  if (runs('c')) {
    noteLoad('c_start');
    c = await workflowPhase(redis);
    result.c_workflows = c;
  }

  let d: Awaited<ReturnType<typeof metricsCostPhase>> | null = null;
  if (runs('d')) {
    noteLoad('d_start');
    d = await metricsCostPhase(redis);
    result.d_metrics_cost = d;
  }

  let e: Awaited<ReturnType<typeof scalePhase>> | null = null;
  if (runs('e')) {
    noteLoad('e_start');
    e = await scalePhase(redis, {
      runId: RUN_ID,
      tasks: S.scaleTasks,
      nodeCounts: S.scaleNodes,
      drainSeconds: S.scaleDrainSeconds,
      probe: S.scaleProbe,
      steadyRates: S.scaleSteadyRates,
      steadySeconds: S.scaleSteadySeconds,
      agingSeconds: S.scaleAgingSeconds,
      log,
      onCleanup,
      freshDatabase,
    });
    result.e_cluster_scale = e;
  }
  noteLoad('end');

  await cleanup();
  const finishedAt = new Date();
  result.finished_at = finishedAt.toISOString();
  result.duration_s = round((finishedAt.getTime() - startedAt.getTime()) / 1000, 1);

  mkdirSync(RESULTS_DIR, { recursive: true });
  const stamp = startedAt.toISOString().replace(/\.\d+Z$/, 'Z').replaceAll(':', '-');
  const file = join(RESULTS_DIR, `foundation-${stamp}.json`);
  const text = JSON.stringify(result, null, 2) + '\n';
  writeFileSync(file, text);
  writeFileSync(join(RESULTS_DIR, 'foundation-latest.json'), text);
  printTables(a, b, c, d, e);
  process.stdout.write(`results: ${file} (and bench/results/foundation-latest.json), ${result.duration_s} s\n`);
}

main().then(
  () => process.exit(0),
  async (err) => {
    // After a signal the clean-up itself makes the running phase fail; that is not news.
    if (!interrupted) process.stderr.write(`bench: FAILED: ${(err as Error).stack ?? err}\n`);
    await cleanup();
    process.exit(interrupted ? 130 : 1);
  },
);

