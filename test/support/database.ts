// A fresh PostgreSQL database per test file, dropped afterwards, so tests never share rows.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { openDatabase, type Database } from '../../src/state/db.ts';
import { TEST_DATABASE_URL } from './env.ts';

export async function createTestDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `jarvis_t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/**
 * A fresh database opened through Jarvis (migrated) for the tests of one file: created before
 * them, closed and dropped after. Call at the top of a file or describe; the getter gives it,
 * with its URL (for a second connection of the test's own).
 */
export function useTestDatabase(): () => Database & { url: string } {
  let db: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
  let database: Database | undefined;
  beforeAll(async () => {
    db = await createTestDatabase();
    database = await openDatabase({ url: db.url, dataDir: '/nonexistent' });
  }, 60_000);
  afterAll(async () => {
    await database?.close();
    await db?.drop();
  });
  return () => {
    if (!database || !db) throw new Error('useTestDatabase: the database is opened in beforeAll; read it inside a test');
    return Object.assign(database, { url: db.url });
  };
}
