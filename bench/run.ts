// Foundation benchmark: Jarvis against the raw tools it is built on, side by side in one run on
// the same Redis, PostgreSQL and Docker engine. The sections' files, under bench/sections/:
//  (a) a-submit.ts     sustained POST /tasks per second against raw BullMQ Queue.add (and variants)
//  (b) b-latency.ts    submit→succeeded of a trivial container against docker run / dockerode
//  (c) c-workflows.ts  a 10,000-task DAG validated, stored and posted (c-dag.ts); release latency
//                      of fan-out/in (c-release.ts)
//  (d) d-metrics.ts    what metrics cost on POST /tasks, on/off pairs
//  (e) e-scale.ts      cluster-scale placement on simulated nodes
//  (f) f-security.ts   what API keys cost on POST /tasks; a flooding key against another key's p99
//  (g) g-dashboard.ts  the web dashboard in headless Chromium with 100,000 tasks, 1,000-task workflows and a
//                      10,000-deep chain (and how long /health waits while its page is rendered)
//  (h) h-fair-share.ts  fair share between tenants: weights, DRF, a small tenant against a flood,
//                      placements/s with 1 vs 10 tenants
//  (i, j) i-schedules-webhooks.ts  1,000 schedules: each tick once, tick→submit lag; webhook fan-out
// This driver reads the command line, runs the sections asked for, writes the JSON result and
// prints each section's table. `--compare A B` prints the change per figure between two results.
//
// Usage: npx tsx bench/run.ts [--requests 5000] [--warmup 500] [--concurrency 32]
//          [--latency-count 30] [--latency-warmup 3] [--poll-ms 10] [--only a|b|c|d|a,c…] [--profile]
//          [--dag-tasks 10000] [--dag-width 100] [--dag-rounds 3] [--fan-width 1000] [--fan-rounds 2]
//          [--sim-ms 10] [--chain 100] [--metrics-pairs 6] [--metrics-requests 3000]
//          [--scale-tasks 100000] [--scale-nodes 100,1000] [--scale-drain-seconds 180] [--scale-probe 1000]
//          [--scale-steady-rates 50,200] [--scale-steady-seconds 10] [--scale-aging-seconds 3600]
//          [--ui-tasks 100000] [--ui-workflow-tasks 1000] [--ui-runs 5]
//          [--fair-tasks 1500] [--fair-task-ms 600] [--fair-scale-nodes 1000] [--fair-scale-tasks 30000]
//        npx tsx bench/run.ts --compare A.json B.json
// Results: bench/results/foundation-<timestamp>.json and bench/results/foundation-latest.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import type { Redis } from 'ioredis';
import { compareFiles } from './compare.ts';
import { printSubmitThroughput, submitThroughputPhase } from './sections/a-submit.ts';
import { latencyPhase, printLatency } from './sections/b-latency.ts';
import { printWorkflows, workflowPhase } from './sections/c-workflows.ts';
import { metricsCostPhase, printMetricsCost } from './sections/d-metrics.ts';
import { printScale, scalePhase } from './sections/e-scale.ts';
import { printSecurity, securityPhase } from './sections/f-security.ts';
import { dashboardPhase, printDashboard } from './sections/g-dashboard.ts';
import { fairSharePhase, printFairShare } from './sections/h-fair-share.ts';
import { printSchedules, printWebhooks, schedulePhase, webhookPhase } from './sections/i-schedules-webhooks.ts';
import { freshDatabase, TASK_BODY } from './support/fixtures.ts';
import { cleanup, cleanUpOnSignals, log, onCleanup, RESULTS_DIR, RUN_ID, wasInterrupted } from './support/harness.ts';
import { measurePace, type Pace } from './support/machine-pace.ts';
import { checkServices, connectRedis, deleteKeysWithPrefix, machineFacts, MissingServiceError, REDIS_URL } from './support/services.ts';
import { parseSettings, runs, S, SECTIONS, USAGE, UsageError, type SectionId } from './support/settings.ts';
import { round } from './support/stats.ts';

