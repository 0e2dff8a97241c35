// (e) Cluster-scale placement: how fast one `jarvis server` places a large mixed backlog on many
// simulated nodes, how long a task waits to be placed while capacity exists, and what a large
// backlog does to POST /tasks latency. The aim (issue #17): ≥ 3,750 placements/s at 1,000 nodes (the
// rate of Nomad's million-container run, C1M) and p99 submit→placed < 50 ms while capacity exists.
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
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import pg from 'pg';
import { SIM_DURATION_LABEL } from '../support/dag.ts';
import { startJarvis, type JarvisProcess } from '../support/jarvis.ts';
import { closedLoop } from '../support/load.ts';
import { cpuSnapshot, deleteKeysWithPrefix, IMAGE, processCpuMs } from '../support/services.ts';
import { round, sleep, summarize, type Summary } from '../support/stats.ts';
import { S } from '../support/settings.ts';
import { pad } from '../support/table.ts';
import { BATCH, BATCH_CONCURRENCY, CPU_CHOICES, MEMORY_CHOICES, mixedTasks, PRIORITIES, PROBE_BODY, PROBE_CONCURRENCY, SIM_RUN_MS, TARGET_P99_MS, TARGET_RATE, type ScaleOptions, type TaskBody } from '../support/scale-workload.ts';
import { watchProblems, type LogProblems } from '../support/log-problems.ts';
import { nodeStatuses, placementGaps, rowsOf, statusCounts, stragglers, waitUntilPlaced, withClient } from '../support/scale-db.ts';
import { autovacuumIdle, capacityProbes, cpuDeltaOf, enqueueProbe, eventLoopSampler, failFast, nodeCalls, perSecond, priorityOrder, restoredByReconciler, type CapacityProbe, type CpuFacts, type Ctx } from '../support/scale-steps.ts';
import { codeVersion, redisUsedMb, rssMb } from '../support/process-facts.ts';

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
      // (Profiling: two SIGTERMs, the second of which exits at once, so node writes the profile.)
      if (process.env.JARVIS_BENCH_NODE_ARGS) {
        worker.child.kill('SIGTERM');
        await sleep(200);
        worker.child.kill('SIGTERM');
      } else worker.child.kill('SIGKILL');
      await worker.stop();
    }
    if (server) await server.stop();
    // JARVIS_BENCH_KEEP_OUTPUT=DIR keeps the processes' output (with JARVIS_BENCH_NODE_ARGS=--trace-gc, say).
    const keep = process.env.JARVIS_BENCH_KEEP_OUTPUT;
    if (keep && server) writeFileSync(join(keep, `e-${nodes}-server.log`), server.output());
    if (keep && worker) writeFileSync(join(keep, `e-${nodes}-worker.log`), worker.output());
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
    // Idle cost of the nodes (heartbeats, BullMQ's blocking reads and stall checks): right
    // after registration, while nodes still beat every worker.heartbeat_seconds, and again
    // once each has had a heartbeat answer with the cluster's period (domain/heartbeats.ts;
    // the control plane's node count is up to 5 s old, so 25 s covers two 5 s periods and more).
    const idle0 = cpuSnapshot(server.pid);
    const idleW = { pid: worker.pid, cpu0: processCpuMs(worker.pid) };
    await sleep(5_000);
    out.idle_cpu_5s = cpuDeltaOf(idle0, server.pid, idleW);
    await sleep(20_000);
    const settled0 = cpuSnapshot(server.pid);
    const settledW = { pid: worker.pid, cpu0: processCpuMs(worker.pid) };
    await sleep(10_000);
    out.idle_cpu_10s_after_heartbeat_period = cpuDeltaOf(settled0, server.pid, settledW);

    // 2. Capacity exists, empty queue.
    const ctx: Ctx = { url, dbc, serverPid: server.pid, workerPid: worker.pid };
    const steadyA = await capacityProbes(ctx, o, 'steady-a', nodes, 10);
    out.capacity_exists_empty_queue = steadyA;

    // 3. Drain every node, 4. enqueue latency on an empty queue.
    out.drain_nodes = await nodeCalls(url, ids, 'drain');
    o.log(`(e) ${nodes} nodes: drained; enqueue latency, empty queue (${o.probe} POST /tasks, ${PROBE_CONCURRENCY} in flight)…`);
    const enqEmpty = await enqueueProbe(url, 'probe-empty', o.probe, server.pid, dbc);
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

    // 6. Enqueue latency with the backlog. PostgreSQL's autovacuum often vacuums and analyzes the
    // task tables right after the backlog's 100,000 inserts, for a few seconds of one core: a probe
    // it overlapped is kept (`with_backlog_during_autovacuum`), and the probe is taken again once
    // autovacuum is idle, which is what a queue that size costs an enqueue.
    let enqBacklog = await enqueueProbe(url, 'probe-backlog', o.probe, server.pid, dbc);
    let duringAutovacuum: (typeof enqBacklog & { waited_for_autovacuum_ms?: number }) | null = null;
    if (Object.keys(enqBacklog.autovacuum_seen_ms ?? {}).length > 0) {
      duringAutovacuum = enqBacklog;
      const autoRan = Object.entries(enqBacklog.autovacuum_seen_ms ?? {}).map(([what, ms]) => `${what.replace(/^autovacuum: /, '')} ~${ms} ms`);
      o.log(`(e) ${nodes} nodes: enqueue with backlog p50 ${enqBacklog.latency_ms.p50} ms, p99 ${enqBacklog.latency_ms.p99} ms while PostgreSQL's autovacuum ran (${autoRan.join('; ')}); again once it is idle…`);
      const waited = await autovacuumIdle(dbc);
      enqBacklog = await enqueueProbe(url, 'probe-backlog-2', o.probe, server.pid, dbc);
      duringAutovacuum.waited_for_autovacuum_ms = waited;
    }
    out.enqueue = {
      what: `${o.probe} single POST /tasks (cpu 0.25, 128 MiB, normal), ${PROBE_CONCURRENCY} in flight, client-side latency; every node drained in both, so the dispatcher finds no room for any queued task in either. autovacuum_seen_ms: PostgreSQL's autovacuum workers on this database during the probe, by activity, sampled every 100 ms (after the backlog's 100,000 inserts one may vacuum and analyze the task tables while the probe runs); postgres_statements_seen_ms: the 10 statements seen running longest, by backend type and wait event (CPU: none), same samples`,
      empty_queue: enqEmpty,
      with_backlog: { ...enqBacklog, queued_before: counts.queued },
      with_backlog_during_autovacuum: duringAutovacuum,
      p99_backlog_over_empty: round(enqBacklog.latency_ms.p99 / enqEmpty.latency_ms.p99, 2),
      p50_backlog_over_empty: round(enqBacklog.latency_ms.p50 / enqEmpty.latency_ms.p50, 2),
    };
    const autoStill = Object.keys(enqBacklog.autovacuum_seen_ms ?? {}).length > 0;
    const pgNotes = [autoStill ? "PostgreSQL's autovacuum ran during this probe too" : '', enqBacklog.checkpoints_during_probe ? `${enqBacklog.checkpoints_during_probe} PostgreSQL checkpoint(s) began during it` : ''].filter(Boolean);
    o.log(`(e) ${nodes} nodes: enqueue with backlog p50 ${enqBacklog.latency_ms.p50} ms, p99 ${enqBacklog.latency_ms.p99} ms${pgNotes.length ? ` (${pgNotes.join('; ')})` : ''}`);

    // 7. Resume every node and time the drain.
    const atResume = await statusCounts(dbc);
    o.log(`(e) ${nodes} nodes: resuming every node; draining ${atResume.queued} queued tasks (cap ${o.drainSeconds} s)…`);
    const d0 = cpuSnapshot(server.pid);
    const dw0 = { pid: worker.pid, cpu0: processCpuMs(worker.pid) };
    const tResume = Date.now();
    const loopDelay = eventLoopSampler(url, 5_000);
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
    const drainLoopDelay = await loopDelay();
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
      /** Stretches of over 1 s with nothing placed, and the last tasks placed with their history (what held them). */
      gaps_over_1s: placementGaps(times),
      last_placed: await stragglers(dbc, ['backlog', 'probe-empty', 'probe-backlog'], tResume).catch((err: Error) => ({ error: err.message })),
      priority_order: priorityOrder(drainRows, tResume),
      backlog_submit_to_placed_ms: {
        note: 'the backlog tasks placed in this window only: mostly time spent queued behind the rest of the backlog (and, for the first ones, the build), NOT the aim\'s "while capacity exists" figure',
        ...summarize(backlogPlaced.map((r) => (r.scheduled as number) - r.created)),
      },
      cpu: drainCpu,
      server_event_loop_delay: drainLoopDelay,
      worker_rss_mb: rssMb(worker.pid),
    };
    o.log(
      `(e) ${nodes} nodes: ${drained.outcome}: ${placedRows.length} placed in ${round((last - first) / 1000, 1)} s = ${round(rate, 1)}/s; ` +
        `${drained.queued - drained.never_placed} placed and queued again; nodes ${JSON.stringify(nodesAfter)}; ` +
        `server event-loop delay per 5 s p50 ${drainLoopDelay.interval_max_ms.p50} ms, max ${drainLoopDelay.interval_max_ms.max} ms`,
    );
    const gaps = out.drain.gaps_over_1s as Array<{ after_ms: number; gap_ms: number; placed_before: number }>;
    if (gaps.length > 0) {
      o.log(`(e) ${nodes} nodes: nothing placed for ${gaps.map((g) => `${g.gap_ms} ms after ${g.placed_before}`).join(', ')} (the last tasks placed and their history: drain.last_placed in the results)`);
    }
    const restored = await restoredByReconciler(url).catch((err: Error) => ({ error: err.message }));
    out.drain.restored_by_reconciler_since_start = restored;
    if ('queued' in restored && restored.queued + restored.placed > 0) {
      o.log(`(e) ${nodes} nodes: the reconciler restored ${restored.queued} queued and ${restored.placed} placed tasks whose jobs were lost (since the server started)`);
    }

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
/** The p99 of a backlog probe that autovacuum overlapped, '-' when none did. */
function autovacuumP99(r: ScaleRun): string | number {
  const d = r.enqueue?.with_backlog_during_autovacuum as { latency_ms?: Summary } | null | undefined;
  return d?.latency_ms ? d.latency_ms.p99 : '-';
}

