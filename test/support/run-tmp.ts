// Vitest global setup: every temporary file of a test run goes under one folder of its own, which
// is removed when the run ends. Tests, the Jarvis processes they start (embedded databases, private
// PostgreSQL servers) and the browsers all take their folders from os.tmpdir(), which reads TMPDIR;
// setting it here, before the workers are forked, reaches them all. Before this, every run left
// some 100 folders of up to 41 MB in /tmp, and after a few days of runs the disk filled and the
// whole suite failed at collection.
//
// A run that is killed cannot clean up after itself: the next run removes the folders of runs whose
// process is gone (the folder's name carries the pid of the vitest that made it).
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { aliveAs } from '../../src/state/local-postgres.ts';

const PREFIX = 'jarvis-tests-';
const OWNER_ENV = 'JARVIS_TEST_RUN_TMP';

/** Removes the folders of earlier runs whose vitest is gone. Returns how many it removed. */
export function sweepDeadRuns(base: string): number {
  let removed = 0;
  for (const name of readdirSync(base)) {
    const m = new RegExp(`^${PREFIX}(\\d+)-`).exec(name);
    // A pid counts only while it is still a node process (pids are reused).
    if (!m || aliveAs(Number(m[1]), 'node')) continue;
    rmSync(join(base, name), { recursive: true, force: true, maxRetries: 3 });
    removed++;
  }
  return removed;
}

export function setup(): () => void {
  // Each project runs the global setup; the first one makes the folder, the others share it.
  if (process.env[OWNER_ENV] && existsSync(process.env[OWNER_ENV]!)) return () => {};
  const base = tmpdir();
  sweepDeadRuns(base);
  const dir = mkdtempSync(join(base, `${PREFIX}${process.pid}-`));
  // Open as /tmp is (sticky, world-writable): tests run scripts as other users (nobody, postgres).
  chmodSync(dir, 0o1777);
  process.env[OWNER_ENV] = dir;
  process.env.TMPDIR = dir;
  return () => {
    process.env.TMPDIR = base;
    delete process.env[OWNER_ENV];
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  };
}
