// `npm run bench -- --compare A B`: the change per figure between two benchmark results
// (bench/results/*.json), so a regression shows in one command. A figure is a number (or a
// met/not-met target) in a section's result; run facts (settings, machine, load, checks, raw
// series) are left out, and of a distribution only p50 and p99 are compared. Where the name says
// which way is good (…per_second up, …_ms down, …) the change is called better or worse.
import { readFileSync } from 'node:fs';

export type Direction = 'higher' | 'lower' | null;

export interface FigureChange {
  name: string;
  a: number | boolean | null;
  b: number | boolean | null;
  /** b / a, when both are numbers and a is above 0 and b not below. */
  ratio: number | null;
  /** 'same' within ±1 %; null when the name does not say which way is good. */
  verdict: 'better' | 'worse' | 'same' | null;
}

/** Keys whose subtree is about the run, not a figure of Jarvis. */
const NOT_FIGURES = new Set([
  'machine',
  'machine_pace',
  'services',
  'settings',
  'loadavg',
  'check',
  'window_us',
  'code',
  'top',
  'rows',
  'per_second_series',
  'series',
  'by_message',
  'log_problems',
  'problems',
  'job_counts',
  'node_statuses',
  'profile',
  // what the run was asked to do, not what it measured
  'requests',
  'warmup',
  'concurrency',
  'in_flight',
  'rate',
  'submitted',
  'rounds',
  'pair',
  'order',
  'nodes',
  'n',
]);

/** The machine and the benchmark's own process, not Jarvis: load averages, other users' CPU, the client's lag. */
const ABOUT_THE_MACHINE = /^(loadavg|other_processes|machine_busy|bench_|start_lag)/;

/** Of a distribution (an object with p50 and p99) only these are figures. */
const DISTRIBUTION_KEEP = new Set(['p50', 'p99']);
const isDistribution = (o: Record<string, unknown>) => typeof o.p50 === 'number' && typeof o.p99 === 'number';

/** How an array element is named in a figure's path: by what identifies it, else its index. */
function elementName(x: unknown, i: number): string {
  if (x && typeof x === 'object' && !Array.isArray(x)) {
    const o = x as Record<string, unknown>;
    if (typeof o.label === 'string') return o.label;
    if (typeof o.nodes === 'number') return `nodes=${o.nodes}`;
    if (typeof o.shape === 'string') return o.shape;
    if (typeof o.rate === 'number') return `rate=${o.rate}`;
  }
  return String(i);
}

/** Every figure of a result, by its path (`a_submit_throughput.results[raw_bullmq].per_second`). */
export function figures(result: unknown): Map<string, number | boolean> {
  const out = new Map<string, number | boolean>();
  const walk = (v: unknown, path: string) => {
    if (typeof v === 'number' || typeof v === 'boolean') {
      if (typeof v === 'boolean' && !/meets_target|^.*\.met$/.test(path)) return;
      out.set(path, v);
      return;
    }
    if (Array.isArray(v)) {
      v.forEach((x, i) => walk(x, `${path}[${elementName(x, i)}]`));
      return;
    }
    if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      const dist = isDistribution(o);
      for (const [k, x] of Object.entries(o)) {
        if (NOT_FIGURES.has(k) || k.endsWith('_at') || ABOUT_THE_MACHINE.test(k)) continue;
        if (dist && !DISTRIBUTION_KEEP.has(k) && typeof x === 'number') continue;
        walk(x, path ? `${path}.${k}` : k);
      }
    }
  };
  if (result && typeof result === 'object') {
    for (const [k, x] of Object.entries(result as Record<string, unknown>)) {
      if (NOT_FIGURES.has(k) || k.endsWith('_at') || k === 'duration_s') continue;
      walk(x, k);
    }
  }
  return out;
}

const STATISTICS = new Set(['p50', 'p90', 'p99', 'mean', 'min', 'max']);

