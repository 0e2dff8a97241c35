// Starts real Jarvis processes (`jarvis up`, `server`, `worker`) for a test, each test with its
// own Redis prefix and database, and stops them afterwards. Output is kept for failure reports.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { REDIS_URL } from './env.ts';
import { usePrefix, watchNodeIds } from './leftovers.ts';

export const ROOT = resolve(import.meta.dirname, '../..');
export const BIN = join(ROOT, 'bin/jarvis.js');

export interface JarvisProcess {
  child: ChildProcess;
  url: string;
  output(): string;
  /** Resolves with the exit code once the process ends. */
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /**
   * For clean-ups: SIGTERM, then SIGKILL after `graceMs` if it is still running. For a process of
   * startJarvis on the embedded database, also stops a private PostgreSQL server it left behind.
   */
  shutdown(graceMs?: number): Promise<number | null>;
  /** Resolves when the output matches (rejects on timeout or exit). */
  waitFor(re: RegExp, ms: number): Promise<RegExpMatchArray>;
}

/** A fresh Redis prefix, registered for removeLeftovers (test/support/leftovers.ts). */
export function uniquePrefix(): string {
  return usePrefix(`jt-${randomBytes(5).toString('hex')}`);
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'jarvis-test-'));
}

export interface StartOptions {
  command?: 'up' | 'server';
  env?: Record<string, string>;
  args?: string[];
  /** Database URL; null = embedded PGlite in a temp folder. */
  databaseUrl: string | null;
  prefix?: string;
  dataDir?: string;
}

export async function startJarvis(opts: StartOptions): Promise<JarvisProcess & { prefix: string; dataDir: string }> {
  const prefix = usePrefix(opts.prefix ?? uniquePrefix());
  const dataDir = opts.dataDir ?? join(tempDir(), 'pglite');
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    REDIS_URL,
    JARVIS_REDIS_PREFIX: prefix,
    JARVIS_DATA_DIR: dataDir,
    JARVIS_WORKER_NAME: `node-${prefix}`,
    JARVIS_LOG_LEVEL: 'info',
    PORT: '0',
    JARVIS_RECONCILE_SECONDS: '1',
    // A restarted control plane waits for a killed one's leader lock to expire: keep it short.
    JARVIS_LEADER_TTL_SECONDS: '3',
    JARVIS_LEADER_RENEW_SECONDS: '0.5',
    ...opts.env,
  };
  if (opts.databaseUrl) env.DATABASE_URL = opts.databaseUrl;
  else delete env.DATABASE_URL;
  const p = spawnJarvis([opts.command ?? 'up', ...(opts.args ?? [])], env);
  const shutdown = async (graceMs?: number) => {
    const code = await p.shutdown(graceMs);
    // On the embedded database it runs a private PostgreSQL server, which outlives a SIGKILL.
    if (!opts.databaseUrl) await stopPrivatePostgres(privatePostgresDir(dataDir), p.child.pid);
    return code;
  };
  try {
    const url = await p.waitFor(/Jarvis is up at (https?:\/\/\S+)/, 60_000);
    if (opts.command !== 'server') await p.waitFor(/"msg":"worker: registered"/, 30_000);
    return { ...p, shutdown, url: url[1], prefix, dataDir };
  } catch (err) {
    // Not started: nobody else holds the process to stop it.
    await shutdown(3_000).catch(() => undefined);
    throw err;
  }
}

/** Where `jarvis up` keeps its private PostgreSQL server for a data directory (embeddedChoice). */
export function privatePostgresDir(dataDir: string): string {
  return basename(dataDir) === 'pglite' ? join(dirname(dataDir), 'postgres') : `${dataDir}-postgres`;
}

