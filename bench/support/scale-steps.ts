// Section (e)'s steps: probes at a steady rate, enqueue probes, node calls, and the figures drawn from them.
import pg from 'pg';
import { closedLoop, HttpClient, loopFigures, openLoop, type LoopResult } from './load.ts';
import { cpuSnapshot, cpuWithWorker, processCpuMs } from './services.ts';
import { round, sleep, summarize } from './stats.ts';
import { mixedTasks, NODE_CALL_CONCURRENCY, PRIORITIES, PROBE_BODY, PROBE_CONCURRENCY, type ScaleOptions, type TaskBody } from './scale-workload.ts';
import { rowsOf, waitUntilPlaced, withClient, type Row } from './scale-db.ts';

export function loopFacts(r: LoopResult) {
  const { requests, ...rest } = loopFigures(r);
  return { requests, in_flight: r.concurrency, ...rest };
}

/** After `maxErrors` failures the remaining operations fail at once, so a server that stopped answering cannot hold a loop for (count × timeout). */
export function failFast(op: (i: number) => Promise<void>, maxErrors: number): (i: number) => Promise<void> {
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

export async function postTask(client: HttpClient, b: TaskBody): Promise<void> {
  const r = await client.request('POST', '/tasks', JSON.stringify(b));
  if (r.status !== 201) throw new Error(`POST /tasks answered ${r.status}: ${r.body.slice(0, 300)}`);
}

export interface Ctx {
  url: string;
  dbc: pg.Client;
  serverPid: number;
  workerPid: number;
}

/** Capacity exists: tasks at a steady rate for `seconds`, submit→placed from the server's own timestamps. */
export async function capacityProbe(ctx: Ctx, set: string, rate: number, seconds: number, seed: number) {
  const n = Math.max(1, Math.round(rate * seconds));
  const tasks = mixedTasks(n, seed, set, 'normal');
  const cpu0 = cpuSnapshot(ctx.serverPid);
  const w0 = { pid: ctx.workerPid, cpu0: processCpuMs(ctx.workerPid) };
  const backends = watchBackends(ctx.dbc);
  const r = await withClient(ctx.url, 256, (client) => openLoop(n, rate, failFast((i) => postTask(client, tasks[i]), 20)));
  const seen = await backends();
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
    /** What PostgreSQL was busy with while the tasks were sent (watchBackends: sampled every 100 ms). */
    autovacuum_seen_ms: seen.autovacuum,
    postgres_statements_seen_ms: seen.statements,
  };
}

/** The capacity probe at every rate, one after the other. */
export async function capacityProbes(ctx: Ctx, o: ScaleOptions, tag: string, nodes: number, seed: number) {
  const out: CapacityProbe[] = [];
  for (const [i, rate] of o.steadyRates.entries()) {
    o.log(`(e) ${nodes} nodes: capacity exists (${tag}): ${Math.round(rate * o.steadySeconds)} tasks at ${rate}/s…`);
    const r = await capacityProbe(ctx, `${tag}-${rate}`, rate, o.steadySeconds, seed + i);
    o.log(`(e) ${nodes} nodes: at ${rate}/s submit→placed p50 ${r.submit_to_placed_ms.p50} ms, p99 ${r.submit_to_placed_ms.p99} ms (${r.placed}/${r.submitted} placed)`);
    out.push(r);
  }
  return out;
}

/**
 * Watches this database's busy PostgreSQL backends while a probe runs (pg_stat_activity, every
 * 100 ms): for how long each autovacuum activity ("autovacuum: VACUUM ANALYZE public.tasks") and
 * each statement (its first 100 characters, by backend type and what it waited on, CPU for
 * nothing) was seen running. Autovacuum competes
 * with the probe's requests for the 2 cores; the statements show what else PostgreSQL was doing.
 */
function watchBackends(dbc: pg.Client): () => Promise<{ autovacuum: Record<string, number>; statements: Record<string, number> }> {
  const autovacuum = new Map<string, number>();
  const statements = new Map<string, number>();
  const every = 100;
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    dbc
      .query<{ kind: string; wait: string; query: string }>(
        `select backend_type as kind, coalesce(wait_event_type || ':' || wait_event, 'CPU') as wait, left(regexp_replace(query, '\\s+', ' ', 'g'), 100) as query from pg_stat_activity
         where state = 'active' and pid <> pg_backend_pid() and datname = current_database()`,
      )
      .then((r) => {
        for (const x of r.rows) {
          const into = x.kind === 'autovacuum worker' ? autovacuum : statements;
          const key = x.kind === 'autovacuum worker' ? x.query : `${x.kind}: ${x.wait} ${x.query}`;
          into.set(key, (into.get(key) ?? 0) + every);
        }
      })
      .catch(() => undefined)
      .finally(() => (busy = false));
  }, every);
  return async () => {
    clearInterval(timer);
    while (busy) await sleep(10);
    const top = [...statements].sort((a, b) => b[1] - a[1]).slice(0, 10);
    return { autovacuum: Object.fromEntries(autovacuum), statements: Object.fromEntries(top) };
  };
}

/** Checkpoints PostgreSQL has started (timed and requested). */
async function checkpointCount(dbc: pg.Client): Promise<number> {
  const r = await dbc.query<{ n: string }>(`select checkpoints_timed + checkpoints_req as n from pg_stat_bgwriter`);
  return Number(r.rows[0].n);
}

