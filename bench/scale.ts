// (e) Cluster-scale placement: how fast one `jarvis server` places a large mixed backlog on many
// simulated nodes, how long a task waits to be placed while capacity exists, and what a large
// backlog does to POST /tasks latency. The issue's aim: ≥ 3,300 placements/s (the rate of
// Nomad's million-container run) and p99 submit→placed < 50 ms while capacity exists.
//
// Per node count, on a fresh database and Redis prefix, Jarvis is driven only through its
// processes and its HTTP API (`jarvis server`, one `jarvis worker --executor simulated --nodes N`);
// timestamps (created_at, scheduled_at, both stamped by the server) are read from the server's
// database afterwards. Steps:
//   1. server, then the worker with N nodes sized so that the whole workload fits with ~20 % to
//      spare; wait until every node has registered (time reported);
//   2. capacity exists, empty queue: single POST /tasks at each of a few fixed open-loop rates
//      for `steadySeconds` each; submit→placed = scheduled_at − created_at;
//   3. every node drained (POST /nodes/{id}/drain): nothing can be placed from here on;
//   4. enqueue latency, empty queue: `probe` single POST /tasks, 4 in flight;
//   5. the backlog: `tasks` mixed-priority, mixed-size tasks by POST /tasks/batch (1,000 each,
//      4 in flight); build rate reported;
//   6. enqueue latency again, with the backlog queued (same probe);
//   7. every node resumed (POST /nodes/{id}/resume) and the drain timed until nothing is queued,
//      or the time cap (reported, never thrown): placements/s, a per-second series, priority order;
//   8. if the backlog drained: capacity exists again (step 2 on the now well-filled cluster).
// Simulated tasks "run" for an hour, so nothing finishes (and frees room) during the measurement.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Redis } from 'ioredis';
import pg from 'pg';
import { prng, SIM_DURATION_LABEL } from './support/dag.ts';
import { ROOT, startJarvis, type JarvisProcess } from './support/jarvis.ts';
import { closedLoop, HttpClient, loopFigures, openLoop, type LoopResult } from './support/load.ts';
import { cpuSnapshot, cpuWithWorker, deleteKeysWithPrefix, IMAGE, processCpuMs } from './support/services.ts';
import { round, sleep, summarize, type Summary } from './support/stats.ts';

export interface ScaleOptions {
  runId: string;
  /** Backlog size. */
  tasks: number;
  nodeCounts: number[];
  /** Cap on the timed drain (s); what was placed by then is what the rate is measured over. */
  drainSeconds: number;
  /** Single POST /tasks per enqueue-latency probe. */
  probe: number;
  /** Capacity-exists probes: arrival rates (per s), each for this many seconds. */
  steadyRates: number[];
  steadySeconds: number;
  /** scheduler.aging_seconds of the server (longer than the run: strict priority order). */
  agingSeconds: number;
  log(msg: string): void;
  onCleanup(what: string, fn: () => unknown): () => Promise<void>;
  freshDatabase(tag: string): Promise<{ db: { name: string; url: string; drop(): Promise<void> }; tmp: string }>;
}

const SET_LABEL = 'jarvis.bench/set';
const SIM_RUN_MS = 3_600_000;
const BATCH = 1000; // the API's limit for POST /tasks/batch
const BATCH_CONCURRENCY = 4;
const PROBE_CONCURRENCY = 4;
const NODE_CALL_CONCURRENCY = 16;
const PRIORITIES = ['critical', 'high', 'normal', 'low'] as const;
type Priority = (typeof PRIORITIES)[number];
const PRIORITY_MIX: Array<[Priority, number]> = [
  ['critical', 0.1],
  ['high', 0.2],
  ['normal', 0.5],
  ['low', 0.2],
];
const CPU_CHOICES = [0.25, 0.5, 1, 2, 4];
const MEMORY_CHOICES = [128, 256, 512, 1024, 4096];
const TARGET_RATE = 3300;
const TARGET_P99_MS = 50;

interface TaskBody {
  image: string;
  command: string[];
  priority: Priority;
  resources: { cpu: number; memory_mb: number };
  labels: Record<string, string>;
}

function body(set: string, priority: Priority, cpu: number, memoryMb: number): TaskBody {
  return { image: IMAGE, command: ['true'], priority, resources: { cpu, memory_mb: memoryMb }, labels: { [SIM_DURATION_LABEL]: String(SIM_RUN_MS), [SET_LABEL]: set } };
}

/** `n` tasks of independently drawn priority (10/20/50/20 %), CPU and memory (seeded: every run the same). */
function mixedTasks(n: number, seed: number, set: string, priority?: Priority): TaskBody[] {
  const rnd = prng(seed);
  const pick = <T>(xs: T[]) => xs[Math.floor(rnd() * xs.length)];
  const out: TaskBody[] = [];
  for (let i = 0; i < n; i++) {
    let p = priority;
    if (!p) {
      const r = rnd();
      let acc = 0;
      p = 'low';
      for (const [name, share] of PRIORITY_MIX) if (r < (acc += share)) {
        p = name;
        break;
      }
    }
    out.push(body(set, p, pick(CPU_CHOICES), pick(MEMORY_CHOICES)));
  }
  return out;
}

