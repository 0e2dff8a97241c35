// `jarvis up` without DATABASE_URL: which embedded database it picks, and that the private
// PostgreSQL server it runs (src/state/local-postgres.ts) lives and dies with it, even when
// Jarvis is killed (SIGKILL) and started again.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { embeddedChoice, openDatabase } from '../src/state/db.ts';
import { findPostgresBin } from '../src/state/local-postgres.ts';
import { TEST_IMAGE } from './support/env.ts';
import { api, runCli, startJarvis, stopPostgresPid, tempDir, uniquePrefix } from './support/jarvis.ts';
import { removeLeftovers } from './support/leftovers.ts';

// Redis keys and task containers of this file's processes; first, so that it runs after the
// other after-hooks, once those processes are stopped.
afterAll(removeLeftovers);

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

const isFinal = (t: { status: string }) => ['succeeded', 'failed', 'timed_out', 'cancelled'].includes(t.status);
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const serverPid = (dir: string) => Number(readFileSync(join(dir, 'postmaster.pid'), 'utf8').split('\n')[0]);

describe('choosing the embedded database', () => {
  const bin = findPostgresBin();

  it('finds this machine\'s PostgreSQL binaries (the test machine has Debian\'s)', () => {
    expect(bin).toMatch(/bin$/);
  });

  it('picks the private PostgreSQL server beside the data directory when binaries exist', () => {
    const root = tempDir();
    expect(embeddedChoice(join(root, '.jarvis', 'pglite'), {})).toEqual({ kind: 'postgres', bin, dir: join(root, '.jarvis', 'postgres') });
    expect(embeddedChoice(join(root, 'state'), {})).toEqual({ kind: 'postgres', bin, dir: join(root, 'state-postgres') });
  });

  it('keeps a PGlite database an older Jarvis left, and obeys JARVIS_EMBEDDED_DB', () => {
    const dataDir = join(tempDir(), 'pglite');
    expect(embeddedChoice(dataDir, { JARVIS_EMBEDDED_DB: 'pglite' })).toEqual({ kind: 'pglite' });
    mkdirSync(dataDir);
    writeFileSync(join(dataDir, 'PG_VERSION'), '17\n');
    expect(embeddedChoice(dataDir, {})).toEqual({ kind: 'pglite' });
    expect(embeddedChoice(dataDir, { JARVIS_EMBEDDED_DB: 'postgres' }).kind).toBe('postgres');
    expect(() => embeddedChoice(dataDir, { JARVIS_EMBEDDED_DB: 'mysql' })).toThrow('JARVIS_EMBEDDED_DB must be pglite or postgres, got "mysql"');
    expect(() => embeddedChoice(dataDir, { JARVIS_EMBEDDED_DB: 'postgres', JARVIS_POSTGRES_BIN: '/nowhere' })).toThrow(/no PostgreSQL server binaries were found.*apt-get install postgresql/);
  });
});

describe('a machine that cannot run the private server', () => {
  it('falls back to PGlite on a first start, says why, and keeps PGlite afterwards', async () => {
    const root = tempDir();
    const bin = join(root, 'bin');
    mkdirSync(bin);
    for (const name of ['initdb', 'postgres']) {
      writeFileSync(join(bin, name), '#!/bin/sh\necho "initdb: cannot run here" >&2\nexit 1\n');
      chmodSync(join(bin, name), 0o755);
    }
    const saved = process.env.JARVIS_POSTGRES_BIN;
    process.env.JARVIS_POSTGRES_BIN = bin;
    try {
      const dataDir = join(root, '.jarvis', 'pglite');
      const db = await openDatabase({ url: null, dataDir });
      await db.ping();
      await db.close();
      expect(db.kind).toBe('pglite');
      expect(db.label).toContain('the private PostgreSQL server could not start: cannot create the embedded PostgreSQL database');
      expect(db.label).toContain('initdb: cannot run here');
      expect(existsSync(join(root, '.jarvis', 'postgres'))).toBe(false);
      expect(embeddedChoice(dataDir, process.env)).toEqual({ kind: 'pglite' });
    } finally {
      if (saved === undefined) delete process.env.JARVIS_POSTGRES_BIN;
      else process.env.JARVIS_POSTGRES_BIN = saved;
    }
  }, 120_000);
});

describe('jarvis up on its private PostgreSQL server', () => {
  it('starts the server as its child, stops it on SIGTERM, and after a SIGKILL takes over the server left behind', async () => {
    const prefix = uniquePrefix();
    const root = tempDir();
    const dataDir = join(root, '.jarvis', 'pglite');
    const pgDir = join(root, '.jarvis', 'postgres');
    const first = await startJarvis({ databaseUrl: null, prefix, dataDir });
    cleanups.push(() => first.shutdown());
    expect(first.output()).toContain(`"database":"embedded PostgreSQL in ${pgDir}`);
    // The banner names the database it opened (it said "kept in .jarvis/pglite" for this one).
    expect(first.output()).toMatch(new RegExp(`^  Database +embedded PostgreSQL in ${pgDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(`, 'm'));
    let http = api(first.url);
    const done = await http.post('/tasks', { image: TEST_IMAGE, command: 'echo kept; exit 3', name: 'keep-me' });
    const before = await http.waitForTask(done.body.id, isFinal);
    expect(before).toMatchObject({ status: 'failed', exit_code: 3 });
    const kept = (await http.get(`/tasks/${done.body.id}`)).body;
    const leftover = serverPid(pgDir);
    // Killed on purpose below, `first` leaves its server running: if the test fails before the
    // next start takes it over, stop it here.
    cleanups.push(() => stopPostgresPid(leftover));
    await first.stop('SIGKILL');
    expect(alive(leftover)).toBe(true); // PostgreSQL outlives a killed parent…

    const second = await startJarvis({ databaseUrl: null, prefix, dataDir });
    cleanups.push(() => second.shutdown());
    expect(alive(leftover)).toBe(false); // …until the next start stops it and starts its own.
    http = api(second.url);
    expect((await http.get(`/tasks/${done.body.id}`)).body).toEqual(kept);
    const own = serverPid(pgDir);
    expect(own).not.toBe(leftover);
    await second.stop('SIGTERM');
    expect(alive(own)).toBe(false);
    expect(existsSync(join(pgDir, 'postmaster.pid'))).toBe(false);
  });
});

