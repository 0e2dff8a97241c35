// Workflow bodies for the workflow benchmark (section c, bench/sections/c-*.ts) and the release-latency
// arithmetic on the task histories Jarvis returns (GET /tasks/{id}/events).
//
//  - layeredDag: N tasks in layers of `width`; every task after the first layer depends on 1 to
//    3 distinct tasks of the layer before (a seeded PRNG, so every run submits the same graph).
//  - fanOutFanIn: root -> `width` middle tasks -> sink.
//  - chain: t0 -> t1 -> … (one release at a time: the per-hop floor, no burst).
import { summarize, type Summary } from './stats.ts';

export const SIM_DURATION_LABEL = 'jarvis.sim/duration_ms'; // src/worker/simulated-executor.ts

export interface WorkflowTaskBody {
  key: string;
  image: string;
  command: string[];
  resources: { cpu: number; memory_mb: number };
  labels: Record<string, string>;
  depends_on?: string[];
  env?: Record<string, string>;
  name?: string;
}

export interface WorkflowBody {
  name: string;
  tasks: WorkflowTaskBody[];
}

/** mulberry32: a small deterministic PRNG. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function task(key: string, image: string, durationMs: number, dependsOn: string[]): WorkflowTaskBody {
  const t: WorkflowTaskBody = {
    key,
    image,
    command: ['true'],
    // Small enough that capacity is never what limits placement (the worker offers 10,000 CPUs).
    resources: { cpu: 0.01, memory_mb: 1 },
    labels: { [SIM_DURATION_LABEL]: String(durationMs) },
  };
  if (dependsOn.length) t.depends_on = dependsOn;
  return t;
}

export function layeredDag(opts: { tasks: number; width: number; image: string; seed?: number; name?: string }): WorkflowBody & { edges: number; layers: number } {
  const rnd = prng(opts.seed ?? 42);
  const tasks: WorkflowTaskBody[] = [];
  let prev: string[] = [];
  let edges = 0;
  let layers = 0;
  for (let layer = 0; tasks.length < opts.tasks; layer++) {
    layers++;
    const keys: string[] = [];
    const n = Math.min(opts.width, opts.tasks - tasks.length);
    for (let i = 0; i < n; i++) {
      const key = `l${layer}-t${i}`;
      const deps = new Set<string>();
      if (prev.length) {
        const want = Math.min(prev.length, 1 + Math.floor(rnd() * 3));
        while (deps.size < want) deps.add(prev[Math.floor(rnd() * prev.length)]);
      }
      edges += deps.size;
      tasks.push(task(key, opts.image, 0, [...deps]));
      keys.push(key);
    }
    prev = keys;
  }
  return { name: opts.name ?? `bench-layered-${opts.tasks}`, tasks, edges, layers };
}

/**
 * The same graph with one extra edge that closes a cycle through every layer: the last task's
 * first-dependency path back to a root, and that root made to depend on the last task.
 */
export function withCycle(body: WorkflowBody): WorkflowBody {
  const tasks = body.tasks.map((t) => ({ ...t }));
  const index = new Map(tasks.map((t, i) => [t.key, i]));
  const last = tasks.length - 1;
  let root = last;
  while (tasks[root].depends_on?.length) root = index.get(tasks[root].depends_on![0]) as number;
  if (root === last) throw new Error('withCycle: the last task is a root; no cycle to close');
  tasks[root] = { ...tasks[root], depends_on: [tasks[last].key] };
  return { ...body, name: `${body.name}-cycle`, tasks };
}

export function fanOutFanIn(opts: { width: number; image: string; middleDurationMs: number; name?: string }): WorkflowBody {
  const tasks: WorkflowTaskBody[] = [task('root', opts.image, 0, [])];
  const middle: string[] = [];
  for (let i = 0; i < opts.width; i++) {
    const key = `m${i}`;
    middle.push(key);
    tasks.push(task(key, opts.image, opts.middleDurationMs, ['root']));
  }
  tasks.push(task('sink', opts.image, 0, middle));
  return { name: opts.name ?? `bench-fan-${opts.width}`, tasks };
}

export function chain(opts: { length: number; image: string; durationMs: number; name?: string }): WorkflowBody {
  const tasks: WorkflowTaskBody[] = [];
  for (let i = 0; i < opts.length; i++) tasks.push(task(`c${i}`, opts.image, opts.durationMs, i ? [`c${i - 1}`] : []));
  return { name: opts.name ?? `bench-chain-${opts.length}`, tasks };
}

