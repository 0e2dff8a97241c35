// `npm run quickstart` as a fresh machine runs it: the package manager reports nothing installed
// (stand-in dpkg-query answering as Debian's does, exit 1), apt-get is a stand-in that records
// what it is asked (the packages really are on this machine, so "installing" them is a no-op),
// and the script must go on to start Jarvis, which answers /health and runs a task.
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { api, ROOT, spawnJarvis, uniquePrefix } from './support/jarvis.ts';
import { freePort } from './support/services.ts';
import { REDIS_URL } from './support/env.ts';
import { removeLeftovers, watchNodeIds } from './support/leftovers.ts';

// Redis keys and task containers of this file's processes; first, so that it runs after the
// other after-hooks, once those processes are stopped.
afterAll(removeLeftovers);

describe('npm run quickstart on a machine that reports nothing installed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'jarvis-quickstart-'));
  let proc: ReturnType<typeof spawnJarvis> | undefined;
  afterAll(async () => {
    await proc?.shutdown();
  });

  it('asks apt-get for the packages, goes on, and ends with Jarvis answering', async () => {
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    const calls = join(dir, 'apt-calls');
    writeFileSync(calls, '');
    writeFileSync(join(bin, 'dpkg-query'), '#!/bin/sh\nfor a; do case "$a" in -*) ;; *) echo "dpkg-query: no packages found matching $a" >&2 ;; esac; done\nexit 1\n');
    writeFileSync(join(bin, 'apt-get'), `#!/bin/sh\necho "$*" >>'${calls}'\n`);
    chmodSync(join(bin, 'dpkg-query'), 0o755);
    chmodSync(join(bin, 'apt-get'), 0o755);

    const port = await freePort();
    const prefix = uniquePrefix();
    // spawnJarvis runs `node bin/jarvis.js ARGS`; here the command is the npm script itself.
    const child = spawn('npm', ['run', 'quickstart'], {
      cwd: ROOT,
      env: {
        ...process.env,
        PATH: `${bin}:${process.env.PATH}`,
        PORT: String(port),
        REDIS_URL,
        JARVIS_REDIS_PREFIX: prefix,
        JARVIS_WORKER_NAME: `node-${prefix}`,
        JARVIS_DATA_DIR: join(dir, 'pglite'),
        JARVIS_LOG_DIR: join(dir, 'logs'),
        JARVIS_POLICY_RC_D: join(dir, 'policy-rc.d'),
        DATABASE_URL: '',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    proc = {
      child,
      url: '',
      output: () => out,
      exited,
      waitFor: async () => [] as unknown as RegExpMatchArray,
      async stop() {
        if (child.exitCode === null) process.kill(-child.pid!, 'SIGTERM');
        return exited;
      },
      // The whole process group (npm, its shell, jarvis and its PostgreSQL): SIGTERM, then SIGKILL.
      async shutdown(graceMs = 10_000) {
        if (child.exitCode !== null || child.signalCode !== null) return exited;
        process.kill(-child.pid!, 'SIGTERM');
        const timer = setTimeout(() => {
          try {
            process.kill(-child.pid!, 'SIGKILL');
          } catch {
            // gone meanwhile
          }
        }, graceMs);
        return exited.finally(() => clearTimeout(timer));
      },
    };
    watchNodeIds(() => out, exited);

    const until = Date.now() + 90_000;
    let healthy = false;
    while (Date.now() < until && child.exitCode === null) {
      const r = await fetch(`http://127.0.0.1:${port}/health`).catch(() => null);
      if (r?.status === 200 && /worker: registered/.test(out)) {
        healthy = true;
        break;
      }
      await new Promise((res) => setTimeout(res, 250));
    }
    expect(healthy, `quickstart never became healthy; output:\n${out.slice(-3000)}`).toBe(true);

    const asked = readFileSync(calls, 'utf8');
    expect(asked).toMatch(/update/);
    expect(asked).toMatch(/install -y -qq redis-server postgresql docker\.io busybox-static curl/);
    expect(out).toContain('installing redis-server postgresql docker.io busybox-static curl');

    const client = api(`http://127.0.0.1:${port}`);
    const sub = await client.post('/tasks', { image: 'jarvis/busybox:latest', command: 'echo quickstart-ok' });
    expect(sub.status).toBe(201);
    const done = await client.waitForTask(sub.body.id, (t) => t.status === 'succeeded', 30_000);
    expect(done.exit_code).toBe(0);
    const logs = await client.get(`/tasks/${sub.body.id}/logs`);
    expect(logs.body.logs).toContain('quickstart-ok');
  });
});
