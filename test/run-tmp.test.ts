// The suite's temporary folder: one per run, removed at its end, and a killed run's removed by the
// next (test/support/run-tmp.ts is vitest's global setup).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { setup, sweepDeadRuns } from './support/run-tmp.ts';

const saved = { TMPDIR: process.env.TMPDIR, JARVIS_TEST_RUN_TMP: process.env.JARVIS_TEST_RUN_TMP };
afterEach(() => {
  for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
});

test('this run works inside its own folder, which the global setup made', () => {
  expect(tmpdir()).toMatch(/\/jarvis-tests-\d+-[^/]+$/);
  expect(process.env.JARVIS_TEST_RUN_TMP).toBe(tmpdir());
});

test('a run gets a folder of its own, and loses it, with all it holds, at its end', () => {
  const base = mkdtempSync(join(tmpdir(), 'base-'));
  process.env.TMPDIR = base;
  delete process.env.JARVIS_TEST_RUN_TMP;
  const teardown = setup();
  const dir = tmpdir();
  expect(dir.startsWith(join(base, `jarvis-tests-${process.pid}-`))).toBe(true);
  expect(statSync(dir).mode & 0o7777).toBe(0o1777); // as /tmp: scripts run as other users use it too
  mkdirSync(join(dir, 'pglite', 'base'), { recursive: true });
  writeFileSync(join(dir, 'pglite', 'base', 'file'), 'x');
  expect(setup()).toBeTypeOf('function'); // a second project's setup shares the folder
  expect(tmpdir()).toBe(dir);
  teardown();
  expect(existsSync(dir)).toBe(false);
  expect(tmpdir()).toBe(base);
  expect(readdirSync(base)).toEqual([]);
});

test("the folders of killed runs are removed; a live run's and anything else are left", () => {
  const base = mkdtempSync(join(tmpdir(), 'base-'));
  const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
  for (const name of [`jarvis-tests-${gone}-a1`, `jarvis-tests-${process.pid}-b2`, 'jarvis-test-c3', 'other']) {
    mkdirSync(join(base, name, 'inner'), { recursive: true });
  }
  expect(sweepDeadRuns(base)).toBe(1);
  expect(readdirSync(base).sort()).toEqual(['jarvis-test-c3', `jarvis-tests-${process.pid}-b2`, 'other']);
  rmSync(base, { recursive: true });
});
