// Starts a real Jarvis process (`jarvis server`, `jarvis up` or `jarvis worker`) the way a user
// does, with its own Redis prefix and database, reads its banner for the URL (a worker: waits
// until it has registered with its control plane), and keeps its output (pino JSON lines)
// for the latency breakdown and for error reports. Output must be drained all the time: pino
// writes synchronously, so a full pipe would stall the process under test.
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { REDIS_URL } from './services.ts';

export const ROOT = resolve(import.meta.dirname, '../..');
export const BIN = resolve(ROOT, 'bin/jarvis.js');

export interface JarvisProcess {
  child: ChildProcess;
  pid: number;
  url: string;
  prefix: string;
  /** Everything printed so far (stdout and stderr), up to a cap. */
  output(): string;
  /** Parsed pino lines matching the predicate. */
  logLines(pred: (line: Record<string, unknown>) => boolean): Array<Record<string, unknown>>;
  stop(): Promise<number | null>;
}

export interface StartOptions {
  command: 'server' | 'up' | 'worker';
  /** Arguments after the command, e.g. a worker's --executor simulated --cpu 10000. */
  args?: string[];
  /** A worker's control plane (--api-url); required for `worker`. */
  apiUrl?: string;
  prefix: string;
  databaseUrl: string | null;
  dataDir: string;
  env?: Record<string, string>;
  /** Extra node flags, e.g. --cpu-prof. */
  nodeArgs?: string[];
  /** How long to wait for the banner (and a worker's registration); default 60 s. */
  readyTimeoutMs?: number;
}

const OUTPUT_CAP = 64 * 1024 * 1024;

export async function startJarvis(opts: StartOptions): Promise<JarvisProcess> {
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    REDIS_URL,
    JARVIS_REDIS_PREFIX: opts.prefix,
    JARVIS_DATA_DIR: opts.dataDir,
    JARVIS_WORKER_NAME: `node-${opts.prefix}`,
    PORT: '0',
    ...opts.env,
  };
  if (opts.databaseUrl) env.DATABASE_URL = opts.databaseUrl;
  else delete env.DATABASE_URL;

  if (opts.command === 'worker') {
    if (!opts.apiUrl) throw new Error('startJarvis: a worker needs apiUrl');
    env.JARVIS_API_URL = opts.apiUrl;
  }
  // JARVIS_BENCH_NODE_ARGS (space-separated) adds node flags to every process a section starts,
  // e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to see where a section's processes spend their CPU.
  const benchArgs = (process.env.JARVIS_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...benchArgs, ...(opts.nodeArgs ?? []), BIN, opts.command, ...(opts.args ?? [])], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const waiters: Array<() => void> = [];
  const onData = (d: Buffer) => {
    if (out.length < OUTPUT_CAP) out += d.toString();
    for (const w of waiters.splice(0)) w();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  let ended = false;
  const exited = new Promise<number | null>((r) =>
    child.once('exit', (code, sig) => {
      ended = true;
      for (const w of waiters.splice(0)) w();
      r(code ?? (sig ? 128 : null));
    }),
  );
  const waitFor = (re: RegExp, ms: number) =>
    new Promise<RegExpMatchArray>((resolveMatch, reject) => {
      const timer = setTimeout(() => reject(new Error(`jarvis ${opts.command}: timed out waiting for ${re}; output:\n${out.slice(-4000)}`)), ms);
      const check = () => {
        const m = out.match(re);
        if (m) {
          clearTimeout(timer);
          resolveMatch(m);
        } else if (ended) {
          clearTimeout(timer);
          reject(new Error(`jarvis ${opts.command} exited before printing ${re}; output:\n${out.slice(-4000)}`));
        } else waiters.push(check);
      };
      check();
    });

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const code = await exited;
    clearTimeout(killer);
    return code;
  };

  try {
    let url: string;
    if (opts.command === 'worker') {
      await waitFor(/"msg":"worker: registered"/, opts.readyTimeoutMs ?? 60_000);
      url = opts.apiUrl as string;
    } else {
      url = (await waitFor(/Jarvis is up at (http:\/\/\S+)/, opts.readyTimeoutMs ?? 60_000))[1];
      if (opts.command === 'up') await waitFor(/"msg":"worker: registered"/, opts.readyTimeoutMs ?? 30_000);
    }
    return {
      child,
      pid: child.pid as number,
      url,
      prefix: opts.prefix,
      output: () => out,
      logLines: (pred) => {
        const lines: Array<Record<string, unknown>> = [];
        for (const raw of out.split('\n')) {
          if (!raw.startsWith('{')) continue;
          try {
            const j = JSON.parse(raw) as Record<string, unknown>;
            if (pred(j)) lines.push(j);
          } catch {
            /* not a log line */
          }
        }
        return lines;
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