/** The section's table for the console (the JSON result holds every figure). */
export function printScale(e: Awaited<ReturnType<typeof scalePhase>>): string[] {
  const lines: string[] = [];
  const rates = S.scaleSteadyRates.join('/');
  lines.push(`(e) cluster-scale placement: ${S.scaleTasks} mixed tasks on simulated nodes (drain capped at ${S.scaleDrainSeconds} s); ms unless stated`);
  lines.push(
    `    ${pad('nodes', 7)}${pad('placed/s', 10, true)}${pad('placed', 16, true)}${pad(`s→p p99 @${rates}/s`, 22, true)}${pad('after backlog', 15, true)}` +
      `${pad('enq p99 empty', 14, true)}${pad('backlog', 9, true)}${pad('(autovac.)', 12, true)}${pad('build/s', 9, true)}${pad('srv/wkr CPU', 13, true)}`,
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
        `${pad(r.enqueue!.empty_queue.latency_ms.p99, 14, true)}${pad(r.enqueue!.with_backlog.latency_ms.p99, 9, true)}${pad(autovacuumP99(r), 12, true)}${pad(round(r.backlog_build!.tasks_per_second, 0), 9, true)}` +
        `${pad(`${dr.cpu.server_pct_of_one_core ?? '-'}/${dr.cpu.worker_pct_of_one_core ?? '-'}%`, 13, true)}`,
    );
  }
  lines.push('    placed/s: over the drain (first → last first placement); s→p: submit→placed while capacity exists, empty queue, at each arrival rate;');
  lines.push('    after backlog: the same once the whole backlog is placed; enq: POST /tasks p99 on an empty queue / with the backlog queued;');
  lines.push("    (autovac.): the backlog probe that PostgreSQL's autovacuum of the fresh inserts overlapped, when it did (then probed again once idle);");
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
  lines.push(`    ≥ ${TARGET_RATE.toLocaleString('en-US')} placements/s and p99 submit→placed < 50 ms: ${e.meets_target ? 'met' : 'NOT met'}`);
  lines.push('');
  return lines;
}
