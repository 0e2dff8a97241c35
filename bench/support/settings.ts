// The benchmark's settings, from its command line. `S` is filled once by parseSettings (the
// driver, bench/run.ts) and read by every section.
import { parseArgs } from 'node:util';

export const SECTIONS = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'] as const;
export type SectionId = (typeof SECTIONS)[number];

export const USAGE =
  'npx tsx bench/run.ts [--requests N] [--warmup N] [--concurrency N] [--latency-count N] [--latency-warmup N] [--latency-backlog N] [--poll-ms N] [--only a|b|c|d|e|a,c…] [--profile]\n' +
  '                     [--a-only raw_bullmq,jarvis_postgres_2proc,…] [--a-extra]\n' +
  '                     [--dag-tasks N] [--dag-width N] [--dag-rounds N] [--fan-width N] [--fan-rounds N] [--sim-ms N] [--chain N]\n' +
  '                     [--metrics-pairs N] [--metrics-requests N] [--security-pairs N]\n' +
  '                     [--schedules N] [--sched-cron CRON] [--sched-seconds N] [--webhook-events N]\n' +
  '                     [--scale-tasks N] [--scale-nodes N,N…] [--scale-drain-seconds N] [--scale-probe N] [--scale-steady-rates N,N…] [--scale-steady-seconds N] [--scale-aging-seconds N]\n' +
  '                     [--ui-tasks N] [--ui-workflow-tasks N] [--ui-runs N]\n' +
  '                     [--fair-tasks N] [--fair-task-ms N] [--fair-scale-nodes N] [--fair-scale-tasks N]\n' +
  'npx tsx bench/run.ts --compare A.json B.json   (the change per figure from run A to run B)\n' +
  '  a: submit throughput  b: submit->succeeded latency  c: workflows (10,000-task DAG, release latency)  d: cost of metrics on POST /tasks\n' +
  '  e: cluster-scale placement (placements/s, submit->placed, enqueue latency with a backlog) on simulated nodes\n' +
  '  f: what security costs: POST /tasks with a key vs open mode (pairs); one key flooding at 10x its rate limit vs another key\'s p99\n' +
  '  g: the web dashboard in headless Chromium: first paint and complete page with 100,000 tasks, a 1,000-task workflow\n' +
  '  h: fair share between tenants: weights 1:2:1, GPU- vs CPU-heavy (DRF), a weight-1 tenant against a weight-100 flood, placements/s with 1 vs 10 tenants\n' +
  '  i: schedules firing together: every tick run once, tick->submit lag  j: webhook fan-out to a receiver failing 20 %: deliveries/s, lag, none lost or out of order\n';

