// A private PostgreSQL server for `jarvis up` without DATABASE_URL: the machine's own PostgreSQL
// binaries (Debian's postgresql package, or JARVIS_POSTGRES_BIN) run one cluster kept under a
// data directory (.jarvis/postgres), reachable only on a unix socket, started as a child of
// Jarvis and stopped with it. Its six processes idle at ~70 MB RSS (~17 MB PSS) where PGlite's
// WebAssembly memory alone was 190–380 MB (docs/decisions.md, "Embedded database").
//
// PostgreSQL refuses to run as root. As root, the server runs in a user namespace where Jarvis's
// user is mapped to an ordinary one (`unshare --user`): inside, it is not root; outside, its files
// stay owned by the user who ran Jarvis and it reaches them as that user did.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';

/** Small-footprint settings: a laptop's state, one writer, a few connections. */
const SETTINGS: Record<string, string> = {
  listen_addresses: '',
  max_connections: '40',
  shared_buffers: '16MB',
  work_mem: '4MB',
  maintenance_work_mem: '16MB',
  wal_level: 'minimal',
  max_wal_senders: '0',
  max_wal_size: '256MB',
  max_worker_processes: '2',
  max_parallel_workers: '0',
  max_parallel_workers_per_gather: '0',
  max_logical_replication_workers: '0',
  autovacuum_max_workers: '1',
  huge_pages: 'off',
  logging_collector: 'off',
};

export interface LocalPostgres {
  /** A connection URL over the unix socket. */
  url: string;
  dataDir: string;
  pid: number;
  stop(): Promise<void>;
}

const isDir = (p: string) => existsSync(join(p, 'postgres')) && existsSync(join(p, 'initdb'));

/** The directory holding `postgres` and `initdb`, or null when this machine has none. */
export function findPostgresBin(env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.JARVIS_POSTGRES_BIN) return isDir(env.JARVIS_POSTGRES_BIN) ? env.JARVIS_POSTGRES_BIN : null;
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian)) {
    const versions = readdirSync(debian)
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    for (const v of versions) if (isDir(join(debian, v, 'bin'))) return join(debian, v, 'bin');
  }
  const r = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  const dir = r.status === 0 ? r.stdout.trim() : '';
  return dir && isDir(dir) ? dir : null;
}

/** As root, the command runs unprivileged in a user namespace (PostgreSQL will not run as root). */
function command(bin: string, args: string[]): [string, string[]] {
  if (process.getuid?.() !== 0) return [bin, args];
  return ['unshare', ['--user', '--map-user=1000', '--map-group=1000', bin, ...args]];
}

