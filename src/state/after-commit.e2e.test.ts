// afterCommit (tx.ts): work tied to a transaction runs once it has committed, and never when it
// rolls back, on a real PostgreSQL database opened as the control plane opens it.
import { describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { useTestDatabase } from '../../test/support/database.ts';
import { afterCommit } from './tx.ts';

describe('afterCommit', () => {
  const db = useTestDatabase();

  it('runs after the commit, in order, and not at all after a rollback', async () => {
    const seen: string[] = [];
    const result = await db().db.transaction(async (tx) => {
      afterCommit(tx, () => seen.push('first'));
      afterCommit(tx, () => seen.push('second'));
      await tx.execute(sql`select 1`);
      seen.push('body done');
      return 'answer';
    });
    expect(result).toBe('answer');
    expect(seen).toEqual(['body done', 'first', 'second']);

    const failed = db().db.transaction(async (tx) => {
      afterCommit(tx, () => seen.push('rolled back'));
      throw new Error('no');
    });
    await expect(failed).rejects.toThrow('no');
    expect(seen).not.toContain('rolled back');
  });

  it('keeps the answer of a committed transaction when a hook throws', async () => {
    const r = await db().db.transaction(async (tx) => {
      afterCommit(tx, () => {
        throw new Error('hook');
      });
      return 42;
    });
    expect(r).toBe(42);
  });
});