/**
 * Which way is good for a figure, from its name (of a statistic, the name of what it summarises);
 * null when the name does not say.
 */
export function direction(name: string): Direction {
  const parts = name.replace(/\[[^\]]*\]/g, '').split('.');
  let leaf = parts[parts.length - 1];
  if (STATISTICS.has(leaf) && parts.length > 1) leaf = parts[parts.length - 2];
  if (/meets_target|^met$/.test(leaf)) return 'higher';
  if (/cost|errors?$|lock_waits|waiting|busy|more_than_once|queued_again|placed_before|stall/.test(leaf)) return 'lower';
  if (/_over_(docker|dockerode)|_over_empty/.test(leaf)) return 'lower';
  if (/per_second|_over_raw/.test(leaf)) return 'higher';
  if (/_ms$|_ms_|ms_per_request|per_request|_mb$|rss|cpu|pct_of|_s$|_s_after/.test(leaf)) return 'lower';
  return null;
}

/** Changes smaller than this share are rounding and timer noise: 'same'. */
const SAME_WITHIN = 0.01;

export function compare(a: unknown, b: unknown): { changes: FigureChange[]; onlyA: string[]; onlyB: string[] } {
  const fa = figures(a);
  const fb = figures(b);
  const changes: FigureChange[] = [];
  for (const [name, va] of fa) {
    if (!fb.has(name)) continue;
    const vb = fb.get(name)!;
    const dir = direction(name);
    let ratio: number | null = null;
    let verdict: FigureChange['verdict'] = null;
    if (typeof va === 'number' && typeof vb === 'number') {
      ratio = va > 0 && vb >= 0 ? vb / va : null;
      if (vb === va || (ratio !== null && Math.abs(ratio - 1) < SAME_WITHIN)) verdict = 'same';
      else if (dir) verdict = (vb > va) === (dir === 'higher') ? 'better' : 'worse';
    } else if (typeof va === 'boolean' && typeof vb === 'boolean') {
      verdict = va === vb ? 'same' : vb ? 'better' : 'worse';
    }
    changes.push({ name, a: va, b: vb, ratio, verdict });
  }
  return { changes, onlyA: [...fa.keys()].filter((k) => !fb.has(k)), onlyB: [...fb.keys()].filter((k) => !fa.has(k)) };
}

const show = (v: number | boolean | null) => (v === null ? '-' : typeof v === 'boolean' ? (v ? 'met' : 'NOT met') : String(Math.round(v * 1000) / 1000));
const percent = (ratio: number | null) => (ratio === null ? '' : `${ratio >= 1 ? '+' : ''}${((ratio - 1) * 100).toFixed(1)}%`);
/** The change as a percentage, or as a difference when a ratio means nothing (a value at or below 0). */
const change = (c: FigureChange) =>
  c.ratio !== null ? percent(c.ratio) : typeof c.a === 'number' && typeof c.b === 'number' ? `${c.b >= c.a ? '+' : ''}${show(c.b - c.a)}` : '';

