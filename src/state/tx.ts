// Small pieces every store shares: the transaction type and SQL helpers.
import { sql, type SQL } from 'drizzle-orm';
import type { Db } from './db.ts';
import { tasks } from './schema.ts';

export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

/**
 * `tasks.id = any($1)` with the ids as one array parameter: for hundreds of ids much cheaper to
 * build and parse than `in ($1, $2, …)`.
 */
export function idIn(ids: string[]): SQL {
  return sql`${tasks.id} = any(${`{${ids.join(',')}}`}::uuid[])`;
}

export function isUniqueViolation(err: unknown): boolean {
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
    if ((e as { code?: string }).code === '23505') return true;
  }
  return false;
}