describe('stale pid files after a reboot', () => {
  it('never signals the unrelated process that now has a pid file\'s number, and starts', async () => {
    const root = tempDir();
    const dataDir = join(root, '.jarvis', 'pglite');
    const pgDir = join(root, '.jarvis', 'postgres');
    const first = await startJarvis({ databaseUrl: null, dataDir });
    cleanups.push(() => first.shutdown());
    await first.stop('SIGTERM');
    // Another program got the numbers the pid files hold.
    const other = spawn('sleep', ['60'], { stdio: 'ignore' });
    cleanups.push(async () => other.kill('SIGKILL'));
    writeFileSync(join(pgDir, 'postmaster.pid'), `${other.pid}\n${pgDir}\n`);
    writeFileSync(join(pgDir, 'jarvis.pid'), `${other.pid}\n`);
    const second = await startJarvis({ databaseUrl: null, dataDir });
    cleanups.push(() => second.shutdown());
    expect(alive(other.pid!)).toBe(true);
    expect(other.exitCode).toBeNull();
    expect((await api(second.url).get('/health')).status).toBe(200);
  });
});

describe('jarvis keys create beside a running jarvis up', () => {
  it("joins the running private server as a client, and the new key ends open mode", async () => {
    const root = tempDir();
    const dataDir = join(root, '.jarvis', 'pglite');
    const up = await startJarvis({ databaseUrl: null, dataDir });
    cleanups.push(() => up.shutdown());
    const http = api(up.url);
    expect((await http.get('/tasks')).status).toBe(200); // open mode
    const made = await runCli(['keys', 'create', '--name', 'first', '--role', 'admin'], { JARVIS_DATA_DIR: dataDir, DATABASE_URL: '' });
    expect(made.code, made.stderr).toBe(0);
    expect(made.stderr).not.toMatch(/in use/);
    const key = /jvk_\S+/.exec(made.stdout)?.[0];
    expect(key).toBeDefined();
    // The running control plane sees the key within a second: open mode is over.
    let status = 200;
    for (let i = 0; i < 100 && status === 200; i++) {
      status = (await http.get('/tasks')).status;
      if (status === 200) await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe(401);
    expect((await http.call('GET', '/tasks', undefined, { authorization: `Bearer ${key}` })).status).toBe(200);
  });
});

describe('jarvis up at rest', () => {
  it('closes the private server\'s idle connections within seconds of a burst', async () => {
    // Each idle backend holds ~16-22 MB of RSS; `jarvis up` idles at rest (issue #17, item 2).
    const root = tempDir();
    const pgDir = join(root, '.jarvis', 'postgres');
    const up = await startJarvis({ databaseUrl: null, prefix: uniquePrefix(), dataDir: join(root, '.jarvis', 'pglite') });
    cleanups.push(() => up.shutdown());
    const http = api(up.url);
    // Connections to the server over its unix socket ("[local]" in their process titles).
    const backends = () =>
      execFileSync('ps', ['--ppid', String(serverPid(pgDir)), '-o', 'args='], { encoding: 'utf8' })
        .split('\n')
        .filter((l) => l.includes('[local]')).length;
    const burst = await Promise.all(Array.from({ length: 40 }, () => http.get('/tasks?limit=5')));
    expect(burst.every((r) => r.status === 200)).toBe(true);
    const afterBurst = backends();
    expect(afterBurst, 'the burst used several connections at once').toBeGreaterThan(3);
    const until = Date.now() + 4_000;
    let left = afterBurst;
    while (left > 2 && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 200));
      left = backends();
    }
    // At most what a periodic pass has open; the pool's default kept them for 10 s.
    expect(left).toBeLessThanOrEqual(2);
  });
});

describe('jarvis up on PGlite (the fallback without PostgreSQL binaries)', () => {
  it('runs a task and keeps it across a restart, with its small-buffer settings', async () => {
    const prefix = uniquePrefix();
    const dataDir = join(tempDir(), '.jarvis', 'pglite');
    const env = { JARVIS_EMBEDDED_DB: 'pglite' };
    const first = await startJarvis({ databaseUrl: null, prefix, dataDir, env });
    cleanups.push(() => first.shutdown());
    expect(first.output()).toContain(`"database":"embedded PGlite in ${dataDir}"`);
    let http = api(first.url);
    const done = await http.post('/tasks', { image: TEST_IMAGE, command: ['echo', 'on pglite'] });
    expect((await http.waitForTask(done.body.id, isFinal)).status).toBe('succeeded');
    const kept = (await http.get(`/tasks/${done.body.id}`)).body;
    await first.stop('SIGTERM');
    const second = await startJarvis({ databaseUrl: null, prefix, dataDir, env });
    cleanups.push(() => second.shutdown());
    http = api(second.url);
    expect((await http.get(`/tasks/${done.body.id}`)).body).toEqual(kept);
    expect(existsSync(join(dataDir, '..', 'postgres'))).toBe(false);
  });
});
