// The database handle when PostgreSQL goes away mid-transaction: the connection is cut while a
// transaction holds it between two statements (the reconciler reads its pages so). The process
// must live on: the transaction fails with the cause, the broken connection is dropped, and the
// next query works once PostgreSQL is back. Before the fix this was an unhandled 'error' event
// that ended the control plane (seen in CI as a server gone mid-scrape).
import { afterEach, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { cuttableTestDatabase } from '../../test/support/services.ts';
import { openDatabase } from './db.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('openDatabase on PostgreSQL when the connection is cut', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  });

  it('fails the transaction that held it, without an unhandled error, and recovers', async () => {
    const { url, forwarder } = await cuttableTestDatabase(cleanups);
    const database = await openDatabase({ url, dataDir: '/nonexistent' });
    cleanups.push(() => database.close());
    const unhandled: unknown[] = [];
    const onUncaught = (err: unknown) => void unhandled.push(err);
    process.prependListener('uncaughtException', onUncaught);
    cleanups.push(async () => process.removeListener('uncaughtException', onUncaught));

    const tx = database.db.transaction(async (t) => {
      await t.execute(sql`select 1`);
      await forwarder.cut();
      await sleep(300); // the client learns of the cut here, checked out and between statements
      await t.execute(sql`select 2`);
    });
    // drizzle reports the failed rollback; its cause is the lost connection.
    const err = (await tx.then(() => null, (e: Error) => e)) as (Error & { cause?: Error }) | null;
    expect(unhandled).toEqual([]);
    expect(err?.cause?.message ?? err?.message).toMatch(/connection|terminated|ECONNRESET|not queryable/i);

    await forwarder.open();
    await database.ping();
    const r = await database.db.execute(sql`select 41 + 1 as n`);
    expect((r as unknown as { rows: Array<{ n: number }> }).rows[0].n).toBe(42);
  });
});
