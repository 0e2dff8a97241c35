// The services the bench needs (Redis, PostgreSQL, Docker with the test image), checked up front
// with a clear message each, plus the machine facts recorded with every result and a few
// observers used while a phase runs (CPU per process, PostgreSQL and Redis counters).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import Dockerode from 'dockerode';
import { Redis } from 'ioredis';
import pg from 'pg';
import { round } from './stats.ts';
import { unlinkMatching } from '../../test/support/leftovers.ts';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const ADMIN_DATABASE_URL =
  process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://jarvis:jarvis@127.0.0.1:5432/postgres';
export const IMAGE = 'jarvis-test/busybox:latest';

export class MissingServiceError extends Error {
  override name = 'MissingServiceError';
}

function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

/** A Redis connection that fails at once instead of retrying (for checks and the bench's own use). */
export async function connectRedis(url = REDIS_URL): Promise<Redis> {
  const r = new Redis(url, { lazyConnect: true, connectTimeout: 3_000, maxRetriesPerRequest: 1, retryStrategy: () => null });
  let last: Error | null = null;
  r.on('error', (err: Error) => (last = err));
  try {
    await r.connect();
  } catch (err) {
    throw last ?? err;
  }
  return r;
}

export interface ServiceFacts {
  redis_version: string;
  postgres_version: string;
  docker_engine_version: string;
  docker_api_version: string;
  docker_storage_driver: string;
  docker_cgroup: string;
  docker_cli_version: string;
}

