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
//
// Usage: npx tsx bench/run.ts [--requests 5000] [--warmup 500] [--concurrency 32]
//          [--latency-count 30] [--latency-warmup 3] [--poll-ms 10] [--only a|b] [--profile]
// Results: bench/results/foundation-<timestamp>.json and bench/results/foundation-latest.json.
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import Dockerode from 'dockerode';
import type { Redis } from 'ioredis';
import { summarizeProfile, type ProfileSummary } from './support/cpuprofile.ts';
import { groupCommit, oneStatement } from './support/whatif.ts';
import { startJarvis, type JarvisProcess } from './support/jarvis.ts';
import { closedLoop, HttpClient, type LoopResult } from './support/load.ts';
import {
  checkServices,
  commandStatsDelta,
  connectRedis,
  cpuDelta,
  cpuSnapshot,
  createDatabase,
  deleteKeysWithPrefix,
  IMAGE,
  machineFacts,
  MissingServiceError,
  pgCounters,
  redisCommandStats,
  REDIS_URL,
  type PgCounters,
} from './support/services.ts';
import { round, sleep, summarize, type Summary } from './support/stats.ts';

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
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (argv.help) {
  process.stdout.write(
    'npx tsx bench/run.ts [--requests N] [--warmup N] [--concurrency N] [--latency-count N] [--latency-warmup N] [--poll-ms N] [--only a|b] [--profile]\n',
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
  only: argv.only as 'a' | 'b' | undefined,
  profile: argv.profile ?? false,
};
if (S.only && S.only !== 'a' && S.only !== 'b') {
  process.stderr.write('bench: --only must be a or b\n');
  process.exit(2);
}

const ROOT = resolve(import.meta.dirname, '..');
const RESULTS_DIR = join(ROOT, 'bench/results');
const RUN_ID = `jb-${randomBytes(3).toString('hex')}`;
const TASK_BODY = JSON.stringify({ image: IMAGE, command: ['true'] });
const PRIORITY_NORMAL = 3; // PRIORITY_RANK.normal in src/scheduler/queues.ts, the priority POST /tasks gives by default
const FINAL = ['succeeded', 'failed', 'timed_out', 'cancelled', 'skipped'];

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
  return {
    label,
    what,
    requests: r.count,
    warmup: S.warmup,
    concurrency: r.concurrency,
    elapsed_s: round(r.elapsedMs / 1000, 3),
    per_second: round((r.count - r.errors) / (r.elapsedMs / 1000), 1),
    latency_ms: summarize(r.latenciesMs),
    errors: r.errors,
    first_error: r.firstError,
  };
}

function assertFewErrors(what: string, r: LoopResult) {
  if (r.errors > Math.max(1, r.count * 0.01)) throw new Error(`${what}: ${r.errors} of ${r.count} operations failed; first: ${r.firstError}`);
}

/** Runs warm-up then the measured loop, with CPU / PostgreSQL / Redis observers around the latter. */
async function measured(
  label: string,
  what: string,
  op: () => Promise<void>,
  obs: { redis: Redis; serverPid?: number; dbName?: string },
): Promise<ThroughputResult> {
  log(`(a) ${what}: ${S.warmup} warm-up, then ${S.requests} with ${S.concurrency} in flight…`);
  const warm = await closedLoop(S.warmup, S.concurrency, op);
  assertFewErrors(`${what} (warm-up)`, warm);
  const pg0: PgCounters | null = obs.dbName ? await pgCounters(obs.dbName) : null;
  const rs0 = await redisCommandStats(obs.redis);
  const cpu0 = cpuSnapshot(obs.serverPid ?? null);
  const fromUs = Number(process.hrtime.bigint() / 1000n);
  const r = await closedLoop(S.requests, S.concurrency, op);
  const toUs = Number(process.hrtime.bigint() / 1000n);
  const cpu1 = cpuSnapshot(obs.serverPid ?? null);
  const rs1 = await redisCommandStats(obs.redis);
  assertFewErrors(what, r);
  const out = throughputOf(label, what, r);
  out.window_us = [fromUs, toUs];
  out.cpu = cpuDelta(cpu0, cpu1);
  if (out.cpu.jarvis_cpu_ms !== null) out.jarvis_cpu_ms_per_request = round(out.cpu.jarvis_cpu_ms / S.requests, 3);
  const delta = commandStatsDelta(rs0, rs1);
  const total = delta.reduce((a, [, n]) => a + n, 0);
  out.redis_calls_per_request = {
    total: round(total / S.requests, 2),
    top: delta.slice(0, 6).map(([k, n]) => [k, round(n / S.requests, 2)]),
    note: 'INFO commandstats of the whole (shared) Redis server during the measured loop, per request; EVALSHA = one BullMQ script',
  };
  if (obs.dbName && pg0) {
    await sleep(1_100); // PostgreSQL flushes its statistics about once a second
    const pg1 = await pgCounters(obs.dbName);
    if (pg1) {
      out.postgres_per_request = Object.fromEntries(
        Object.entries(pg1).map(([k, v]) => [k, round((v - pg0[k as keyof PgCounters]) / S.requests, 2)]),
      );
    }
  }
  log(`(a) ${what}: ${out.per_second} /s, p50 ${out.latency_ms.p50} ms, p99 ${out.latency_ms.p99} ms`);
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
  const streamTimes = async (queue: string) => {
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
  };
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
// Output

function pad(s: string | number, n: number, right = false) {
  const t = String(s);
  return right ? t.padStart(n) : t.padEnd(n);
}

function printTables(a: Record<string, unknown> | null, b: Awaited<ReturnType<typeof latencyPhase>> | null) {
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
    },
  };

  let a: Record<string, unknown> | null = null;
  if (S.only !== 'b') {
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
  if (S.only !== 'a') {
    b = await latencyPhase(redis, { cli: true });
    result.b_submit_to_succeeded = b;
  }

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
  printTables(a, b);
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