function postgresAlive(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim().startsWith('postgres');
  } catch {
    return false;
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Stops the PostgreSQL server running on `pgDir` (its postmaster.pid), as a killed Jarvis leaves
 * it: fast shutdown (SIGINT), then SIGKILL. Leaves it alone while a Jarvis other than `owner`
 * (a pid) still runs it.
 */
export async function stopPrivatePostgres(pgDir: string, owner?: number): Promise<void> {
  const ownerFile = join(pgDir, 'jarvis.pid');
  if (existsSync(ownerFile)) {
    const running = Number(readFileSync(ownerFile, 'utf8').trim());
    if (running && running !== owner && running !== process.pid && processAlive(running)) return;
  }
  const pidFile = join(pgDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  await stopPostgresPid(Number(readFileSync(pidFile, 'utf8').split('\n')[0]));
}

/** Stops the PostgreSQL server (postmaster) with this pid if one still runs: SIGINT, then SIGKILL. */
export async function stopPostgresPid(pid: number): Promise<void> {
  if (!pid || !postgresAlive(pid)) return;
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 100 && postgresAlive(pid); i++) await new Promise((r) => setTimeout(r, 100));
  if (postgresAlive(pid)) process.kill(pid, 'SIGKILL');
}

export function spawnJarvis(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const waiters: Array<() => void> = [];
  const onData = (d: Buffer) => {
    out += d.toString();
    for (const w of waiters.splice(0)) w();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((r) => child.once('exit', (code, sig) => r(code ?? (sig ? 128 : null))));
  watchNodeIds(() => out, exited);
  let ended = false;
  void exited.then(() => {
    ended = true;
    for (const w of waiters.splice(0)) w();
  });
  const waitFor = (re: RegExp, ms: number) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${re} in jarvis output:\n${out.slice(-4000)}`)), ms);
      const check = () => {
        const m = out.match(re);
        if (m) {
          clearTimeout(timer);
          resolve(m);
        } else if (ended) {
          clearTimeout(timer);
          reject(new Error(`jarvis exited before printing ${re}:\n${out.slice(-4000)}`));
        } else waiters.push(check);
      };
      check();
    });
  return {
    child,
    url: '',
    output: () => out,
    exited,
    waitFor,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
    async shutdown(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** `jarvis worker --executor simulated --nodes N` for a server: nodes NAME-1…NAME-N, each this big. */
export function spawnSimulatedNodes(server: { prefix: string; url: string }, name: string, nodes: number, each: { cpu: number; memoryMb: number; maxTasks: number }) {
  const args = ['worker', '--executor', 'simulated', '--nodes', String(nodes), '--name', name];
  args.push('--cpu', String(each.cpu), '--memory-mb', String(each.memoryMb), '--max-tasks', String(each.maxTasks));
  return spawnJarvis(args, { ...(process.env as Record<string, string>), JARVIS_REDIS_PREFIX: server.prefix, JARVIS_API_URL: server.url });
}

/** `jarvis worker --executor simulated` for a server: one node named `name`, the worker's default size. */
export function spawnSimulatedWorker(server: { prefix: string; url: string }, name: string, env: Record<string, string> = {}) {
  return spawnJarvis(['worker', '--executor', 'simulated'], {
    ...(process.env as Record<string, string>),
    JARVIS_REDIS_PREFIX: server.prefix,
    JARVIS_API_URL: server.url,
    JARVIS_WORKER_NAME: name,
    ...env,
  });
}

/** Runs the CLI to completion. */
export function runCli(args: string[], env: Record<string, string> = {}, timeoutMs = 60_000) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, ...env } as Record<string, string> });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`jarvis ${args.join(' ')} did not finish in ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Small JSON client for tests. */
export function api(base: string) {
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(base + path, {
      method,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let json: any = null; // eslint-disable-line @typescript-eslint/no-explicit-any
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = text;
    }
    return { status: res.status, body: json, headers: res.headers };
  };
  return {
    get: (p: string) => call('GET', p),
    post: (p: string, b?: unknown, h?: Record<string, string>) => call('POST', p, b, h),
    call,
    /** Polls GET /tasks/{id} until the predicate holds. */
    async waitForTask(id: string, pred: (t: any) => boolean, ms = 30_000) { // eslint-disable-line @typescript-eslint/no-explicit-any
      const until = Date.now() + ms;
      let last: unknown;
      while (Date.now() < until) {
        const r = await call('GET', `/tasks/${id}`);
        last = r.body;
        if (r.status === 200 && pred(r.body)) return r.body;
        await new Promise((res) => setTimeout(res, 100));
      }
      throw new Error(`task ${id} never reached the expected state; last: ${JSON.stringify(last)}`);
    },
  };
}

/**
 * Awaits a step; if it fails, the error also carries the last lines each named process printed,
 * its request log left out (a test polling a task fills it), so that a task stuck between a
 * server and a worker says which side stopped, and where.
 */
export async function withOutputs<T>(step: Promise<T>, procs: Record<string, { output(): string }>, lines = 40): Promise<T> {
  try {
    return await step;
  } catch (err) {
    const tails = Object.entries(procs).map(([name, p]) => `--- ${name}, last ${lines} lines:\n${p.output().split('\n').filter((l) => !l.includes('"msg":"request"')).slice(-lines).join('\n')}`);
    (err as Error).message += `\n${tails.join('\n')}`;
    throw err;
  }
}

export const FINAL = ['succeeded', 'failed', 'timed_out', 'cancelled', 'skipped'];