/** Checks every service; throws MissingServiceError naming each one that is missing. */
export async function checkServices(): Promise<ServiceFacts> {
  const problems: string[] = [];
  const facts: Partial<ServiceFacts> = {};

  try {
    const r = await connectRedis();
    const info = await r.info('server');
    facts.redis_version = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
    r.disconnect();
  } catch (err) {
    problems.push(`Redis at ${REDIS_URL} does not answer (${(err as Error).message}). Start it, or run \`npm run bench\`, which starts it.`);
  }

  try {
    const c = new pg.Client({ connectionString: ADMIN_DATABASE_URL, connectionTimeoutMillis: 3_000 });
    await c.connect();
    const { rows } = await c.query<{ v: string; createdb: boolean }>(
      'select current_setting(\'server_version\') as v, (select rolcreatedb or rolsuper from pg_roles where rolname = current_user) as createdb',
    );
    await c.end();
    facts.postgres_version = rows[0].v;
    if (!rows[0].createdb) problems.push(`PostgreSQL role in ${redactUrl(ADMIN_DATABASE_URL)} may not CREATE DATABASE; the bench needs a throwaway database.`);
  } catch (err) {
    problems.push(
      `PostgreSQL at ${redactUrl(ADMIN_DATABASE_URL)} does not answer (${(err as Error).message}). Start it, set TEST_DATABASE_URL, or run \`npm run bench\`.`,
    );
  }

  try {
    const docker = new Dockerode();
    await docker.ping();
    const v = await docker.version();
    const info = (await docker.info()) as { Driver?: string; CgroupVersion?: string; CgroupDriver?: string };
    facts.docker_engine_version = v.Version;
    facts.docker_api_version = v.ApiVersion;
    facts.docker_storage_driver = info.Driver ?? 'unknown';
    facts.docker_cgroup = `v${info.CgroupVersion ?? '?'} ${info.CgroupDriver ?? ''}`.trim();
    try {
      await docker.getImage(IMAGE).inspect();
    } catch {
      problems.push(`Docker image ${IMAGE} is missing. \`npm run bench\` (scripts/bench.sh) builds it from the host's busybox.`);
    }
  } catch (err) {
    problems.push(`the Docker engine does not answer (${(err as Error).message}). Start dockerd, or run \`npm run bench\`.`);
  }

  try {
    facts.docker_cli_version = execFileSync('docker', ['version', '--format', '{{.Client.Version}}'], { timeout: 20_000, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch (err) {
    problems.push(`the docker CLI does not work (${(err as Error).message.split('\n')[0]}); it is needed for the \`docker run\` baseline.`);
  }

  if (problems.length) throw new MissingServiceError(problems.map((p) => `  - ${p}`).join('\n'));
  return facts as ServiceFacts;
}

export function machineFacts() {
  const cpus = os.cpus();
  return {
    hostname: os.hostname(),
    cpu_cores: cpus.length,
    cpu_model: cpus[0]?.model ?? 'unknown',
    memory_total_mb: Math.round(os.totalmem() / 1024 / 1024),
    memory_free_mb_at_start: Math.round(os.freemem() / 1024 / 1024),
    loadavg_at_start: os.loadavg().map((x) => Math.round(x * 100) / 100),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node_version: process.version,
  };
}

// ---------------------------------------------------------------------------------------------
// Databases

export async function createDatabase(tag: string): Promise<{ name: string; url: string; drop(): Promise<void> }> {
  const name = `jarvis_bench_${tag}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(ADMIN_DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export interface PgCounters {
  xact_commit: number;
  tup_inserted: number;
  tup_updated: number;
  tup_fetched: number;
  tup_returned: number;
}

/** Cumulative counters of one database (pg_stat_database; PostgreSQL flushes them about every second). */
export async function pgCounters(dbName: string): Promise<PgCounters | null> {
  const c = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
  try {
    await c.connect();
    const { rows } = await c.query(
      'select xact_commit, tup_inserted, tup_updated, tup_fetched, tup_returned from pg_stat_database where datname = $1',
      [dbName],
    );
    if (!rows[0]) return null;
    return Object.fromEntries(Object.entries(rows[0]).map(([k, v]) => [k, Number(v)])) as unknown as PgCounters;
  } catch {
    return null;
  } finally {
    await c.end().catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------
// Redis counters (the server is shared: these include any other client's commands)

export async function redisCommandStats(r: Redis): Promise<Map<string, number>> {
  const info = await r.info('commandstats');
  const out = new Map<string, number>();
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out.set(m[1], Number(m[2]));
  return out;
}

export function commandStatsDelta(a: Map<string, number>, b: Map<string, number>) {
  const delta: Array<[string, number]> = [];
  for (const [k, v] of b) {
    const d = v - (a.get(k) ?? 0);
    if (d > 0) delta.push([k, d]);
  }
  delta.sort((x, y) => y[1] - x[1]);
  return delta;
}

/** Deletes every key whose name starts with one of the prefixes' hash tags. */
export function deleteKeysWithPrefix(r: Redis, prefix: string): Promise<number> {
  return unlinkMatching(r, `{${prefix}*`);
}

// ---------------------------------------------------------------------------------------------
// CPU accounting from /proc (Linux)

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU time (ms, user + system, all threads) of one process; null when it is gone. */
export function processCpuMs(pid: number, withReapedChildren = false): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After "pid (comm) ": state is field 3, utime 14, stime 15 → indexes 11 and 12 here; the
    // reaped children's cutime 16 and cstime 17 → 13 and 14.
    const ticks = Number(fields[11]) + Number(fields[12]) + (withReapedChildren ? Number(fields[13]) + Number(fields[14]) : 0);
    return (ticks * 1000) / CLK_TCK;
  } catch {
    return null;
  }
}

/**
 * CPU time (ms) of a process and its descendants (the API processes of `--processes N`, tsx's
 * esbuild), except PostgreSQL's, which cpuMsOfCommand('postgres') counts.
 */
export function treeCpuMs(pid: number): number | null {
  const own = processCpuMs(pid);
  if (own === null) return null;
  const parentOf = new Map<number, { ppid: number; comm: string; ms: number }>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parentOf.set(Number(e), { ppid: Number(f[1]), comm, ms: ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK });
    } catch {
      // gone meanwhile
    }
  }
  let total = own;
  const inTree = (p: number): boolean => {
    for (let at = parentOf.get(p), depth = 0; at && depth < 8; at = parentOf.get(at.ppid), depth++) if (at.ppid === pid) return true;
    return false;
  };
  for (const [p, info] of parentOf) if (p !== pid && info.comm !== 'postgres' && inTree(p)) total += info.ms;
  return total;
}

/**
 * Summed CPU time (ms) of every process whose command name is `comm` (e.g. postgres,
 * redis-server), with what their exited children used once reaped (cutime and cstime): a
 * PostgreSQL backend that ends between two snapshots moves its time into its postmaster's,
 * instead of dropping out of the sum (which made PostgreSQL's share negative in bench (e)'s
 * probes, where the pool closes idle connections).
 */
export function cpuMsOfCommand(comm: string): number {
  let total = 0;
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    return NaN;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readFileSync(`/proc/${e}/comm`, 'utf8').trim() !== comm) continue;
    } catch {
      continue;
    }
    total += processCpuMs(Number(e), true) ?? 0;
  }
  return total;
}

/**
 * Whole-machine CPU time (ms summed over cores) from /proc/stat: busy (all but idle and iowait),
 * of which interrupt handling (irq + softirq: e.g. loopback TCP delivery, charged to no process),
 * and steal (time the hypervisor gave this VM's CPUs to someone else), and the total.
 */
export function machineCpuMs(): { busy: number; irq: number; steal: number; total: number } {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const ms = (x: number) => (x * 1000) / CLK_TCK;
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: ms(total - idle), irq: ms((v[5] ?? 0) + (v[6] ?? 0)), steal: ms(v[7] ?? 0), total: ms(total) };
  } catch {
    return { busy: NaN, irq: NaN, steal: NaN, total: NaN };
  }
}

export interface CpuSnapshot {
  at: number;
  machine: ReturnType<typeof machineCpuMs>;
  server: number | null;
  bench: number;
  postgres: number;
  redis: number;
}

export function cpuSnapshot(serverPid: number | null): CpuSnapshot {
  const u = process.cpuUsage();
  return {
    at: performance.now(),
    machine: machineCpuMs(),
    server: serverPid ? treeCpuMs(serverPid) : null,
    bench: (u.user + u.system) / 1000,
    postgres: cpuMsOfCommand('postgres'),
    redis: cpuMsOfCommand('redis-server'),
  };
}

/** CPU used between two snapshots, as % of one core (100 = one core busy all the time). */
export function cpuDelta(a: CpuSnapshot, b: CpuSnapshot) {
  const wall = b.at - a.at;
  const pct = (ms: number | null) => (ms === null || !Number.isFinite(ms) ? null : Math.round((ms / wall) * 1000) / 10);
  const cores = os.cpus().length;
  const machineTotal = b.machine.total - a.machine.total;
  const share = (x: number) => (machineTotal > 0 ? (x / machineTotal) * 100 : NaN);
  const machineBusy = share(b.machine.busy - a.machine.busy);
  const irq = share(b.machine.irq - a.machine.irq);
  const steal = share(b.machine.steal - a.machine.steal);
  const known = (b.server ?? 0) - (a.server ?? 0) + (b.bench - a.bench) + (b.postgres - a.postgres) + (b.redis - a.redis);
  const other = machineBusy - irq - steal - (known / wall / cores) * 100;
  const r1 = (x: number) => (Number.isFinite(x) ? Math.round(x * 10) / 10 : null);
  return {
    machine_busy_pct_of_all_cores: r1(machineBusy),
    /** Interrupt handling (irq + softirq), mostly loopback network delivery here. */
    irq_softirq_pct_of_all_cores: r1(irq),
    /** CPU the hypervisor took away from this VM: contention from outside the machine. */
    steal_pct_of_all_cores: r1(steal),
    /** Busy time of every other process (other users' work, dockerd, kernel threads): a noise indicator. */
    other_processes_pct_of_all_cores: r1(other),
    machine_cores: cores,
    jarvis_process_pct_of_one_core: a.server !== null && b.server !== null ? pct(b.server - a.server) : null,
    bench_process_pct_of_one_core: pct(b.bench - a.bench),
    /** Summed over every process named "postgres", with the backends that exited meanwhile (cpuMsOfCommand). */
    postgres_all_backends_pct_of_one_core: pct(b.postgres - a.postgres),
    redis_server_pct_of_one_core: pct(b.redis - a.redis),
    jarvis_cpu_ms: a.server !== null && b.server !== null ? Math.round(b.server - a.server) : null,
  };
}

/** Summed CPU of the machine's other processes, with the worker taken out of "other" (it is ours). */
export function cpuWithWorker(a: CpuSnapshot, b: CpuSnapshot, worker: { pid: number; cpu0: number | null }) {
  const d = cpuDelta(a, b);
  const w1 = processCpuMs(worker.pid);
  const wallMs = b.at - a.at;
  const workerMs = worker.cpu0 !== null && w1 !== null ? w1 - worker.cpu0 : null;
  const workerPct = workerMs === null ? null : round((workerMs / wallMs) * 100, 1);
  const other = d.other_processes_pct_of_all_cores;
  return {
    ...d,
    worker_process_pct_of_one_core: workerPct,
    other_processes_pct_of_all_cores: other === null || workerPct === null ? other : round(other - workerPct / d.machine_cores, 1),
  };
}

// ---------------------------------------------------------------------------------------------
// What one database's connections are doing, sampled (pg_stat_activity)

export interface PgActivitySample {
  at: number;
  /** Connections to the database (the server's pool). */
  conns: number;
  /** Not idle: running a statement, waiting on a lock, or inside an open transaction. */
  busy: number;
  /** Waiting for the lock on a workflow row (`select 1 from workflows … for update`). */
  workflow_lock_waits: number;
  /** Waiting for the lock on a node row (an UPDATE of nodes: placing, or releasing a reservation). */
  node_lock_waits: number;
  /** Any other lock wait. */
  other_lock_waits: number;
}

/** Samples pg_stat_activity of one database every `everyMs` until stop(). */
export function samplePgActivity(dbName: string, everyMs = 50): { stop(): Promise<PgActivitySample[]> } {
  const samples: PgActivitySample[] = [];
  const c = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
  let stopped = false;
  const done = (async () => {
    await c.connect();
    while (!stopped) {
      const { rows } = await c.query(
        `select count(*)::int as conns,
                count(*) filter (where state <> 'idle')::int as busy,
                count(*) filter (where wait_event_type = 'Lock' and query ilike 'select 1 from workflows%')::int as workflow_lock_waits,
                count(*) filter (where wait_event_type = 'Lock' and query ilike 'update "nodes"%')::int as node_lock_waits,
                count(*) filter (where wait_event_type = 'Lock')::int as lock_waits
           from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()`,
        [dbName],
      );
      const r = rows[0] as Record<string, number>;
      samples.push({
        at: Date.now(),
        conns: r.conns,
        busy: r.busy,
        workflow_lock_waits: r.workflow_lock_waits,
        node_lock_waits: r.node_lock_waits,
        other_lock_waits: r.lock_waits - r.workflow_lock_waits - r.node_lock_waits,
      });
      await new Promise((res) => setTimeout(res, everyMs));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await done.catch(() => undefined);
      await c.end().catch(() => undefined);
      return samples;
    },
  };
}
