// Opens the database Jarvis keeps its state in: a PostgreSQL server when a URL is given;
// otherwise an embedded one kept under the data directory's folder: a private PostgreSQL server
// from this machine's binaries (local-postgres.ts) when there are some, else PGlite (PostgreSQL
// in WebAssembly, in this process). Migrations from drizzle/ are applied on open, so a fresh or
// older database is brought to the current schema first.
import { existsSync, mkdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { findPostgresBin, runningLocalPostgres, startLocalPostgres, type LocalPostgres } from './local-postgres.ts';
import * as schema from './schema.ts';
import { redactUrl } from '../config/log-redaction.ts';
import { retryTransaction, withAfterCommit } from './tx.ts';

export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;

export interface Database {
  db: Db;
  kind: 'postgres' | 'pglite';
  /** Where the state is, for a log line (no password). */
  label: string;
  /** Throws when the database does not answer. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

const here = dirname(fileURLToPath(import.meta.url));
const migrationsFolder = resolve(here, '../../drizzle');

/**
 * The embedded database's kind: JARVIS_EMBEDDED_DB (pglite or postgres) when set; else PGlite when
 * its data directory already holds a database and no private PostgreSQL one exists yet (state
 * kept by an older Jarvis stays where it is); else PostgreSQL when this machine has its binaries.
 */
export function embeddedChoice(dataDir: string, env: NodeJS.ProcessEnv = process.env): { kind: 'pglite' } | { kind: 'postgres'; bin: string; dir: string } {
  const dir = basename(dataDir) === 'pglite' ? join(dirname(dataDir), 'postgres') : `${dataDir}-postgres`;
  const wanted = env.JARVIS_EMBEDDED_DB?.trim();
  if (wanted && wanted !== 'pglite' && wanted !== 'postgres') {
    throw new Error(`JARVIS_EMBEDDED_DB must be pglite or postgres, got "${wanted}"`);
  }
  if (wanted === 'pglite') return { kind: 'pglite' };
  const bin = findPostgresBin(env);
  if (wanted === 'postgres') {
    if (!bin) {
      throw new Error(
        'JARVIS_EMBEDDED_DB=postgres, but no PostgreSQL server binaries were found (looked in JARVIS_POSTGRES_BIN, /usr/lib/postgresql/*/bin ' +
          'and `pg_config --bindir`). Install them (Debian: apt-get install postgresql), set JARVIS_POSTGRES_BIN, or unset JARVIS_EMBEDDED_DB.',
      );
    }
    return { kind: 'postgres', bin, dir };
  }
  const pgliteHasState = existsSync(join(dataDir, 'PG_VERSION')) && !existsSync(join(dir, 'PG_VERSION'));
  return bin && !pgliteHasState ? { kind: 'postgres', bin, dir } : { kind: 'pglite' };
}

/** How the private PostgreSQL server is named in the log and the start banner. */
export function localPostgresLabel(dir: string, bin: string): string {
  return `embedded PostgreSQL in ${dir} (${bin})`;
}

/**
 * `joinRunning`: when another Jarvis process runs the embedded PostgreSQL server, connect to it
 * as a client instead of refusing (for short commands such as `jarvis keys create` beside a
 * running `jarvis up`; PGlite cannot be shared).
 */
export async function openDatabase(options: { url: string | null; dataDir: string; joinRunning?: boolean }): Promise<Database> {
  if (options.url) return openPostgres(options.url, redactUrl(options.url), null);
  const dataDir = resolve(options.dataDir);
  const choice = embeddedChoice(dataDir);
  if (choice.kind === 'pglite') return openPglite(dataDir);
  const running = options.joinRunning ? runningLocalPostgres(choice.dir) : null;
  if (running) return openPostgres(running.url, `${localPostgresLabel(choice.dir, choice.bin)}, run by Jarvis pid ${running.owner}`, null);
  let local: LocalPostgres;
  try {
    local = await startLocalPostgres(choice.dir, choice.bin);
  } catch (err) {
    // A first start where this machine cannot run the server (no user namespaces for root in a
    // locked-down container, say): PGlite instead, and it stays the choice (its state exists).
    // An existing server's database is never swapped for an empty one: that is an error.
    const fresh = !existsSync(join(choice.dir, 'PG_VERSION'));
    if (!fresh || process.env.JARVIS_EMBEDDED_DB?.trim() === 'postgres') throw err;
    const db = await openPglite(dataDir);
    return { ...db, label: `${db.label} (the private PostgreSQL server could not start: ${(err as Error).message.split('\n')[0]})` };
  }
  try {
    return await openPostgres(local.url, localPostgresLabel(choice.dir, choice.bin), local);
  } catch (err) {
    await local.stop();
    throw err;
  }
}

async function openPostgres(url: string, label: string, local: LocalPostgres | null): Promise<Database> {
  const pg = await import('pg');
  const { drizzle } = await import('drizzle-orm/node-postgres');
  const { migrate } = await import('drizzle-orm/node-postgres/migrator');
  // Enough for the API, the dispatcher and the result recorder (16 jobs in flight each) together:
  // finishes of one workflow wait on its row lock while holding a connection.
  // On the private server (`jarvis up`), a connection idle for a second is closed: each idle
  // backend held ~16-22 MB of RSS between the periodic passes that use a few at once, and one
  // over the unix socket opens and answers in ~2 ms (docs/decisions.md, "Embedded database").
  const pool = new pg.default.Pool({ connectionString: url, max: 20, connectionTimeoutMillis: 5_000, idleTimeoutMillis: local ? 1_000 : 10_000 });
  // A client losing its server must not crash the process; the next query on it reports it, and
  // the pool drops it on release. The pool catches this for idle clients ('error' below) and for
  // pool.query; a client checked out for a transaction has no listener of its own (pg-pool
  // removes the idle one), so a connection cut between a transaction's statements threw an
  // unhandled 'error' event and ended the server.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  const db = withAfterCommit(drizzle(pool, { schema }));
  try {
    // All pending migrations run in one transaction, which a deadlock with the transactions of
    // processes still running fails whole, changing nothing: run again. (0021 drops an index,
    // which takes the strongest lock on tasks at its end: a transaction that read tasks and waits
    // to write them holds what that lock waits for.)
    await retryTransaction(() => migrate(db, { migrationsFolder }), 3);
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw new Error(`cannot prepare the database at ${label}: ${(err as Error).message}`, { cause: err });
  }
  return {
    db: db as unknown as Db,
    kind: 'postgres',
    label,
    ping: async () => {
      await db.execute(sql`select 1`);
    },
    close: async () => {
      await pool.end();
      await local?.stop();
    },
  };
}

/**
 * PGlite with small buffers: its defaults (shared_buffers 128 MB) live in WebAssembly memory,
 * which never shrinks once grown.
 */
const PGLITE_SETTINGS = ['shared_buffers=16MB', 'work_mem=2MB', 'temp_buffers=2MB', 'maintenance_work_mem=8MB', 'wal_buffers=512kB'];

async function openPglite(dataDir: string): Promise<Database> {
  const { PGlite } = await import('@electric-sql/pglite');
  const { drizzle } = await import('drizzle-orm/pglite');
  const { migrate } = await import('drizzle-orm/pglite/migrator');
  mkdirSync(dirname(dataDir), { recursive: true });
  let client: InstanceType<typeof PGlite>;
  try {
    client = await PGlite.create(dataDir, { startParams: [...PGlite.defaultStartParams, ...PGLITE_SETTINGS.flatMap((s) => ['-c', s])] });
  } catch (err) {
    throw new Error(
      `cannot open the embedded database in ${dataDir}: ${(err as Error).message}. ` +
        'Is another Jarvis process using it? Only one process can open an embedded database; ' +
        'set DATABASE_URL to share a PostgreSQL server between processes.',
      { cause: err },
    );
  }
  const db = withAfterCommit(drizzle(client, { schema }));
  await migrate(db, { migrationsFolder });
  return {
    db: db as unknown as Db,
    kind: 'pglite',
    label: `embedded PGlite in ${dataDir}`,
    ping: async () => {
      await db.execute(sql`select 1`);
    },
    close: () => client.close(),
  };
}

