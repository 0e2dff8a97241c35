// Small pieces every store shares: the transaction type and SQL helpers.
import type { Db } from './db.ts';

export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

/**
 * Ids as one PostgreSQL array literal, for `id = any($1::uuid[])`: for hundreds of ids much
 * cheaper to build and parse than `in ($1, $2, …)`.
 */
export const uuidArray = (ids: string[]): string => `{${ids.join(',')}}`;

/** PostgreSQL's error code anywhere in the error's causes (drizzle wraps the driver's error). */
function hasCode(err: unknown, code: string): boolean {
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
    if ((e as { code?: string }).code === code) return true;
  }
  return false;
}

export const isUniqueViolation = (err: unknown): boolean => hasCode(err, '23505');

/** A row refers to one that is gone (deleted meanwhile). */
export const isForeignKeyViolation = (err: unknown): boolean => hasCode(err, '23503');
