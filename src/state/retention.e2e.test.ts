// deleteEndedWorkflows against a real PostgreSQL: it looks at a few batches of candidates
// (workflows that ended before the cutoff, oldest first), deletes those whose tasks all ended
// before it too, and says where the next batch looks from, so a pass goes on past candidates it
// cannot delete (a task retried alone and young, a row locked) rather than stopping at a batch
// that came back short. test/retention.e2e drives the whole part through `jarvis server`.
import { sql } from 'drizzle-orm';
import pg from 'pg';
import { expect, it } from 'vitest';
import { useTestDatabase } from '../../test/support/database.ts';
import { loadConfig } from '../config/index.ts';
import { taskRowFrom } from '../control/task-rows.ts';
import { newId } from '../domain/ids.ts';
import { deleteEndedWorkflows, type WorkflowCursor } from './retention.ts';
import { tasks, workflows } from './schema.ts';

const config = loadConfig({ file: null, overrides: {} });
const database = useTestDatabase();
const DAY = 86_400_000;

/** An ended workflow with one task; `taskEnded` days ago for its task (the workflow ended `ended` days ago). */
async function ended(endedDaysAgo: number, taskEndedDaysAgo = endedDaysAgo): Promise<string> {
  const id = newId();
  const at = (days: number) => new Date(Date.now() - days * DAY);
  await database()
    .db.insert(workflows)
    .values({ id, name: null, status: 'succeeded', onFailure: 'skip_downstream', maxParallel: null, tenant: 'default', createdAt: at(endedDaysAgo + 1), finishedAt: at(endedDaysAgo) });
  await database()
    .db.insert(tasks)
    .values(
      taskRowFrom({ image: 'busybox' } as never, config, {
        status: 'succeeded',
        statusReason: null,
        workflowId: id,
        workflowKey: 'a',
        createdAt: at(endedDaysAgo + 1),
        finishedAt: at(taskEndedDaysAgo),
      }),
    );
  return id;
}

const left = async (ids: string[]) =>
  (await database().db.select({ id: workflows.id }).from(workflows).where(sql`${workflows.id} = any(${`{${ids.join(',')}}`}::uuid[])`)).map((r) => r.id).sort();

it('looks past candidates it cannot delete, batch after batch, and says when none is left', async () => {
  // Oldest first: 8 (four batches of 2) whose task was retried alone and ended a day ago, then 3
  // due, then one that ended within the retention period.
  const young: string[] = [];
  for (let i = 0; i < 8; i++) young.push(await ended(50 - i, 1));
  const due = [await ended(40), await ended(39), await ended(38)];
  const recent = await ended(5);
  const before = new Date(Date.now() - 30 * DAY);

  // The first batch's candidates are all kept: nothing deleted, but more to look at.
  const first = await deleteEndedWorkflows(database().db, before, 2);
  expect(first.deleted).toBe(0);
  expect(first.next).toMatchObject({ id: young[7] });
  // Then the due ones, two by two, and the end.
  const second = await deleteEndedWorkflows(database().db, before, 2, first.next);
  expect(second).toMatchObject({ deleted: 2, next: { id: due[1] } });
  const third = await deleteEndedWorkflows(database().db, before, 2, second.next);
  expect(third).toEqual({ deleted: 1, next: null });
  expect(await left([...young, ...due, recent])).toEqual([...young, recent].sort());
  // A new pass starts from the oldest again: the kept ones are looked at, nothing else is due.
  expect(await deleteEndedWorkflows(database().db, before, 2)).toMatchObject({ deleted: 0 });
});

/** A pass: batches of `batch` until no candidate is left; how many it deleted. */
async function pass(before: Date, batch: number): Promise<number> {
  let from: WorkflowCursor | null = null;
  let deleted = 0;
  do {
    const r = await deleteEndedWorkflows(database().db, before, batch, from);
    deleted += r.deleted;
    from = r.next;
  } while (from);
  return deleted;
}

it('passes over a workflow another transaction holds, and a later pass takes it', async () => {
  const [held, free] = [await ended(45), await ended(44)];
  const before = new Date(Date.now() - 30 * DAY);
  const other = new pg.Client({ connectionString: database().url });
  await other.connect();
  try {
    await other.query('begin');
    await other.query('select id from workflows where id = $1 for update', [held]);
    expect(await pass(before, 1)).toBe(1);
    expect(await left([held, free])).toEqual([held]);
    await other.query('commit');
  } finally {
    await other.end();
  }
  expect(await pass(before, 1)).toBe(1);
  expect(await left([held, free])).toEqual([]);
});
