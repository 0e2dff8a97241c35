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
  return sql`${tasks.id} = any(${uuidArray(ids)}::uuid[])`;
}

/** Ids as one PostgreSQL array literal (for `= any($1::uuid[])`). */
export const uuidArray = (ids: string[]): string => `{${ids.join(',')}}`;

export function isUniqueViolation(err: unknown): boolean {
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
    if ((e as { code?: string }).code === '23505') return true;
  }
  return false;
}
