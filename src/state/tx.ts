// Small pieces every store shares: the transaction type and SQL helpers.
import type { Db } from './db.ts';

export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

/**
 * Ids as one PostgreSQL array literal, for `id = any($1::uuid[])`: for hundreds of ids much
 * cheaper to build and parse than `in ($1, $2, …)`.
 */
export const uuidArray = (ids: string[]): string => `{${ids.join(',')}}`;

export function isUniqueViolation(err: unknown): boolean {
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
    if ((e as { code?: string }).code === '23505') return true;
  }
  return false;
}