const PROBE_BODY = (set: string) => body(set, 'normal', 0.25, 128);

// ---------------------------------------------------------------------------------------------
// What the processes complain about: warnings, errors and stray stderr lines, counted by message
// while they stream (the kept output is capped, and a run this long logs every request).

interface LogProblems {
  warnings: number;
  errors: number;
  other_lines: number;
  by_message: Array<{ level: string; msg: string; count: number; example: string }>;
  other_examples: string[];
}

function watchProblems(p: JarvisProcess): () => LogProblems {
  const byMsg = new Map<string, { level: string; msg: string; count: number; example: string }>();
  let warnings = 0;
  let errors = 0;
  let other = 0;
  const otherExamples: string[] = [];
  const line = (raw: string) => {
    if (!raw.trim()) return;
    if (raw.startsWith('{')) {
      // Cheap test first: only warnings (40) and worse are parsed.
      const m = /"level":(\d+)/.exec(raw);
      if (!m || Number(m[1]) < 40) return;
      let j: Record<string, unknown>;
      try {
        j = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        return;
      }
      const level = Number(j.level) >= 50 ? 'error' : 'warn';
      if (level === 'error') errors++;
      else warnings++;
      // Counted by the message with names, ids and numbers taken out ("node NODE is unhealthy: …").
      const plain = (x: unknown) =>
        String(x ?? '')
          .replace(/\bnode-[\w.-]+/g, 'NODE')
          .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, 'ID')
          .replace(/\d+/g, 'N');
      const errMsg = (j.err as { message?: string } | undefined)?.message;
      const msg = plain(j.msg) + (errMsg ? ` — ${plain(errMsg).slice(0, 120)}` : '');
      const key = `${level} ${msg}`;
      const e = byMsg.get(key) ?? { level, msg, count: 0, example: raw.slice(0, 600) };
      e.count++;
      byMsg.set(key, e);
    } else {
      other++;
      if (otherExamples.length < 5) otherExamples.push(raw.slice(0, 300));
    }
  };
  for (const raw of p.output().split('\n').slice(0, -1)) line(raw);
  const follow = (s: Readable | null) => {
    let buf = '';
    s?.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const l of lines) line(l);
    });
  };
  follow(p.child.stdout);
  follow(p.child.stderr);
  return () => ({
    warnings,
    errors,
    other_lines: other,
    by_message: [...byMsg.values()].sort((a, b) => b.count - a.count).slice(0, 8),
    other_examples: otherExamples,
  });
}

// ---------------------------------------------------------------------------------------------
// Reading the server's database (timestamps only)

interface Row {
  set: string;
  priority: Priority;
  status: string;
  attempts: number;
  created: number;
  /** The task's FIRST placement (its first "scheduled" event); null if never placed. */
  scheduled: number | null;
  /** How many times it was placed (more than once when a node lost it). */
  placements: number;
}

/**
 * Tasks of the given sets with their first placement time. A task whose node is lost is placed
 * again and its scheduled_at moves on, so the first placement comes from its history
 * (task_events, what GET /tasks/{id}/events shows); if that cannot be read, from scheduled_at.
 */
async function rowsOf(dbc: pg.Client, sets: string[]): Promise<{ rows: Row[]; from: string }> {
  const base = `labels->>'${SET_LABEL}' as set, priority, status, attempts, (extract(epoch from created_at) * 1000)::float8 as created`;
  try {
    const { rows } = await dbc.query<Row>(
      `select ${base},
              (select (extract(epoch from min(e.at)) * 1000)::float8 from task_events e where e.task_id = t.id and e.status = 'scheduled') as scheduled,
              (select count(*)::int from task_events e where e.task_id = t.id and e.status = 'scheduled') as placements
         from tasks t where labels->>'${SET_LABEL}' = any($1)`,
      [sets],
    );
    return { rows, from: 'task_events: first "scheduled" event of each task' };
  } catch (err) {
    const { rows } = await dbc.query<Row>(
      `select ${base}, (extract(epoch from scheduled_at) * 1000)::float8 as scheduled, (case when scheduled_at is null then 0 else 1 end) as placements
         from tasks where labels->>'${SET_LABEL}' = any($1)`,
      [sets],
    );
    return { rows, from: `tasks.scheduled_at (the last placement; task_events could not be read: ${(err as Error).message})` };
  }
}

interface Counts {
  queued: number;
  /** Queued and never placed (attempts 0); a task placed, lost with its node and queued again is not counted. */
  never_placed: number;
  failed: number;
}

async function statusCounts(dbc: pg.Client): Promise<Counts> {
  const { rows } = await dbc.query<Counts>(
    `select count(*) filter (where status = 'queued')::int as queued,
            count(*) filter (where status = 'queued' and attempts = 0)::int as never_placed,
            count(*) filter (where status = 'failed')::int as failed
       from tasks where status in ('queued', 'failed')`,
  );
  return rows[0];
}

