// Memory of a process and everything under it, from /proc (Linux): VmRSS summed over the tree
// (what `ps` shows; pages shared between processes, like PostgreSQL's shared buffers and its
// binary, count once per process) and Pss (each shared page split between the processes sharing
// it: the tree's fair share of the machine's memory).
import { readdirSync, readFileSync } from 'node:fs';
import { processCpuMs } from './services.ts';

export interface TreeMemory {
  processes: Array<{ pid: number; name: string; rss_mb: number; pss_mb: number }>;
  rss_mb: number;
  pss_mb: number;
}

function parentOf(pid: string): number | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return null;
  }
}

/** The pid and all its descendants, alive now. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const pp = parentOf(d);
    if (pp === null) continue;
    let list = children.get(pp);
    if (!list) children.set(pp, (list = []));
    list.push(Number(d));
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length) {
    const p = stack.pop() as number;
    out.push(p);
    stack.push(...(children.get(p) ?? []));
  }
  return out;
}

const mb = (kb: number) => Math.round((kb / 1024) * 10) / 10;

export function treeMemory(root: number): TreeMemory {
  const processes: TreeMemory['processes'] = [];
  for (const pid of processTree(root)) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      const name = /Name:\s+(\S+)/.exec(status)?.[1] ?? '?';
      let pss = rss;
      try {
        pss = Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? rss);
      } catch {
        /* no smaps_rollup (old kernel): Pss unknown, use Rss */
      }
      processes.push({ pid, name, rss_mb: mb(rss), pss_mb: mb(pss) });
    } catch {
      /* ended meanwhile */
    }
  }
  const sum = (k: 'rss_mb' | 'pss_mb') => Math.round(processes.reduce((a, p) => a + p[k], 0) * 10) / 10;
  return { processes, rss_mb: sum('rss_mb'), pss_mb: sum('pss_mb') };
}

/** CPU time (ms, user + system) used so far by each process of the tree (processCpuMs each). */
export function treeCpuMsByPid(root: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const pid of processTree(root)) {
    const ms = processCpuMs(pid);
    if (ms !== null) out.set(pid, ms);
  }
  return out;
}

/** The tree's CPU between two treeCpuMsByPid() readings `seconds` apart, in % of one core (processes in both). */
export function treeCpuPct(before: Map<number, number>, after: Map<number, number>, seconds: number): number {
  let ms = 0;
  for (const [pid, t] of after) ms += t - (before.get(pid) ?? t);
  return Math.round(ms / seconds) / 10; // 1,000 ms a second = 100 % of a core, to 0.1
}
