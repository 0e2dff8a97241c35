// (c), part 2: release latency on a `jarvis server` + `jarvis worker --executor simulated`: a
// fan-out/fan-in workflow (root -> 1,000 tasks -> sink) and a chain, from each parent's
// "succeeded" event to its child's "scheduled" event (GET /tasks/{id}/events). The server's
// PostgreSQL connections are sampled meanwhile (pg_stat_activity) to show what they wait on.
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { chain, fanOutFanIn, templatedChain, releaseSamples, SIM_DURATION_LABEL, summarizeRelease, type ReleaseSample, type TaskEvents, type WorkflowBody } from '../support/dag.ts';
import { bullEventTimes, epochNow, FINAL, freshDatabase } from '../support/fixtures.ts';
import { log, onCleanup, RUN_ID } from '../support/harness.ts';
import { startJarvis, type JarvisProcess } from '../support/jarvis.ts';
import { closedLoop, HttpClient } from '../support/load.ts';
import { cpuSnapshot, cpuWithWorker, IMAGE, processCpuMs, samplePgActivity, type PgActivitySample } from '../support/services.ts';
import { S } from '../support/settings.ts';
import { round, sleep, summarize } from '../support/stats.ts';

export interface WorkflowRun {
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

export async function releasePhase(redis: Redis) {
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
      // The same chain with templates filled at each release (name, a command argument, an env value from the parent's result and status).
      log(`(c) templated chain of ${S.chain} tasks (0 ms each)…`);
      const tr = await runWorkflow(client, redis, prefix, db.name, jarvis, worker, 'chain-templated', templatedChain({ length: S.chain, image: IMAGE, durationMs: 0 }));
      runs.push(tr);
      log(`(c) templated chain: ${round(tr.wall_ms / 1000, 2)} s, release p50 ${summarize(tr.samples.map((x) => x.release_ms)).p50} ms`);
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
    const templatedSamples = runs.filter((r) => r.shape === 'chain-templated').flatMap((r) => r.samples);
    const p99Of = (xs: ReleaseSample[]) => summarize(xs.map((x) => x.release_ms)).p99;
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
      chain_templated_children: group(templatedSamples),
      templated_release_added_p99_ms: chainSamples.length && templatedSamples.length ? round(p99Of(templatedSamples) - p99Of(chainSamples), 1) : null,
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
