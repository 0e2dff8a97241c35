import { describe, expect, it } from 'vitest';
import { compare, direction, figures, formatComparison, machinePace } from './compare.ts';

// Two small results shaped like bench/results/*.json.
const A = {
  benchmark: 'foundation',
  started_at: '2026-11-22T20:59:01Z',
  machine: { cpu_cores: 2 },
  settings: { requests: 5000 },
  loadavg: { a_start: [1.5, 1, 1] },
  duration_s: 400,
  a_submit_throughput: {
    results: [
      { label: 'raw_bullmq', requests: 5000, per_second: 20000, latency_ms: { n: 5000, p50: 1.2, p90: 2, p99: 3, mean: 1.4, min: 0.3, max: 9 }, errors: 0 },
      { label: 'jarvis_postgres', requests: 5000, per_second: 2000, latency_ms: { n: 5000, p50: 12, p90: 20, p99: 30, mean: 14, min: 3, max: 90 }, errors: 0, check: { rows: 5500 } },
    ],
    ratio: { jarvis_postgres_over_raw: 0.1, meets_target: false, target: '≥ 0.5' },
  },
  b_submit_to_succeeded: { ratio: { jarvis_p50_over_docker_run_p50: 1.3 }, warmup: 3, jarvis_submit_to_succeeded_ms: { p50: 100, p99: 200 } },
  e_cluster_scale: {
    runs: [{ nodes: 100, drain: { placements_per_second: 3000, cpu: { server_pct_of_one_core: 80, other_processes_pct_of_all_cores: 3 }, capped: false } }],
  },
};
const B = {
  ...A,
  started_at: '2026-12-01T10:00:00Z',
  duration_s: 420,
  a_submit_throughput: {
    results: [
      { label: 'jarvis_postgres', requests: 5000, per_second: 6600, latency_ms: { n: 5000, p50: 12.05, p90: 20, p99: 45, mean: 14, min: 3, max: 90 }, errors: 2 },
      { label: 'raw_bullmq', requests: 5000, per_second: 20000, latency_ms: { n: 5000, p50: 1.2, p90: 2, p99: 3, mean: 1.4, min: 0.3, max: 9 }, errors: 0 },
    ],
    ratio: { jarvis_postgres_over_raw: 0.33, meets_target: true, target: '≥ 0.3' },
  },
  b_submit_to_succeeded: { ratio: { jarvis_p50_over_docker_run_p50: 1.1 }, warmup: 3, jarvis_submit_to_succeeded_ms: { p50: 105, p99: 200 } },
  e_cluster_scale: {
    runs: [
      { nodes: 100, drain: { placements_per_second: 2400, cpu: { server_pct_of_one_core: 90, other_processes_pct_of_all_cores: 40 }, capped: false } },
      { nodes: 1000, drain: { placements_per_second: 2000 } },
    ],
  },
};

describe('figures', () => {
  it('names figures by path, array elements by label or node count, and leaves out run facts', () => {
    const f = figures(A);
    expect(f.get('a_submit_throughput.results[raw_bullmq].per_second')).toBe(20000);
    expect(f.get('a_submit_throughput.results[jarvis_postgres].latency_ms.p99')).toBe(30);
    expect(f.get('e_cluster_scale.runs[nodes=100].drain.placements_per_second')).toBe(3000);
    expect(f.get('a_submit_throughput.ratio.meets_target')).toBe(false);
    const names = [...f.keys()];
    // settings, machine, load, timestamps, checks, counts asked for and the machine's other load are not figures
    for (const left of ['settings', 'machine', 'loadavg', 'duration_s', 'check', '.requests', 'latency_ms.n', 'latency_ms.mean', 'other_processes', 'capped', '.target']) {
      expect(names.filter((n) => n.includes(left))).toEqual([]);
    }
  });
});

describe('direction', () => {
  it.each([
    ['a_submit_throughput.results[x].per_second', 'higher'],
    ['a_submit_throughput.ratio.jarvis_postgres_over_raw', 'higher'],
    ['a_submit_throughput.ratio.meets_target', 'higher'],
    ['e_cluster_scale.runs[nodes=100].drain.per_second.p50', 'higher'],
    ['a_submit_throughput.results[x].latency_ms.p99', 'lower'],
    ['a_submit_throughput.results[x].errors', 'lower'],
    ['a_submit_throughput.results[x].jarvis_cpu_ms_per_request', 'lower'],
    ['b_submit_to_succeeded.ratio.jarvis_p50_over_docker_run_p50', 'lower'],
    ['d_metrics_cost.summary.median_rate_cost_pct', 'lower'],
    ['e_cluster_scale.runs[nodes=100].worker_start.worker_rss_mb', 'lower'],
    ['e_cluster_scale.runs[nodes=100].redis_keys_removed', null],
  ])('%s: %s is better', (name, dir) => {
    expect(direction(name)).toBe(dir);
  });
});

