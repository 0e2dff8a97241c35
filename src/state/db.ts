// Opens the database Jarvis keeps its state in: a PostgreSQL server when a URL is given,
// otherwise an embedded PGlite kept under a data directory. Migrations from drizzle/ are
// applied on open, so a fresh or older database is brought to the current schema first.
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import * as schema from './schema.ts';

export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;

export interface Database {
  db: Db;
  kind: 'postgres' | 'pglite';
  /** Throws when the database does not answer. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

const here = dirname(fileURLToPath(import.meta.url));
const migrationsFolder = resolve(here, '../../drizzle');

export async function openDatabase(options: { url: string | null; dataDir: string }): Promise<Database> {
  if (options.url) {
    const pg = await import('pg');
    const { drizzle } = await import('drizzle-orm/node-postgres');
    const { migrate } = await import('drizzle-orm/node-postgres/migrator');
    // Enough for the API, the dispatcher and the result recorder (16 jobs in flight each) together:
    // finishes of one workflow wait on its row lock while holding a connection.
    const pool = new pg.default.Pool({ connectionString: options.url, max: 20, connectionTimeoutMillis: 5_000 });
    // An idle client losing its server must not crash the process; the next query reports it.
    pool.on('error', () => undefined);
    const db = drizzle(pool, { schema });
    try {
      await migrate(db, { migrationsFolder });
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw new Error(`cannot prepare the database at ${redact(options.url)}: ${(err as Error).message}`, { cause: err });
    }
    return {
      db: db as unknown as Db,
      kind: 'postgres',
      ping: async () => {
        await db.execute(sql`select 1`);
      },
      close: () => pool.end(),
    };
  }
  const { PGlite } = await import('@electric-sql/pglite');
  const { drizzle } = await import('drizzle-orm/pglite');
  const { migrate } = await import('drizzle-orm/pglite/migrator');
  const dataDir = resolve(options.dataDir);
  mkdirSync(dirname(dataDir), { recursive: true });
  let client: InstanceType<typeof PGlite>;
  try {
    client = await PGlite.create(dataDir);
  } catch (err) {
    throw new Error(
      `cannot open the embedded database in ${dataDir}: ${(err as Error).message}. ` +
        'Is another Jarvis process using it? Only one process can open an embedded database; ' +
        'set DATABASE_URL to share a PostgreSQL server between processes.',
      { cause: err },
    );
  }
  const db = drizzle(client, { schema });
  await migrate(db, { migrationsFolder });
  return {
    db: db as unknown as Db,
    kind: 'pglite',
    ping: async () => {
      await db.execute(sql`select 1`);
    },
    close: () => client.close(),
  };
}

/** A database URL fit for a log line: the password is replaced. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable database URL)';
  }
}