interface Section<R> {
  id: SectionId;
  /** Where its result goes in the JSON. */
  key: string;
  run(redis: Redis): Promise<R>;
  print(result: R): string[];
}
const section = <R>(s: Section<R>) => s as unknown as Section<unknown>;

const ALL: Array<Section<unknown>> = [
  section({ id: 'a', key: 'a_submit_throughput', run: submitThroughputPhase, print: printSubmitThroughput }),
  section({ id: 'b', key: 'b_submit_to_succeeded', run: (redis) => latencyPhase(redis, { cli: true }), print: printLatency }),
  section({ id: 'c', key: 'c_workflows', run: workflowPhase, print: printWorkflows }),
  section({ id: 'd', key: 'd_metrics_cost', run: metricsCostPhase, print: printMetricsCost }),
  section({
    id: 'e',
    key: 'e_cluster_scale',
    run: (redis) =>
      scalePhase(redis, {
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
      }),
    print: printScale,
  }),
  section({ id: 'f', key: 'f_security', run: securityPhase, print: printSecurity }),
  section({ id: 'g', key: 'g_dashboard', run: dashboardPhase, print: printDashboard }),
  section({ id: 'h', key: 'h_fair_share', run: fairSharePhase, print: printFairShare }),
  section({ id: 'i', key: 'i_schedules', run: schedulePhase, print: printSchedules }),
  section({ id: 'j', key: 'j_webhooks', run: () => webhookPhase(), print: printWebhooks }),
];

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
      ui_tasks: S.uiTasks,
      ui_workflow_tasks: S.uiWorkflowTasks,
      ui_runs: S.uiRuns,
    },
    /** 1/5/15-minute load averages when each section started and at the end (this machine is shared). */
    loadavg: {} as Record<string, number[]>,
    /** The machine's pace when each section started and at the end (support/machine-pace.ts). */
    machine_pace: {} as Record<string, Pace>,
  };
  const loadavg = result.loadavg as Record<string, number[]>;
  const pace = result.machine_pace as Record<string, Pace>;
  const noteLoad = async (at: string) => {
    loadavg[at] = os.loadavg().map((x) => round(x, 2));
    pace[at] = await measurePace(redis);
  };

  const printed: string[][] = [];
  for (const s of ALL) {
    if (!runs(s.id)) continue;
    await noteLoad(`${s.id}_start`);
    const r = await s.run(redis);
    result[s.key] = r;
    printed.push(s.print(r));
  }
  await noteLoad('end');

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
  process.stdout.write(['', ...printed.flat()].join('\n') + '\n');
  process.stdout.write(`results: ${file} (and bench/results/foundation-latest.json), ${result.duration_s} s\n`);
}

function start(args: string[]) {
  const at = args.indexOf('--compare');
  if (at >= 0) {
    const files = args.filter((_, i) => i !== at);
    if (files.length !== 2) throw new UsageError(`--compare takes two result files (bench/results/*.json), got ${files.length}: ${files.join(' ') || '(none)'}`);
    process.stdout.write(compareFiles(files[0], files[1]));
    process.exit(0);
  }
  parseSettings(args);
  if (S.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  cleanUpOnSignals();
  main().then(
    () => process.exit(0),
    async (err) => {
      // After a signal the clean-up itself makes the running phase fail; that is not news.
      if (!wasInterrupted()) process.stderr.write(`bench: FAILED: ${(err as Error).stack ?? err}\n`);
      await cleanup();
      process.exit(wasInterrupted() ? 130 : 1);
    },
  );
}

try {
  start(process.argv.slice(2));
} catch (err) {
  if (!(err instanceof UsageError)) throw err;
  process.stderr.write(`bench: ${err.message}\n(npx tsx bench/run.ts --help for the options)\n`);
  process.exit(2);
}