describe('compare', () => {
  const { changes, onlyA, onlyB } = compare(A, B);
  const byName = (n: string) => changes.find((c) => c.name === n)!;

  it('gives A, B, the ratio and a verdict per figure in both, matching array elements by label, not position', () => {
    expect(byName('a_submit_throughput.results[jarvis_postgres].per_second')).toEqual({
      name: 'a_submit_throughput.results[jarvis_postgres].per_second',
      a: 2000,
      b: 6600,
      ratio: 3.3,
      verdict: 'better',
    });
    expect(byName('a_submit_throughput.results[jarvis_postgres].latency_ms.p99')).toMatchObject({ a: 30, b: 45, ratio: 1.5, verdict: 'worse' });
    expect(byName('e_cluster_scale.runs[nodes=100].drain.placements_per_second')).toMatchObject({ ratio: 0.8, verdict: 'worse' });
    expect(byName('b_submit_to_succeeded.ratio.jarvis_p50_over_docker_run_p50').verdict).toBe('better');
    expect(byName('a_submit_throughput.ratio.meets_target')).toMatchObject({ a: false, b: true, ratio: null, verdict: 'better' });
  });

  it('calls a change within 1 % the same, and a change from 0 has no ratio', () => {
    expect(byName('a_submit_throughput.results[jarvis_postgres].latency_ms.p50')).toMatchObject({ verdict: 'same' });
    expect(byName('a_submit_throughput.results[raw_bullmq].per_second')).toMatchObject({ ratio: 1, verdict: 'same' });
    expect(byName('a_submit_throughput.results[jarvis_postgres].errors')).toMatchObject({ a: 0, b: 2, ratio: null, verdict: 'worse' });
  });

  it('lists figures found in one run only', () => {
    expect(onlyA).toEqual([]);
    expect(onlyB).toEqual(['e_cluster_scale.runs[nodes=1000].drain.placements_per_second']);
  });

  it('prints a table and names what got worse by more than 10 %', () => {
    const text = formatComparison('a.json', 'b.json', A, B);
    expect(text).toMatch(/^A: a\.json\nB: b\.json\n/);
    expect(text).toMatch(/a_submit_throughput\.results\[jarvis_postgres\]\.per_second\s+2000\s+6600\s+3\.300\s+\+230\.0%\s+better/);
    const worse = text.slice(text.indexOf('Worse by more than 10%'));
    expect(worse).toContain('latency_ms.p99: 30 → 45 +50.0%');
    expect(worse).toContain('e_cluster_scale.runs[nodes=100].drain.placements_per_second: 3000 → 2400 -20.0%');
    expect(worse).toContain('errors: 0 → 2 +2');
    expect(worse).toContain('cpu.server_pct_of_one_core: 80 → 90 +12.5%');
    // 5 % worse: in the table as worse, not in the list of big changes
    expect(text).toMatch(/jarvis_submit_to_succeeded_ms\.p50\s+100\s+105\s+1\.050\s+\+5\.0%\s+worse/);
    expect(worse).not.toContain('jarvis_submit_to_succeeded_ms');
    expect(text).toContain('Only in B: 1 figure of e_cluster_scale (e_cluster_scale.runs[nodes=1000].drain.placements_per_second)');
    expect(text).toContain('15 figures in both: 4 better, 5 worse, 6 the same, 0 without a known direction.');
  });

  it("heads the table with both runs' machine pace, and how much slower B's machine was", () => {
    const paced = (cpu: number[], pings: number[]) => ({
      machine_pace: Object.fromEntries(cpu.map((c, i) => [`s${i}`, { cpu_ms: c, redis_pings_per_second: pings[i] }])),
    });
    const a = { ...A, ...paced([40, 44, 41], [50_000, 48_000, 52_000]) };
    const b = { ...B, ...paced([90, 82, 300], [20_000, 25_000, 22_000]) };
    expect(machinePace(a)).toEqual({ cpuMs: 41, pingsPerSecond: 50_000 });
    expect(machinePace(b)).toEqual({ cpuMs: 90, pingsPerSecond: 22_000 });
    expect([...figures(b).keys()].some((k) => k.startsWith('machine_pace'))).toBe(false);
    const text = formatComparison('a.json', 'b.json', a, b);
    expect(text).toContain("Machine pace (a fixed CPU task, median of the run's probes; lower ms is faster): A 41 ms, 50000 Redis PINGs/s; B 90 ms, 22000 Redis PINGs/s");
    expect(text).toContain("B's machine was 2.20× slower than A's at CPU work (Redis PINGs B/A 0.44)");
    expect(formatComparison('b.json', 'a.json', b, a)).toContain("B's machine was 2.20× faster than A's");
    expect(formatComparison('a.json', 'a2.json', a, a)).toContain("B's machine was about as fast as A's");
    // Runs from before the probe existed
    expect(machinePace(A)).toBeNull();
    expect(formatComparison('old.json', 'b.json', A, b)).toContain('A not recorded; B 90 ms');
  });
});
