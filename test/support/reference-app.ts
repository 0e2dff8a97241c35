// The FastAPI + Pydantic v2 reference app (test/reference/app.py) for the differential test:
// its virtualenv is made by scripts/reference-app.sh (idempotent; about 30 s on a machine that
// has none yet), then uvicorn serves it on a free loopback port.
import { execFile, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './jarvis.ts';

export interface ReferenceApp {
  url: string;
  stop(): Promise<void>;
}

/** Runs scripts/reference-app.sh; returns the venv's python. Its own errors name the failed step. */
export async function ensureReferenceApp(): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)('bash', [join(ROOT, 'scripts/reference-app.sh')], { cwd: ROOT, timeout: 300_000 });
    return stdout.trim().split('\n').pop() as string;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`could not set up the FastAPI reference app (scripts/reference-app.sh):\n${e.stderr || e.message}`);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export async function startReferenceApp(python: string): Promise<ReferenceApp> {
  const port = await freePort();
  const args = ['-m', 'uvicorn', '--app-dir', join(ROOT, 'test/reference'), 'app:app', '--host', '127.0.0.1', '--port', String(port), '--log-level', 'warning', '--timeout-keep-alive', '60'];
  const child = spawn(python, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const url = `http://127.0.0.1:${port}`;
  const until = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the reference app exited at start (${python} ${args.join(' ')}):\n${out}`);
    const ok = await fetch(`${url}/health`).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > until) {
      child.kill('SIGKILL');
      throw new Error(`the reference app did not answer on ${url} within 30 s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