/**
 * The same chain, each child filling templates from its parent at release (docs/workflows.md):
 * its name, a command argument and an env value read the parent's `result` and `status`.
 */
export function templatedChain(opts: { length: number; image: string; durationMs: number; name?: string }): WorkflowBody {
  const body = chain({ ...opts, name: opts.name ?? `bench-chain-templated-${opts.length}` });
  body.tasks = body.tasks.map((t, i) => {
    if (i === 0) return t;
    const parent = `tasks.c${i - 1}`;
    return { ...t, name: `after {{ ${parent}.status }}`, command: ['echo', `{{ ${parent}.result }}`], env: { PARENT: `{{ ${parent}.result }} ({{ ${parent}.status }})` } };
  });
  return body;
}

// ---------------------------------------------------------------------------------------------
// Release latency from task histories

export interface TaskEvents {
  id: string;
  key: string;
  dependsOn: string[];
  /** First time of each status in the task's history (ms since the epoch, the server's clock). */
  at: Record<string, number>;
}

export interface ReleaseSample {
  key: string;
  /** The parent whose success released it (the last one to succeed). */
  last_parent: string;
  /** Parent's "succeeded" event -> child's "scheduled" event: the figure the aim is about. */
  release_ms: number;
  /** Parent's "succeeded" event -> child's "queued" event (both in the parent's finish transaction). */
  succeeded_to_queued_ms: number;
  /** Child's "queued" event -> its pending job added (Redis-stamped): rest of that transaction, commit, addBulk. */
  queued_to_job_added_ms: number;
  /** Pending job added -> taken by the dispatcher (BullMQ "active"): waiting in the pending queue. */
  job_added_to_dispatcher_ms: number;
  /** Taken by the dispatcher -> "scheduled" event (reads, choice of node, the placement transaction). */
  dispatcher_to_scheduled_ms: number;
  /** Child's "queued" event -> "scheduled" event, for a child offered to the dispatcher at once (no pending job); else NaN. */
  offered_queued_to_scheduled_ms: number;
}

/** For every task with parents: how long from its last parent's success to its placement. */
export function releaseSamples(all: TaskEvents[], pendingJobs: Map<string, Record<string, number>>, ids: Map<string, string>): ReleaseSample[] {
  const byKey = new Map(all.map((t) => [t.key, t]));
  const out: ReleaseSample[] = [];
  for (const t of all) {
    if (t.dependsOn.length === 0) continue;
    let last: TaskEvents | null = null;
    for (const p of t.dependsOn) {
      const parent = byKey.get(p);
      if (!parent) throw new Error(`task ${t.key}: parent ${p} not found`);
      if (!last || parent.at.succeeded > last.at.succeeded) last = parent;
    }
    const succeeded = (last as TaskEvents).at.succeeded;
    const job = pendingJobs.get(ids.get(t.key) as string) ?? {};
    out.push({
      key: t.key,
      last_parent: (last as TaskEvents).key,
      release_ms: t.at.scheduled - succeeded,
      succeeded_to_queued_ms: t.at.queued - succeeded,
      queued_to_job_added_ms: (job.added ?? NaN) - t.at.queued,
      job_added_to_dispatcher_ms: (job.active ?? NaN) - (job.added ?? NaN),
      dispatcher_to_scheduled_ms: t.at.scheduled - (job.active ?? NaN),
      offered_queued_to_scheduled_ms: job.added === undefined ? t.at.scheduled - t.at.queued : NaN,
    });
  }
  return out;
}

export interface ReleaseSummary {
  release_ms: Summary;
  breakdown_ms: Record<string, Summary>;
}

export function summarizeRelease(samples: ReleaseSample[]): ReleaseSummary {
  // A figure with no sample (every child offered at once, or none) is left out rather than NaN.
  const pick = (k: keyof ReleaseSample) => summarize(samples.map((s) => s[k] as number).filter((x) => !Number.isNaN(x)));
  return {
    release_ms: pick('release_ms'),
    breakdown_ms: {
      '1_parent_succeeded_to_child_queued': pick('succeeded_to_queued_ms'),
      '2_child_queued_to_pending_job_added': pick('queued_to_job_added_ms'),
      '3_job_added_to_dispatcher_took_it': pick('job_added_to_dispatcher_ms'),
      '4_dispatcher_took_it_to_scheduled': pick('dispatcher_to_scheduled_ms'),
      // Released children the result recorder offered to the dispatcher directly (no pending job).
      '2-4_offered_child_queued_to_scheduled': pick('offered_queued_to_scheduled_ms'),
    },
  };
}
