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

/** PostgreSQL broke a deadlock by failing this transaction (40P01, deadlock_detected). */
export const isDeadlock = (err: unknown): boolean => hasCode(err, '40P01');

/**
 * The transaction failed only for its timing against another one, and all it did was rolled
 * back: a deadlock (40P01) or a serialization failure (40001). Run again, it may well succeed.
 */
export const isRetryable = (err: unknown): boolean => isDeadlock(err) || hasCode(err, '40001');

/**
 * Runs `transaction` again when it failed as isRetryable says, up to `tries` runs in all, after
 * a short pause, jittered so that two transactions failed together do not meet again (10-50 ms,
 * times the run's number). `transaction` must open the transaction itself and do nothing that
 * outlives its rollback: every run starts from what is committed then (afterCommit's work runs
 * for the run that commits only). A deadlock is found after deadlock_timeout (1 s by default),
 * so each failed run has waited that long already.
 */
export async function retryTransaction<T>(transaction: () => Promise<T>, tries = 4): Promise<T> {
  for (let run = 1; ; run++) {
    try {
      return await transaction();
    } catch (err) {
      if (run >= tries || !isRetryable(err)) throw err;
      await new Promise((resolve) => setTimeout(resolve, (10 + Math.random() * 40) * run));
    }
  }
}

/**
 * The statement's own data was refused (SQLSTATE class 22 data exception, 23 integrity
 * constraint, 54 program limit: a value out of range, a text PostgreSQL cannot hold, a row too
 * big), as opposed to a database that could not be reached or gave up.
 */
export function isDataError(err: unknown): boolean {
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^(22|23|54)[0-9A-Z]{3}$/.test(code)) return true;
  }
  return false;
}

/** The error is PostgreSQL's: a five-character SQLSTATE anywhere in its causes. */
export function isDatabaseError(err: unknown): boolean {
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return true;
  }
  return false;
}

/** A row refers to one that is gone (deleted meanwhile). */
export const isForeignKeyViolation = (err: unknown): boolean => hasCode(err, '23503');

/** Work to do once a transaction has committed, by transaction (see afterCommit). */
const AFTER_COMMIT = new WeakMap<object, Array<() => void>>();

/**
 * Runs `fn` once `tx` has committed, not if it rolls back: for what must reflect committed state
 * only (a counter of tasks ended). A transaction not opened through a database given to
 * withAfterCommit (a nested one) runs it at once.
 */
export function afterCommit(tx: Tx, fn: () => void): void {
  const hooks = AFTER_COMMIT.get(tx);
  if (hooks) hooks.push(fn);
  else fn();
}

/** The database, its transactions keeping afterCommit's work until they commit. */
export function withAfterCommit<D extends { transaction: (...args: never[]) => Promise<unknown> }>(db: D): D {
  const transaction = db.transaction.bind(db) as unknown as (fn: (tx: object) => Promise<unknown>, config?: unknown) => Promise<unknown>;
  const wrapped = async (fn: (tx: object) => Promise<unknown>, config?: unknown) => {
    const hooks: Array<() => void> = [];
    const result = await transaction((tx) => {
      AFTER_COMMIT.set(tx, hooks);
      return fn(tx);
    }, config);
    for (const h of hooks) {
      try {
        h();
      } catch {
        // Committed: the caller gets its answer whatever a hook does.
      }
    }
    return result;
  };
  Object.defineProperty(db, 'transaction', { value: wrapped, configurable: true, writable: true });
  return db;
}
/**
 * Runs `fn` in a savepoint of `tx`. If it throws, what it did is rolled back, its afterCommit work
 * dropped, and the error rethrown, while `tx` can go on; else its afterCommit work waits for
 * `tx`'s commit with the rest.
 */
export async function inSavepoint<T>(tx: Tx, fn: (sp: Tx) => Promise<T>): Promise<T> {
  const hooks: Array<() => void> = [];
  const result = await tx.transaction((sp) => {
    AFTER_COMMIT.set(sp, hooks);
    return fn(sp);
  });
  const outer = AFTER_COMMIT.get(tx);
  if (outer) outer.push(...hooks);
  else hooks.forEach((h) => h());
  return result;
}