/** "12 figures of e_cluster_scale, 3 of a_submit_throughput (…)": what one run has and the other lacks. */
function bySection(names: string[]): string {
  const count = new Map<string, number>();
  for (const n of names) {
    const section = n.split(/[.[]/)[0];
    count.set(section, (count.get(section) ?? 0) + 1);
  }
  const shown = names.length <= 6 ? ` (${names.join(', ')})` : '';
  return [...count].map(([k, c]) => `${c} figure${c === 1 ? '' : 's'} of ${k}`).join(', ') + shown;
}

/** A run's machine pace (support/machine-pace.ts): the median over its probes, or null in runs before it was recorded. */
export function machinePace(result: unknown): { cpuMs: number; pingsPerSecond: number } | null {
  const probes = Object.values(((result as { machine_pace?: unknown } | null)?.machine_pace ?? {}) as Record<string, { cpu_ms?: unknown; redis_pings_per_second?: unknown }>);
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
  const cpu = probes.map((p) => p?.cpu_ms).filter((x): x is number => typeof x === 'number' && x > 0);
  const pings = probes.map((p) => p?.redis_pings_per_second).filter((x): x is number => typeof x === 'number' && x > 0);
  return cpu.length && pings.length ? { cpuMs: median(cpu), pingsPerSecond: median(pings) } : null;
}

/** The two runs' machine paces, and how much slower B's machine was: a change of that size in a figure may be the machine's. */
function paceLines(a: unknown, b: unknown): string[] {
  const pa = machinePace(a);
  const pb = machinePace(b);
  const one = (p: ReturnType<typeof machinePace>) => (p ? `${p.cpuMs} ms, ${p.pingsPerSecond} Redis PINGs/s` : 'not recorded');
  const lines = [`Machine pace (a fixed CPU task, median of the run's probes; lower ms is faster): A ${one(pa)}; B ${one(pb)}`];
  if (pa && pb) {
    const r = pb.cpuMs / pa.cpuMs;
    const what = Math.abs(r - 1) < 0.1 ? 'about as fast as A\'s' : r > 1 ? `${r.toFixed(2)}× slower than A's` : `${(1 / r).toFixed(2)}× faster than A's`;
    lines.push(`B's machine was ${what} at CPU work (Redis PINGs B/A ${(pb.pingsPerSecond / pa.pingsPerSecond).toFixed(2)}): figures move with the machine as well as the code.`);
  }
  return lines;
}

/** The comparison as a table, worst changes summarised at the end. */
export function formatComparison(aName: string, bName: string, a: unknown, b: unknown, worseBeyond = 0.1): string {
  const { changes, onlyA, onlyB } = compare(a, b);
  const width = Math.min(100, Math.max(20, ...changes.map((c) => c.name.length)));
  const lines = [`A: ${aName}`, `B: ${bName}`, ...paceLines(a, b), '', `${'figure'.padEnd(width)} ${'A'.padStart(12)} ${'B'.padStart(12)} ${'B/A'.padStart(8)} ${'change'.padStart(9)}  verdict`];
  for (const c of changes) {
    lines.push(
      `${c.name.padEnd(width)} ${show(c.a).padStart(12)} ${show(c.b).padStart(12)} ${(c.ratio === null ? '' : c.ratio.toFixed(3)).padStart(8)} ${change(c).padStart(9)}  ${c.verdict ?? ''}`,
    );
  }
  const count = (v: FigureChange['verdict']) => changes.filter((c) => c.verdict === v).length;
  lines.push('', `${changes.length} figures in both: ${count('better')} better, ${count('worse')} worse, ${count('same')} the same, ${changes.filter((c) => c.verdict === null).length} without a known direction.`);
  const big = changes.filter((c) => c.verdict === 'worse' && (c.ratio === null || Math.abs(c.ratio - 1) > worseBeyond));
  lines.push(`(same: within ±${SAME_WITHIN * 100}%; better/worse only where the name says which way is good)`);
  if (big.length) {
    lines.push(`Worse by more than ${worseBeyond * 100}% (or a target no longer met):`);
    for (const c of big) lines.push(`  ${c.name}: ${show(c.a)} → ${show(c.b)} ${change(c)}`);
  }
  if (onlyA.length) lines.push(`Only in A: ${bySection(onlyA)}`);
  if (onlyB.length) lines.push(`Only in B: ${bySection(onlyB)}`);
  if (changes.length === 0) lines.push('The two runs share no figure: compare runs of the same sections (--only).');
  return lines.join('\n') + '\n';
}

function readResult(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read benchmark result ${path}: ${(err as Error).message} (results are in bench/results/)`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${path} is not a benchmark result (not JSON: ${(err as Error).message})`);
  }
}

export function compareFiles(aPath: string, bPath: string): string {
  return formatComparison(aPath, bPath, readResult(aPath), readResult(bPath));
}
