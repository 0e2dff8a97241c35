// Summarises a V8 .cpuprofile (node --cpu-prof): where the process spent its CPU, by package
// (self and inclusive: "samples with this package anywhere on the stack") and by function.
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

function packageOf(url: string, functionName: string): string {
  if (!url) {
    if (functionName === '(idle)' || functionName === '(garbage collector)' || functionName === '(program)' || functionName === '(root)') {
      return functionName;
    }
    return '(native)';
  }
  if (url.startsWith('node:')) return 'node:' + url.slice(5).split('/')[0];
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  const src = url.indexOf('/src/');
  if (src >= 0) return 'jarvis ' + url.slice(src + 1);
  return url.replace(/^file:\/\//, '');
}

export interface ProfileSummary {
  file: string;
  wall_ms: number;
  sampled_ms: number;
  busy_ms: number;
  by_package_self: Array<{ name: string; ms: number; pct_of_busy: number }>;
  by_package_inclusive: Array<{ name: string; ms: number; pct_of_busy: number }>;
  top_functions_self: Array<{ name: string; ms: number; pct_of_busy: number }>;
}

/**
 * `window`: only samples taken between these CLOCK_MONOTONIC times in µs (the clock both V8's
 * profile timestamps and process.hrtime use), so start-up does not dilute the measured phase.
 */
export function summarizeProfile(file: string, window?: { fromUs: number; toUs: number }, top = 25): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of p.nodes) byId.set(n.id, n);
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const fn = new Map<string, number>();
  let sampled = 0;
  let idle = 0;
  const pkgCache = new Map<number, string>();
  const pkg = (id: number) => {
    let v = pkgCache.get(id);
    if (v === undefined) {
      const n = byId.get(id)!;
      v = packageOf(n.callFrame.url, n.callFrame.functionName);
      pkgCache.set(id, v);
    }
    return v;
  };
  let t = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i] ?? 0;
    if (window && (t < window.fromUs || t > window.toUs)) continue;
    const dt = (p.timeDeltas[i + 1] ?? p.timeDeltas[i] ?? 0) / 1000;
    const id = p.samples[i];
    const n = byId.get(id);
    if (!n) continue;
    sampled += dt;
    const name = pkg(id);
    if (name === '(idle)') {
      idle += dt;
      continue;
    }
    self.set(name, (self.get(name) ?? 0) + dt);
    const f = `${n.callFrame.functionName || '(anonymous)'} ${name}:${n.callFrame.lineNumber + 1}`;
    fn.set(f, (fn.get(f) ?? 0) + dt);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const pn = pkg(cur);
      if (pn === '(root)' || seen.has(pn)) continue;
      seen.add(pn);
      inclusive.set(pn, (inclusive.get(pn) ?? 0) + dt);
    }
  }
  const busy = sampled - idle;
  const rows = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, ms]) => ({ name, ms: Math.round(ms), pct_of_busy: Math.round((ms / busy) * 1000) / 10 }));
  return {
    file,
    wall_ms: Math.round(((window ? Math.min(window.toUs, p.endTime) - Math.max(window.fromUs, p.startTime) : p.endTime - p.startTime)) / 1000),
    sampled_ms: Math.round(sampled),
    busy_ms: Math.round(busy),
    by_package_self: rows(self),
    by_package_inclusive: rows(inclusive),
    top_functions_self: rows(fn),
  };
}