/** Polls until every task has been placed at least once, or `ms` passed, or none was placed for `stallMs`. */
async function waitUntilPlaced(dbc: pg.Client, ms: number, stallMs: number, everyMs: number, progress?: (c: Counts, elapsedMs: number) => void) {
  const t0 = Date.now();
  let last = -1;
  let lastMove = t0;
  let lastLog = t0;
  for (;;) {
    const c = await statusCounts(dbc);
    const now = Date.now();
    if (c.never_placed !== last) {
      last = c.never_placed;
      lastMove = now;
    }
    if (progress && now - lastLog >= 15_000) {
      progress(c, now - t0);
      lastLog = now;
    }
    const end = { ...c, at: now };
    if (c.never_placed === 0) return { outcome: 'all placed' as const, ...end };
    if (now - t0 >= ms) return { outcome: 'time cap reached' as const, ...end };
    if (now - lastMove >= stallMs) return { outcome: `stalled: nothing placed for ${stallMs / 1000} s` as const, ...end };
    await sleep(everyMs);
  }
}

/** How many nodes are in each status (GET /nodes). */
async function nodeStatuses(url: string): Promise<Record<string, number>> {
  const listed = await withClient(url, 1, (c) => c.json<{ items: Array<{ status: string }> }>('GET', '/nodes', undefined, 200));
  const out: Record<string, number> = {};
  for (const n of listed.items) out[n.status] = (out[n.status] ?? 0) + 1;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Steps

function loopFacts(r: LoopResult) {
  const { requests, ...rest } = loopFigures(r);
  return { requests, in_flight: r.concurrency, ...rest };
}

/** After `maxErrors` failures the remaining operations fail at once, so a server that stopped answering cannot hold a loop for (count × timeout). */
function failFast(op: (i: number) => Promise<void>, maxErrors: number): (i: number) => Promise<void> {
  let errors = 0;
  return async (i) => {
    if (errors >= maxErrors) throw new Error(`not sent: ${maxErrors} earlier requests failed`);
    try {
      await op(i);
    } catch (err) {
      errors++;
      throw err;
    }
  };
}

/**
 * Every step gets its own keep-alive client, closed after it: a connection left idle between
 * steps (while this process is busy reading 100,000 rows, say) can be closed by the server
 * (5 s keep-alive) just as it is reused, and the reset would be this client's doing, not Jarvis's.
 */
async function withClient<T>(url: string, sockets: number, fn: (c: HttpClient) => Promise<T>): Promise<T> {
  const c = new HttpClient(url, sockets);
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

async function postTask(client: HttpClient, b: TaskBody): Promise<void> {
  const r = await client.request('POST', '/tasks', JSON.stringify(b));
  if (r.status !== 201) throw new Error(`POST /tasks answered ${r.status}: ${r.body.slice(0, 300)}`);
}

interface Ctx {
  url: string;
  dbc: pg.Client;
  serverPid: number;
  workerPid: number;
}

/** Capacity exists: tasks at a steady rate for `seconds`, submit→placed from the server's own timestamps. */
async function capacityProbe(ctx: Ctx, set: string, rate: number, seconds: number, seed: number) {
  const n = Math.max(1, Math.round(rate * seconds));
  const tasks = mixedTasks(n, seed, set, 'normal');
  const cpu0 = cpuSnapshot(ctx.serverPid);
  const w0 = { pid: ctx.workerPid, cpu0: processCpuMs(ctx.workerPid) };
  const r = await withClient(ctx.url, 256, (client) => openLoop(n, rate, failFast((i) => postTask(client, tasks[i]), 20)));
  const wait = await waitUntilPlaced(ctx.dbc, 120_000, 90_000, 250);
  const cpu = cpuDeltaOf(cpu0, ctx.serverPid, w0);
  const { rows } = await rowsOf(ctx.dbc, [set]);
  const placed = rows.filter((x) => x.scheduled !== null);
  return {
    what: `${n} single POST /tasks (normal priority, mixed sizes) at ${rate}/s open loop; submit→placed = scheduled_at − created_at of each (server clock)`,
    rate,
    submitted: n - r.errors,
    /** Tasks of this probe in the database: more than `submitted` when a request failed after the task was stored. */
    stored: rows.length,
    placed: placed.length,
    wait_outcome: wait.outcome,
    submit_to_placed_ms: summarize(placed.map((x) => (x.scheduled as number) - x.created)),
    post: { ...loopFacts(r), start_lag_ms: summarize(r.startLagMs) },
    cpu,
  };
}

/** The capacity probe at every rate, one after the other. */
async function capacityProbes(ctx: Ctx, o: ScaleOptions, tag: string, nodes: number, seed: number) {
  const out: CapacityProbe[] = [];
  for (const [i, rate] of o.steadyRates.entries()) {
    o.log(`(e) ${nodes} nodes: capacity exists (${tag}): ${Math.round(rate * o.steadySeconds)} tasks at ${rate}/s…`);
    const r = await capacityProbe(ctx, `${tag}-${rate}`, rate, o.steadySeconds, seed + i);
    o.log(`(e) ${nodes} nodes: at ${rate}/s submit→placed p50 ${r.submit_to_placed_ms.p50} ms, p99 ${r.submit_to_placed_ms.p99} ms (${r.placed}/${r.submitted} placed)`);
    out.push(r);
  }
  return out;
}

async function enqueueProbe(url: string, set: string, n: number, serverPid: number) {
  const client = new HttpClient(url, PROBE_CONCURRENCY);
  const b = JSON.stringify(PROBE_BODY(set));
  const cpu0 = cpuSnapshot(serverPid);
  const r = await closedLoop(
    n,
    PROBE_CONCURRENCY,
    failFast(async () => {
      const res = await client.request('POST', '/tasks', b);
      if (res.status !== 201) throw new Error(`POST /tasks answered ${res.status}: ${res.body.slice(0, 300)}`);
    }, 20),
  );
  client.close();
  return { ...loopFacts(r), cpu: cpuDeltaOf(cpu0, serverPid) };
}

function cpuDeltaOf(cpu0: ReturnType<typeof cpuSnapshot>, serverPid: number, worker?: { pid: number; cpu0: number | null }) {
  const c = cpuWithWorker(cpu0, cpuSnapshot(serverPid), worker ?? { pid: -1, cpu0: null });
  return {
    server_pct_of_one_core: c.jarvis_process_pct_of_one_core,
    worker_pct_of_one_core: worker ? c.worker_process_pct_of_one_core : null,
    postgres_pct_of_one_core: c.postgres_all_backends_pct_of_one_core,
    redis_pct_of_one_core: c.redis_server_pct_of_one_core,
    bench_pct_of_one_core: c.bench_process_pct_of_one_core,
    machine_busy_pct_of_all_cores: c.machine_busy_pct_of_all_cores,
    other_processes_pct_of_all_cores: c.other_processes_pct_of_all_cores,
  };
}

async function nodeCalls(url: string, ids: string[], action: 'drain' | 'resume') {
  const client = new HttpClient(url, NODE_CALL_CONCURRENCY);
  // Draining or resuming twice is harmless, so a request that failed without an answer (a
  // reset keep-alive connection, say) is sent again, up to 3 times; retries are reported.
  const retried: string[] = [];
  const op = async (i: number) => {
    for (let attempt = 1; ; attempt++) {
      let res;
      try {
        res = await client.request('POST', `/nodes/${ids[i]}/${action}`, undefined, 60_000);
      } catch (err) {
        if (attempt >= 3) throw err;
        retried.push((err as Error).message);
        await sleep(200);
        continue;
      }
      if (res.status !== 200) throw new Error(`POST /nodes/{id}/${action} answered ${res.status}: ${res.body.slice(0, 300)}`);
      return;
    }
  };
  const r = await closedLoop(ids.length, NODE_CALL_CONCURRENCY, failFast(op, 5));
  client.close();
  if (r.errors) throw new Error(`${action} of ${ids.length} nodes: ${r.errors} failed; first: ${r.firstError}`);
  return {
    nodes: ids.length,
    in_flight: NODE_CALL_CONCURRENCY,
    elapsed_ms: round(r.elapsedMs),
    latency_ms: summarize(r.latenciesMs),
    requests_sent_again: retried.length,
    why_sent_again: [...new Set(retried)].slice(0, 3),
  };
}

/** Placement order by priority: when each class was placed, and how often one went before a higher class was done. */
function priorityOrder(rows: Row[], t0: number) {
  const out: Record<string, unknown> = {};
  for (const [rank, p] of PRIORITIES.entries()) {
    const mine = rows.filter((r) => r.priority === p);
    const placed = mine.filter((r) => r.scheduled !== null).map((r) => (r.scheduled as number) - t0);
    const higher = rows.filter((r) => PRIORITIES.indexOf(r.priority) < rank);
    // Until every higher-priority task is placed, any placement of this class jumped ahead of one.
    const higherDone = higher.some((r) => r.scheduled === null) ? Infinity : higher.reduce((m, r) => Math.max(m, (r.scheduled as number) - t0), -Infinity);
    const ahead = rank === 0 ? 0 : placed.filter((s) => s < higherDone).length;
    const s = summarize(placed);
    out[p] = {
      tasks: mine.length,
      placed: placed.length,
      placed_share: mine.length ? round(placed.length / mine.length, 3) : null,
      placed_at_s_after_resume: { mean: round(s.mean / 1000, 2), p50: round(s.p50 / 1000, 2), max: round(s.max / 1000, 2) },
      placed_before_every_higher_priority_task_was: ahead,
    };
  }
  return out;
}

function perSecond(times: number[], from: number) {
  if (!times.length) return { buckets: 0, p50: null, min_full: null, max: null, seconds_with_none: 0, series: [] as number[] };
  const last = times.reduce((m, t) => Math.max(m, t), -Infinity); // (spreading 100,000 arguments can overflow the stack)
  const series = new Array<number>(Math.floor((last - from) / 1000) + 1).fill(0);
  for (const t of times) series[Math.floor((t - from) / 1000)]++;
  const full = series.length > 1 ? series.slice(0, -1) : series; // the last second is partial
  const s = summarize(full);
  return { buckets: series.length, p50: s.p50, min_full: s.min, max: s.max, seconds_with_none: series.filter((x) => x === 0).length, series };
}

// ---------------------------------------------------------------------------------------------
// One cluster size

type CapacityProbe = Awaited<ReturnType<typeof capacityProbe>>;
type CpuFacts = ReturnType<typeof cpuDeltaOf>;

/** The result for one node count (fields after an `error` are missing). */
export interface ScaleRun {
  nodes: number;
  error?: string;
  worker_start?: { process_start_to_all_registered_ms: number; [k: string]: unknown };
  capacity_exists_empty_queue?: CapacityProbe[];
  capacity_exists_after_backlog?: CapacityProbe[] | { skipped: string };
  backlog_build?: { tasks: number; elapsed_s: number; tasks_per_second: number; cpu: CpuFacts; [k: string]: unknown };
  enqueue?: { empty_queue: { latency_ms: Summary; [k: string]: unknown }; with_backlog: { latency_ms: Summary; [k: string]: unknown }; p99_backlog_over_empty: number; [k: string]: unknown };
  drain?: {
    queued_at_resume: number;
    outcome: string;
    capped: boolean;
    placed: number;
    first_to_last_placed_ms: number | null;
    placements_per_second: number;
    per_second: { p50: number | null; max: number | null };
    backlog_submit_to_placed_ms: Summary & { note: string };
    cpu: CpuFacts;
    [k: string]: unknown;
  };
  meets_target?: { placements_per_second: boolean; submit_to_placed_p99: boolean };
  [k: string]: unknown;
}

async function oneSize(redis: Redis, o: ScaleOptions, nodes: number): Promise<ScaleRun> {
  const prefix = `${o.runId}-e${nodes}n`;
  const started = new Date().toISOString();
  const { db, tmp } = await o.freshDatabase(`scale${nodes}`);
  const configFile = join(tmp, 'scale.yaml');
  writeFileSync(configFile, `scheduler:\n  aging_seconds: ${o.agingSeconds}\n`);

  // The workload, and nodes sized so all of it fits with ~20 % to spare.
  const backlog = mixedTasks(o.tasks, 1, 'backlog');
  const steadyCount = o.steadyRates.reduce((a, r) => a + Math.max(1, Math.round(r * o.steadySeconds)), 0);
  const all = [...backlog, ...mixedTasks(steadyCount * 2, 2, 'sizing', 'normal'), ...Array.from({ length: o.probe * 2 }, () => PROBE_BODY('sizing'))];
  const sum = (f: (t: TaskBody) => number) => all.reduce((a, t) => a + f(t), 0);
  const capacity = {
    cpu: Math.max(4, Math.ceil((sum((t) => t.resources.cpu) / nodes) * 1.2)),
    memory_mb: Math.max(4096, Math.ceil((sum((t) => t.resources.memory_mb) / nodes) * 1.2)),
    max_tasks: Math.ceil((all.length / nodes) * 1.2),
  };
  const mix = Object.fromEntries(PRIORITIES.map((p) => [p, backlog.filter((t) => t.priority === p).length]));

  const out: ScaleRun = { nodes, started_at: started, loadavg_at_start: loadavg().map((x) => round(x, 2)), node_capacity: capacity, backlog_priority_mix: mix };
  let server: JarvisProcess | null = null;
  let worker: JarvisProcess | null = null;
  let serverProblems: (() => LogProblems) | null = null;
  let workerProblems: (() => LogProblems) | null = null;
  const dbc = new pg.Client({ connectionString: db.url });
  const stopAll = async () => {
    if (worker) {
      // A process with a hundred thousand simulated runs has nothing to finish: kill it.
      worker.child.kill('SIGKILL');
      await worker.stop();
    }
    if (server) await server.stop();
    await dbc.end().catch(() => undefined);
  };
  const stop = o.onCleanup(`stop (e) ${nodes}-node processes`, stopAll);
  try {
    o.log(`(e) ${nodes} nodes: starting \`jarvis server\`…`);
    server = await startJarvis({ command: 'server', prefix, databaseUrl: db.url, dataDir: join(tmp, 'pglite'), env: { JARVIS_CONFIG: configFile } });
    serverProblems = watchProblems(server);
    await dbc.connect();
    const url = server.url;

    // 1. The worker with every node registered.
    const workerArgs = ['--executor', 'simulated', '--nodes', String(nodes), '--cpu', String(capacity.cpu), '--memory-mb', String(capacity.memory_mb), '--max-tasks', String(capacity.max_tasks)];
    o.log(`(e) ${nodes} nodes: starting \`jarvis worker ${workerArgs.join(' ')}\`…`);
    const w0 = performance.now();
    worker = await startJarvis({ command: 'worker', prefix, databaseUrl: null, dataDir: join(tmp, 'pglite-worker'), apiUrl: server.url, args: workerArgs });
    workerProblems = watchProblems(worker);
    const firstMs = performance.now() - w0;
    const allRegistered = nodes === 1 ? /"msg":"worker: registered"/ : /"msg":"worker: simulated nodes registered"/;
    const regDeadline = Date.now() + 300_000;
    while (!allRegistered.test(worker.output())) {
      if (worker.child.exitCode !== null || worker.child.signalCode !== null) {
        throw new Error(`the worker exited (${worker.child.exitCode ?? worker.child.signalCode}) before all ${nodes} nodes registered; its output ends:\n${worker.output().slice(-4000)}`);
      }
      if (Date.now() > regDeadline) {
        const n = worker.logLines((l) => l.msg === 'worker: registered').length;
        throw new Error(`only ${n} of ${nodes} nodes registered within 300 s; the worker's output ends:\n${worker.output().slice(-4000)}`);
      }
      await sleep(200);
    }
    const allMs = performance.now() - w0;
    const regTimes = worker.logLines((l) => l.msg === 'worker: registered').map((l) => Number(l.time));
    const listed = await withClient(url, 1, (c) => c.json<{ items: Array<{ id: string; status: string }> }>('GET', '/nodes', undefined, 200));
    const ids = listed.items.map((n) => n.id);
    if (ids.length !== nodes || listed.items.some((n) => n.status !== 'available')) {
      throw new Error(`GET /nodes lists ${ids.length} nodes (${listed.items.filter((n) => n.status !== 'available').length} not available), expected ${nodes} available`);
    }
    out.worker_start = {
      args: workerArgs.join(' '),
      process_start_to_first_registered_ms: round(firstMs),
      process_start_to_all_registered_ms: round(allMs),
      first_to_last_registration_ms: regTimes.length ? Math.max(...regTimes) - Math.min(...regTimes) : null,
      worker_rss_mb: rssMb(worker.pid),
    };
    o.log(`(e) ${nodes} nodes: all registered in ${round(allMs / 1000, 1)} s`);
    // Idle cost of the nodes (heartbeats, BullMQ's blocking reads and stall checks).
    const idle0 = cpuSnapshot(server.pid);
    const idleW = { pid: worker.pid, cpu0: processCpuMs(worker.pid) };
    await sleep(5_000);
    out.idle_cpu_5s = cpuDeltaOf(idle0, server.pid, idleW);

    // 2. Capacity exists, empty queue.
    const ctx: Ctx = { url, dbc, serverPid: server.pid, workerPid: worker.pid };
    const steadyA = await capacityProbes(ctx, o, 'steady-a', nodes, 10);
    out.capacity_exists_empty_queue = steadyA;

    // 3. Drain every node, 4. enqueue latency on an empty queue.
    out.drain_nodes = await nodeCalls(url, ids, 'drain');
    o.log(`(e) ${nodes} nodes: drained; enqueue latency, empty queue (${o.probe} POST /tasks, ${PROBE_CONCURRENCY} in flight)…`);
    const enqEmpty = await enqueueProbe(url, 'probe-empty', o.probe, server.pid);
    o.log(`(e) ${nodes} nodes: enqueue p50 ${enqEmpty.latency_ms.p50} ms, p99 ${enqEmpty.latency_ms.p99} ms`);

    // 5. The backlog.
    const batches = Math.ceil(backlog.length / BATCH);
    o.log(`(e) ${nodes} nodes: backlog of ${backlog.length} tasks in ${batches} POST /tasks/batch, ${BATCH_CONCURRENCY} in flight…`);
    const b0 = cpuSnapshot(server.pid);
    const bw0 = { pid: worker.pid, cpu0: processCpuMs(worker.pid) };
    const built = await withClient(url, BATCH_CONCURRENCY, (client) =>
      closedLoop(
        batches,
        BATCH_CONCURRENCY,
        failFast(async (i) => {
          const res = await client.request('POST', '/tasks/batch', JSON.stringify({ tasks: backlog.slice(i * BATCH, (i + 1) * BATCH) }), 180_000);
          if (res.status !== 201) throw new Error(`POST /tasks/batch answered ${res.status}: ${res.body.slice(0, 300)}`);
        }, 1),
      ),
    );
    const buildCpu = cpuDeltaOf(b0, server.pid, bw0);
    if (built.errors) throw new Error(`building the backlog: ${built.errors} of ${batches} batches failed; first: ${built.firstError}`);
    const counts = await statusCounts(dbc);
    out.backlog_build = {
      tasks: backlog.length,
      batch_size: BATCH,
      batches,
      in_flight: BATCH_CONCURRENCY,
      elapsed_s: round(built.elapsedMs / 1000, 2),
      tasks_per_second: round(backlog.length / (built.elapsedMs / 1000), 1),
      batch_latency_ms: summarize(built.latenciesMs),
      queued_after: counts.queued,
    never_placed_after: counts.never_placed,
      cpu: buildCpu,
      redis_used_memory_mb: await redisUsedMb(redis),
    };
    o.log(`(e) ${nodes} nodes: backlog built in ${round(built.elapsedMs / 1000, 1)} s (${round(backlog.length / (built.elapsedMs / 1000), 0)}/s); ${counts.queued} queued`);

    // 6. Enqueue latency with the backlog.
    const enqBacklog = await enqueueProbe(url, 'probe-backlog', o.probe, server.pid);
    out.enqueue = {
      what: `${o.probe} single POST /tasks (cpu 0.25, 128 MiB, normal), ${PROBE_CONCURRENCY} in flight, client-side latency; every node drained in both, so the dispatcher finds no room for any queued task in either`,
      empty_queue: enqEmpty,
      with_backlog: { ...enqBacklog, queued_before: counts.queued },
      p99_backlog_over_empty: round(enqBacklog.latency_ms.p99 / enqEmpty.latency_ms.p99, 2),
      p50_backlog_over_empty: round(enqBacklog.latency_ms.p50 / enqEmpty.latency_ms.p50, 2),
    };
    o.log(`(e) ${nodes} nodes: enqueue with backlog p50 ${enqBacklog.latency_ms.p50} ms, p99 ${enqBacklog.latency_ms.p99} ms`);

    // 7. Resume every node and time the drain.
    const atResume = await statusCounts(dbc);
    o.log(`(e) ${nodes} nodes: resuming every node; draining ${atResume.queued} queued tasks (cap ${o.drainSeconds} s)…`);
    const d0 = cpuSnapshot(server.pid);
    const dw0 = { pid: worker.pid, cpu0: processCpuMs(worker.pid) };
    const tResume = Date.now();
    const resumed = await nodeCalls(url, ids, 'resume');
    const left = o.drainSeconds * 1000 - (Date.now() - tResume);
    // No progress for 90 s is a stall (a waiting task's failsafe delay grows to at most 60 s).
    const drained = await waitUntilPlaced(dbc, Math.max(0, left), 90_000, 1_000, (c) =>
      o.log(
        `(e) ${nodes} nodes: ${atResume.never_placed - c.never_placed} placed, ${c.never_placed} never placed yet` +
          `${c.queued > c.never_placed ? `, ${c.queued - c.never_placed} placed and queued again` : ''}, ${round((Date.now() - tResume) / 1000, 0)} s after resume`,
      ),
    );
    const drainCpu = cpuDeltaOf(d0, server.pid, dw0);
    const nodesAfter = await nodeStatuses(url).catch((err: Error) => ({ error: err.message }));
    const { rows: drainRows, from: timesFrom } = await rowsOf(dbc, ['backlog', 'probe-empty', 'probe-backlog']);
    // Placements after the window closed (the cap) are left out of the rate.
    const placedRows = drainRows.filter((r) => r.scheduled !== null && r.scheduled <= drained.at);
    const times = placedRows.map((r) => r.scheduled as number).sort((a, b) => a - b);
    const first = times[0];
    const last = times[times.length - 1];
    const rate = times.length > 1 ? times.length / ((last - first) / 1000) : 0;
    const backlogPlaced = placedRows.filter((r) => r.set === 'backlog');
    out.drain = {
      queued_at_resume: atResume.queued,
      resume_every_node: resumed,
      outcome: drained.outcome,
      capped: drained.outcome !== 'all placed',
      cap_s: o.drainSeconds,
      timestamps_from: timesFrom,
      placed: placedRows.length,
      placed_before_resume: placedRows.filter((r) => (r.scheduled as number) < tResume).length,
      never_placed_at_end: drained.never_placed,
      queued_at_end: drained.queued,
      failed: drained.failed,
      /** Placed, then queued again (its node deemed lost, or its result lost): placed more than once by the time the rows were read. */
      placed_more_than_once: drainRows.filter((r) => r.placements > 1).length,
      placed_and_queued_again_at_end: drained.queued - drained.never_placed,
      node_statuses_at_end: nodesAfter,
      resume_to_first_placed_ms: times.length ? first - tResume : null,
      first_to_last_placed_ms: times.length ? last - first : null,
      placements_per_second: round(rate, 1),
      placements_per_second_from_resume: times.length ? round(times.length / ((last - tResume) / 1000), 1) : 0,
      per_second: perSecond(times, first),
      priority_order: priorityOrder(drainRows, tResume),
      backlog_submit_to_placed_ms: {
        note: 'the backlog tasks placed in this window only: mostly time spent queued behind the rest of the backlog (and, for the first ones, the build), NOT the aim\'s "while capacity exists" figure',
        ...summarize(backlogPlaced.map((r) => (r.scheduled as number) - r.created)),
      },
      cpu: drainCpu,
      worker_rss_mb: rssMb(worker.pid),
    };
    o.log(
      `(e) ${nodes} nodes: ${drained.outcome}: ${placedRows.length} placed in ${round((last - first) / 1000, 1)} s = ${round(rate, 1)}/s; ` +
        `${drained.queued - drained.never_placed} placed and queued again; nodes ${JSON.stringify(nodesAfter)}`,
    );

    // 8. Capacity exists again, on the filled cluster (only if everything was placed: otherwise the rest of the backlog is ahead of it).
    if (drained.outcome === 'all placed') {
      out.capacity_exists_after_backlog = await capacityProbes(ctx, o, 'steady-b', nodes, 20);
    } else {
      out.capacity_exists_after_backlog = { skipped: `the backlog did not drain (${drained.outcome}, ${drained.queued} still queued): new tasks would queue behind it` };
    }

    const after = out.capacity_exists_after_backlog;
    const p99s = [...steadyA, ...(Array.isArray(after) ? after : [])].map((x) => x.submit_to_placed_ms.p99);
    const final = await statusCounts(dbc);
    out.at_end = {
      what: 'just before stopping: tasks queued again after a placement (a node deemed lost or a result deemed lost), node statuses',
      queued: final.queued,
      placed_and_queued_again: final.queued - final.never_placed,
      tasks_placed_more_than_once: (await dbc.query<{ n: number }>(`select count(*)::int as n from tasks where attempts > 1`)).rows[0].n,
      node_statuses: await nodeStatuses(url).catch((err: Error) => ({ error: err.message })),
    };
    out.meets_target = {
      placements_per_second: rate >= TARGET_RATE,
      submit_to_placed_p99: p99s.length > 0 && p99s.every((x) => x < TARGET_P99_MS),
    };
  } catch (err) {
    out.error = (err as Error).message;
    o.log(`(e) ${nodes} nodes: FAILED: ${(err as Error).message.split('\n')[0]}`);
  } finally {
    out.log_problems = { server: serverProblems?.() ?? null, worker: workerProblems?.() ?? null };
    out.finished_at = new Date().toISOString();
    o.log(`(e) ${nodes} nodes: stopping, dropping the database and the Redis keys…`);
    await stop();
    await db.drop().catch((e: Error) => o.log(`(e) drop ${db.name}: ${e.message}`));
    out.redis_keys_removed = await deleteKeysWithPrefix(redis, prefix).catch(() => null);
  }
  return out;
}

function rssMb(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : null;
  } catch {
    return null;
  }
}

async function redisUsedMb(redis: Redis): Promise<number | null> {
  const m = /used_memory:(\d+)/.exec(await redis.info('memory').catch(() => ''));
  return m ? Math.round(Number(m[1]) / 1024 / 1024) : null;
}

// ---------------------------------------------------------------------------------------------

/** What code was measured: the commit, and the files under src/ that differ from it (someone may be editing them). */
function codeVersion() {
  const git = (...args: string[]) => {
    try {
      return execFileSync('git', args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    } catch {
      return null;
    }
  };
  const dirty = git('status', '--porcelain', '--', 'src', 'drizzle', 'config');
  return { commit: git('rev-parse', 'HEAD'), subject: git('log', '-1', '--format=%s'), uncommitted_src_files: dirty === null ? null : dirty.split('\n').filter(Boolean) };
}

export async function scalePhase(redis: Redis, o: ScaleOptions) {
  const started = new Date().toISOString();
  const code = codeVersion();
  const runs: ScaleRun[] = [];
  for (const n of o.nodeCounts) runs.push(await oneSize(redis, o, n));
  const ok = runs.filter((r) => !r.error && r.meets_target);
  return {
    method:
      'Per node count, a fresh database and Redis prefix; Jarvis driven only through its processes and HTTP API: `jarvis server` (PostgreSQL), then one ' +
      '`jarvis worker --executor simulated --nodes N` whose nodes together hold the whole workload with ~20 % to spare (per node: the summed CPU, ' +
      'memory and task count / N × 1.2), all registered before anything is submitted. (1) capacity exists, empty queue: single POST /tasks ' +
      'at each fixed open-loop rate for a few seconds (one rate after the other); submit→placed = scheduled_at − created_at, both stamped by the server (read from its database). (2) every node ' +
      'drained over the API (POST /nodes/{id}/drain), so nothing can be placed; enqueue latency = `probe` single POST /tasks with 4 in flight, ' +
      'client-side. (3) the backlog by POST /tasks/batch (1,000 each, 4 in flight). (4) the enqueue probe again with the backlog queued. ' +
      '(5) every node resumed (POST /nodes/{id}/resume, 16 in flight) and the drain watched (every second: queued tasks never placed, i.e. attempts 0) until every ' +
      'task has been placed at least once, the time cap, or 90 s without a first placement (a stall); placements/s = tasks placed / (last first-placement − first ' +
      'first-placement) over everything placed in that window (the backlog and both enqueue probes), where a task\'s first placement is its first ' +
      '"scheduled" event (task_events; scheduled_at moves on when a task is placed again after its node is deemed lost, which is counted separately); ' +
      'per-second counts of first placements; priority order per class; node statuses and tasks queued again after their placement, at the end of the ' +
      'drain and of the run. (6) only when the backlog ' +
      'drained: capacity exists again, as (1), on the filled cluster. Registering the nodes first and resuming them after the backlog keeps ' +
      'sequential node registration (one HTTP call each) out of the placement rate. Simulated runs last an hour: nothing ends and frees room during ' +
      'a run. Between node counts everything is stopped (the worker by SIGKILL), the database dropped and the prefix\'s Redis keys deleted.',
    workload:
      `backlog: ${o.tasks} tasks, priority drawn 10 % critical / 20 % high / 50 % normal / 20 % low, CPU from {${CPU_CHOICES.join(', ')}} and ` +
      `memory_mb from {${MEMORY_CHOICES.join(', ')}}, independently (seeded PRNG); capacity probes: normal priority, the same size mix; enqueue ` +
      `probes: cpu 0.25, 128 MiB, normal. Every task: image ${IMAGE}, command ["true"], label ${SIM_DURATION_LABEL}=${SIM_RUN_MS}.`,
    server_config: `scheduler.aging_seconds: ${o.agingSeconds} (through JARVIS_CONFIG; longer than a run, so the priority order is strict); everything else default (reconciler every 5 s, heartbeats every 5 s, info logging of every request)`,
    code,
    started_at: started,
    finished_at: new Date().toISOString(),
    settings: { tasks: o.tasks, node_counts: o.nodeCounts, drain_cap_s: o.drainSeconds, probe: o.probe, steady_rates: o.steadyRates, steady_seconds: o.steadySeconds, aging_seconds: o.agingSeconds },
    runs,
    target: `≥ ${TARGET_RATE} placements/s and p99 submit→placed < ${TARGET_P99_MS} ms while capacity exists`,
    meets_target:
      runs.length > 0 &&
      ok.length === runs.length &&
      ok.every((r) => r.meets_target!.placements_per_second && r.meets_target!.submit_to_placed_p99),
  };
}