/** Waits until no autovacuum worker is busy on this database (at most maxMs); returns how long it waited. */
export async function autovacuumIdle(dbc: pg.Client, maxMs = 120_000): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < maxMs) {
    const r = await dbc.query<{ n: number }>(`select count(*)::int as n from pg_stat_activity where backend_type = 'autovacuum worker' and datname = current_database()`);
    if (r.rows[0].n === 0) break;
    await sleep(250);
  }
  return Date.now() - t0;
}

export async function enqueueProbe(url: string, set: string, n: number, serverPid: number, dbc?: pg.Client) {
  const client = new HttpClient(url, PROBE_CONCURRENCY);
  const b = JSON.stringify(PROBE_BODY(set));
  const backends = dbc ? watchBackends(dbc) : null;
  const checkpoints0 = dbc ? await checkpointCount(dbc) : null;
  const cpu0 = cpuSnapshot(serverPid);
  const fromUs = Number(process.hrtime.bigint() / 1000n); // the clock of CPU profiles' timestamps
  const r = await closedLoop(
    n,
    PROBE_CONCURRENCY,
    failFast(async () => {
      const res = await client.request('POST', '/tasks', b);
      if (res.status !== 201) throw new Error(`POST /tasks answered ${res.status}: ${res.body.slice(0, 300)}`);
    }, 20),
  );
  const window_us = [fromUs, Number(process.hrtime.bigint() / 1000n)];
  client.close();
  const cpu = cpuDeltaOf(cpu0, serverPid);
  // ms each autovacuum activity, and each statement (the 10 seen longest), was seen running
  // during the probe (sampled every 100 ms).
  const seen = backends ? await backends() : null;
  // PostgreSQL checkpoints that began during the probe (a big insert's WAL can start one).
  const checkpoints = dbc && checkpoints0 !== null ? (await checkpointCount(dbc)) - checkpoints0 : null;
  return { ...loopFacts(r), cpu, autovacuum_seen_ms: seen?.autovacuum ?? null, postgres_statements_seen_ms: seen?.statements ?? null, checkpoints_during_probe: checkpoints, window_us };
}

export function cpuDeltaOf(cpu0: ReturnType<typeof cpuSnapshot>, serverPid: number, worker?: { pid: number; cpu0: number | null }) {
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

export async function nodeCalls(url: string, ids: string[], action: 'drain' | 'resume') {
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
export function priorityOrder(rows: Row[], t0: number) {
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

export function perSecond(times: number[], from: number) {
  if (!times.length) return { buckets: 0, p50: null, min_full: null, max: null, seconds_with_none: 0, series: [] as number[] };
  const last = times.reduce((m, t) => Math.max(m, t), -Infinity); // (spreading 100,000 arguments can overflow the stack)
  const series = new Array<number>(Math.floor((last - from) / 1000) + 1).fill(0);
  for (const t of times) series[Math.floor((t - from) / 1000)]++;
  const full = series.length > 1 ? series.slice(0, -1) : series; // the last second is partial
  const s = summarize(full);
  return { buckets: series.length, p50: s.p50, min_full: s.min, max: s.max, seconds_with_none: series.filter((x) => x === 0).length, series };
}

export type CapacityProbe = Awaited<ReturnType<typeof capacityProbe>>;
export type CpuFacts = ReturnType<typeof cpuDeltaOf>;

/**
 * The server's event-loop delay while something runs: scrapes its /metrics every `everyMs`
 * (prom-client resets its delay histogram at each scrape, so each sample is that interval's).
 * A control plane whose loop stalls for seconds lets BullMQ job locks lapse (lockDuration 10 s,
 * renewed every 2.5–5 s from a timer on the same loop). A scrape is not free: with 1,000 nodes
 * it cost the server ~26 ms (prom-client ~2.6 % of its CPU at one a second, bench (e) profile),
 * so section (e) scrapes every 5 s.
 */
export function eventLoopSampler(url: string, everyMs: number) {
  const maxMs: number[] = [];
  const p99Ms: number[] = [];
  let failed = 0;
  let stopped = false;
  const pick = (text: string, name: string) => {
    const m = new RegExp(`^${name} ([0-9.e+-]+)$`, 'm').exec(text);
    return m ? Number(m[1]) * 1000 : null;
  };
  const loop = (async () => {
    while (!stopped) {
      await sleep(everyMs);
      try {
        const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(30_000) })).text();
        const max = pick(text, 'nodejs_eventloop_lag_max_seconds');
        const p99 = pick(text, 'nodejs_eventloop_lag_p99_seconds');
        if (max !== null) maxMs.push(max);
        if (p99 !== null) p99Ms.push(p99);
      } catch {
        failed++;
      }
    }
  })();
  return async () => {
    stopped = true;
    await loop;
    return {
      what: `the server's event-loop delay (prom-client's nodejs_eventloop_lag_*), one sample per ${everyMs} ms scrape of /metrics: the longest delay in each interval, summarized`,
      samples: maxMs.length,
      failed_scrapes: failed,
      interval_max_ms: summarize(maxMs),
      interval_p99_ms: summarize(p99Ms),
      over_2500_ms: maxMs.filter((x) => x > 2_500).length,
    };
  };
}

/**
 * Tasks the server's reconciler restored since it started (their jobs were lost: each waited
 * for a reconciler pass), from its /metrics (`jarvis_tasks_restored_total`).
 */
export async function restoredByReconciler(url: string): Promise<{ queued: number; placed: number }> {
  const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(30_000) })).text();
  const count = (kind: string) => Number(new RegExp(`^jarvis_tasks_restored_total\\{kind="${kind}"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { queued: count('queued'), placed: count('placed') };
}