/** A unix socket path must stay under ~107 bytes: a deep data directory gets one in /tmp. */
function socketDir(dataDir: string): string {
  if (join(dataDir, '.s.PGSQL.5432').length <= 100) return dataDir;
  const dir = join(tmpdir(), `jarvis-pg-${createHash('sha256').update(dataDir).digest('hex').slice(0, 12)}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Whether `pid` is alive and still the program a pid file named (its command line holds `word`):
 * after a reboot a stale pid file's number may belong to any process, which must never be sent a
 * signal or taken for a running Jarvis. Where /proc cannot tell, the pid's being alive decides.
 */
export function aliveAs(pid: number, word: string): boolean {
  if (!alive(pid)) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(word);
  } catch {
    return true;
  }
}

/**
 * A server left running by a Jarvis that was killed (SIGKILL) holds the data directory: it is
 * asked to shut down (fast: rolls back what was in flight, keeps everything committed). One that
 * belongs to a Jarvis still running is another process's database: refused.
 */
async function clearLeftover(dataDir: string): Promise<void> {
  const owner = join(dataDir, 'jarvis.pid');
  if (existsSync(owner)) {
    const pid = Number(readFileSync(owner, 'utf8').trim());
    if (pid && pid !== process.pid && aliveAs(pid, 'jarvis')) {
      throw new Error(
        `the embedded database in ${dataDir} is in use by another Jarvis process (pid ${pid}). Only one process can use it; ` +
          'stop that one, or set DATABASE_URL to share a PostgreSQL server between processes.',
      );
    }
  }
  const pidFile = join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!pid) return;
  if (!aliveAs(pid, 'postgres')) {
    // Stale (a reboot, a killed container): PostgreSQL itself would take the live process that
    // now has that number for another server and refuse to start.
    if (alive(pid)) rmSync(pidFile, { force: true });
    return;
  }
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 150 && alive(pid); i++) await sleep(100);
  if (alive(pid)) throw new Error(`a PostgreSQL server (pid ${pid}) left running on ${dataDir} does not stop; stop it, then start Jarvis again`);
}

/**
 * The URL of the private server a running Jarvis (another process) keeps in `dataDir`, or null
 * when none runs: a short command (`jarvis keys create`) joins it as one more client instead of
 * being refused. Its socket is where startLocalPostgres put it.
 */
export function runningLocalPostgres(dataDir: string): { url: string; owner: number } | null {
  const owner = join(dataDir, 'jarvis.pid');
  const pidFile = join(dataDir, 'postmaster.pid');
  if (!existsSync(owner) || !existsSync(pidFile)) return null;
  const jarvis = Number(readFileSync(owner, 'utf8').trim());
  const server = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!jarvis || jarvis === process.pid || !aliveAs(jarvis, 'jarvis') || !server || !aliveAs(server, 'postgres')) return null;
  return { url: `postgres://jarvis@localhost/postgres?host=${encodeURIComponent(socketDir(dataDir))}`, owner: jarvis };
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-8).join('\n');
  } catch {
    return '(no log)';
  }
}

export async function startLocalPostgres(dataDir: string, bin: string): Promise<LocalPostgres> {
  mkdirSync(dirname(dataDir), { recursive: true });
  const logFile = `${dataDir}.log`;
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    rmSync(dataDir, { recursive: true, force: true }); // an initdb cut short leaves a partial directory
    const [cmd, args] = command(join(bin, 'initdb'), ['-D', dataDir, '-U', 'jarvis', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-instructions']);
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    if (r.status !== 0) {
      rmSync(dataDir, { recursive: true, force: true });
      throw new Error(`cannot create the embedded PostgreSQL database in ${dataDir}: initdb said: ${(r.stderr || r.error?.message || '').trim().slice(-600)}`);
    }
  }
  await clearLeftover(dataDir);
  const sockets = socketDir(dataDir);
  const settings = { ...SETTINGS, unix_socket_directories: sockets };
  const out = openSync(logFile, 'a');
  const [cmd, args] = command(join(bin, 'postgres'), ['-D', dataDir, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])]);
  let child: ChildProcess;
  try {
    child = spawn(cmd, args, { stdio: ['ignore', out, out] });
  } finally {
    closeSync(out);
  }
  let exited = false;
  child.once('exit', () => (exited = true));
  child.once('error', () => (exited = true));
  writeFileSync(join(dataDir, 'jarvis.pid'), `${process.pid}\n`);
  const url = `postgres://jarvis@localhost/postgres?host=${encodeURIComponent(sockets)}`; // as runningLocalPostgres
  const stop = async () => {
    if (!exited) {
      child.kill('SIGINT');
      for (let i = 0; i < 200 && !exited; i++) await sleep(50);
      if (!exited) child.kill('SIGKILL');
    }
    rmSync(join(dataDir, 'jarvis.pid'), { force: true });
  };
  // Ready when it answers a query (recovery after a crash can take a while).
  for (let waited = 0; ; waited += 100) {
    if (exited) throw new Error(`the embedded PostgreSQL server did not start; its log (${logFile}) ends with:\n${tail(logFile)}`);
    const c = new pg.Client({ connectionString: url });
    try {
      await c.connect();
      await c.query('select 1');
      await c.end();
      break;
    } catch {
      await c.end().catch(() => undefined);
      if (waited > 60_000) {
        await stop();
        throw new Error(`the embedded PostgreSQL server did not answer within 60 s; its log (${logFile}) ends with:\n${tail(logFile)}`);
      }
      await sleep(100);
    }
  }
  return { url, dataDir, pid: child.pid as number, stop };
}