const OPTIONS = {
  requests: { type: 'string', default: '20000' },
  warmup: { type: 'string', default: '5000' },
  concurrency: { type: 'string', default: '32' },
  'latency-count': { type: 'string', default: '30' },
  'latency-backlog': { type: 'string', default: '20000' },
  'latency-warmup': { type: 'string', default: '3' },
  'poll-ms': { type: 'string', default: '10' },
  only: { type: 'string' },
  profile: { type: 'boolean', default: false },
  'a-only': { type: 'string' },
  'a-extra': { type: 'boolean', default: false },
  'dag-tasks': { type: 'string', default: '10000' },
  'dag-width': { type: 'string', default: '100' },
  'dag-rounds': { type: 'string', default: '3' },
  'fan-width': { type: 'string', default: '1000' },
  'fan-rounds': { type: 'string', default: '2' },
  'sim-ms': { type: 'string', default: '10' },
  chain: { type: 'string', default: '100' },
  'metrics-pairs': { type: 'string', default: '6' },
  'metrics-requests': { type: 'string', default: '3000' },
  'security-pairs': { type: 'string', default: '4' },
  schedules: { type: 'string', default: '1000' },
  'sched-cron': { type: 'string', default: '* * * * *' },
  'sched-seconds': { type: 'string', default: '130' },
  'webhook-events': { type: 'string', default: '10000' },
  'scale-tasks': { type: 'string', default: '100000' },
  'scale-nodes': { type: 'string', default: '100,1000' },
  'scale-drain-seconds': { type: 'string', default: '180' },
  'scale-probe': { type: 'string', default: '3000' },
  'scale-steady-rates': { type: 'string', default: '50,200' },
  'scale-steady-seconds': { type: 'string', default: '10' },
  'scale-aging-seconds': { type: 'string', default: '3600' },
  'ui-tasks': { type: 'string', default: '100000' },
  'ui-workflow-tasks': { type: 'string', default: '1000' },
  'ui-runs': { type: 'string', default: '5' },
  'fair-tasks': { type: 'string', default: '1500' },
  'fair-task-ms': { type: 'string', default: '600' },
  'fair-scale-nodes': { type: 'string', default: '1000' },
  'fair-scale-tasks': { type: 'string', default: '30000' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

/** A bad command line: the message says which option and what it takes. */
export class UsageError extends Error {
  override name = 'UsageError';
}

const int = (name: string, v: string | undefined) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} must be a whole number, got "${v}"`);
  return n;
};

function settingsFrom(args: string[]) {
  let argv;
  try {
    argv = parseArgs({ args, options: OPTIONS }).values;
  } catch (err) {
    // node:util's own message names the option (unknown, or missing its value).
    throw new UsageError((err as Error).message);
  }
  const only = argv.only ? new Set(argv.only.split(',').map((x) => x.trim())) : null;
  if (only && (only.size === 0 || [...only].some((x) => !(SECTIONS as readonly string[]).includes(x)))) {
    throw new UsageError(`--only takes one or more of ${SECTIONS.join(', ')} (comma-separated), got "${argv.only}"`);
  }
  return {
    help: argv.help ?? false,
    requests: int('requests', argv.requests),
    warmup: int('warmup', argv.warmup),
    concurrency: Math.max(1, int('concurrency', argv.concurrency)),
    latencyCount: Math.max(1, int('latency-count', argv['latency-count'])),
    latencyBacklog: Math.max(0, int('latency-backlog', argv['latency-backlog'])),
    latencyWarmup: int('latency-warmup', argv['latency-warmup']),
    pollMs: Math.max(1, int('poll-ms', argv['poll-ms'])),
    only,
    profile: argv.profile ?? false,
    aOnly: argv['a-only'] ? argv['a-only'].split(',').map((x) => x.trim()) : null,
    aExtra: argv['a-extra'] ?? false,
    dagTasks: Math.max(2, int('dag-tasks', argv['dag-tasks'])),
    dagWidth: Math.max(1, int('dag-width', argv['dag-width'])),
    dagRounds: Math.max(1, int('dag-rounds', argv['dag-rounds'])),
    fanWidth: Math.max(1, int('fan-width', argv['fan-width'])),
    fanRounds: Math.max(1, int('fan-rounds', argv['fan-rounds'])),
    simMs: int('sim-ms', argv['sim-ms']),
    chain: int('chain', argv.chain),
    metricsPairs: Math.max(1, int('metrics-pairs', argv['metrics-pairs'])),
    metricsRequests: Math.max(1, int('metrics-requests', argv['metrics-requests'])),
    securityPairs: Math.max(1, int('security-pairs', argv['security-pairs'])),
    schedules: Math.max(1, int('schedules', argv.schedules)),
    schedCron: argv['sched-cron'] ?? '* * * * *',
    schedSeconds: Math.max(1, int('sched-seconds', argv['sched-seconds'])),
    webhookEvents: Math.max(1, int('webhook-events', argv['webhook-events'])),
    scaleTasks: Math.max(1, int('scale-tasks', argv['scale-tasks'])),
    scaleNodes: (argv['scale-nodes'] ?? '').split(',').map((x) => Math.max(1, int('scale-nodes', x.trim()))),
    scaleDrainSeconds: Math.max(1, int('scale-drain-seconds', argv['scale-drain-seconds'])),
    scaleProbe: Math.max(1, int('scale-probe', argv['scale-probe'])),
    scaleSteadyRates: (argv['scale-steady-rates'] ?? '').split(',').map((x) => Math.max(1, int('scale-steady-rates', x.trim()))),
    scaleSteadySeconds: Math.max(1, int('scale-steady-seconds', argv['scale-steady-seconds'])),
    scaleAgingSeconds: Math.max(1, int('scale-aging-seconds', argv['scale-aging-seconds'])),
    uiTasks: Math.max(100, int('ui-tasks', argv['ui-tasks'])),
    uiWorkflowTasks: Math.max(30, int('ui-workflow-tasks', argv['ui-workflow-tasks'])),
    uiRuns: Math.max(1, int('ui-runs', argv['ui-runs'])),
    fairTasks: Math.max(10, int('fair-tasks', argv['fair-tasks'])),
    fairTaskMs: Math.max(1, int('fair-task-ms', argv['fair-task-ms'])),
    fairScaleNodes: Math.max(1, int('fair-scale-nodes', argv['fair-scale-nodes'])),
    fairScaleTasks: Math.max(1000, int('fair-scale-tasks', argv['fair-scale-tasks'])),
  };
}

export type Settings = ReturnType<typeof settingsFrom>;

/** This run's settings; filled by parseSettings before any section runs. */
export const S = {} as Settings;

export function parseSettings(args: string[]): Settings {
  return Object.assign(S, settingsFrom(args));
}

/** Whether this run includes a section (all of them without --only). */
export const runs = (section: SectionId) => !S.only || S.only.has(section);
