// Where a stand-alone bench script (not `npm run bench`'s sections) keeps its figures:
// bench/results/NAME-<time>-<commit>.json, with the commit and the machine's load beside them.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { RESULTS_DIR } from './harness.ts';
import { ROOT } from './jarvis.ts';
import { round } from './stats.ts';

/** The checkout's short commit, or "unknown" outside a git checkout. */
export function shortCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    return 'unknown';
  }
}

/** Writes `{commit, machine, ...figures}` to bench/results/NAME-<time>-<commit>.json; returns the path. */
export function writeResultFile(name: string, figures: Record<string, unknown>): string {
  const commit = shortCommit();
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `${name}-${new Date().toISOString().replace(/:/g, '-').replace(/\.\d+Z$/, 'Z')}-${commit}.json`);
  writeFileSync(file, `${JSON.stringify({ commit, machine: { cpus: os.cpus().length, loadavg: os.loadavg().map((l) => round(l, 2)) }, ...figures }, null, 2)}\n`);
  return file;
}
