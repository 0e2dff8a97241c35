// Group commit against a real PostgreSQL: requests written together are not failed together by
// one request's row the database refuses. The schemas keep such values out (an audit found
// several that got through: a memory past the int4 column, an unpaired surrogate in a label);
// when one gets through anyway, only its own request fails, not the others written with it.
import { expect, it } from 'vitest';
import { useTestDatabase } from '../../test/support/database.ts';
import { loadConfig } from '../config/index.ts';
import { taskRowFrom } from '../control/task-rows.ts';
import { GroupCommit } from './group-commit.ts';
import { TaskStore } from './task-store.ts';

const db = useTestDatabase();

it("fails only the request whose row the database refuses, not the others in its group", async () => {
  const store = new TaskStore(db().db);
  const config = loadConfig({ file: null, overrides: {} });
  let enqueued = 0;
  const group = new GroupCommit(store, async (ts) => {
    enqueued += ts.length;
  });
  const rows = Array.from({ length: 10 }, (_, i) =>
    taskRowFrom({ image: 'busybox', command: ['true'], name: `t${i}` } as never, config, { status: 'queued', statusReason: 'waiting', tenant: 'default' }),
  );
  // Past the int4 column: refused by PostgreSQL (22003), as a value a schema missed would be.
  rows[6] = { ...rows[6], memoryMb: 3_000_000_000 };
  // The first is written alone; the other nine wait for it and are written as one group.
  const answers = await Promise.allSettled(rows.map((r) => group.submit(r)));
  expect(answers.map((a) => a.status)).toEqual(rows.map((_, i) => (i === 6 ? 'rejected' : 'fulfilled')));
  expect(String((answers[6] as PromiseRejectedResult).reason?.cause ?? (answers[6] as PromiseRejectedResult).reason)).toMatch(/out of range/);
  expect(enqueued).toBe(9);
  const stored = (await store.list({ limit: 50, offset: 0 })).items.map((t) => t.name).sort();
  expect(stored).toEqual(['t0', 't1', 't2', 't3', 't4', 't5', 't7', 't8', 't9']);
});
