// Section (e)'s workload: its options, the mixed backlog (seeded) and the probe tasks.
import { prng, SIM_DURATION_LABEL } from './dag.ts';
import { IMAGE } from './services.ts';

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

export const SET_LABEL = 'jarvis.bench/set';
export const SIM_RUN_MS = 3_600_000;
export const BATCH = 1000; // the API's limit for POST /tasks/batch
export const BATCH_CONCURRENCY = 4;
export const PROBE_CONCURRENCY = 4;
export const NODE_CALL_CONCURRENCY = 16;
export const PRIORITIES = ['critical', 'high', 'normal', 'low'] as const;
export type Priority = (typeof PRIORITIES)[number];
export const PRIORITY_MIX: Array<[Priority, number]> = [
  ['critical', 0.1],
  ['high', 0.2],
  ['normal', 0.5],
  ['low', 0.2],
];
export const CPU_CHOICES = [0.25, 0.5, 1, 2, 4];
export const MEMORY_CHOICES = [128, 256, 512, 1024, 4096];
/** Issue #17: Nomad's C1M placed 3,750 containers/s (an earlier issue asked for 3,300). */
export const TARGET_RATE = 3750;
export const TARGET_P99_MS = 50;

export interface TaskBody {
  image: string;
  command: string[];
  priority: Priority;
  resources: { cpu: number; memory_mb: number };
  labels: Record<string, string>;
}

export function body(set: string, priority: Priority, cpu: number, memoryMb: number): TaskBody {
  return { image: IMAGE, command: ['true'], priority, resources: { cpu, memory_mb: memoryMb }, labels: { [SIM_DURATION_LABEL]: String(SIM_RUN_MS), [SET_LABEL]: set } };
}

/** `n` tasks of independently drawn priority (10/20/50/20 %), CPU and memory (seeded: every run the same). */
export function mixedTasks(n: number, seed: number, set: string, priority?: Priority): TaskBody[] {
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

export const PROBE_BODY = (set: string) => body(set, 'normal', 0.25, 128);