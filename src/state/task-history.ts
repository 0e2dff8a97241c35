// A task's history: one row in task_events for each change of its state, with the reason.
import { sql, type SQL } from 'drizzle-orm';
import type { Db } from './db.ts';
import { taskEvents, type TaskRow } from './schema.ts';
import type { Tx } from './tx.ts';

/** Records a state change of many tasks (one statement). */
export async function recordEvents(tx: Tx, rows: TaskRow[], reason: string | null | ((t: TaskRow) => string), at = new Date()): Promise<void> {
  if (rows.length === 0) return;
  const why = (t: TaskRow) => (typeof reason === 'function' ? reason(t) : (reason ?? t.statusReason));
  // One JSON parameter instead of a bound value per column per row: much less work building
  // the statement for a batch of hundreds.
  const events = JSON.stringify(rows.map((t) => ({ task_id: t.id, status: t.status, node_id: t.nodeId, attempt: t.attempts, reason: why(t) })));
  await tx.execute(sql`
    insert into task_events (task_id, at, status, node_id, attempt, reason)
    select e.task_id, ${at.toISOString()}::timestamptz, e.status, e.node_id, e.attempt, e.reason
    from rows from (jsonb_to_recordset(${events}::jsonb) as (task_id uuid, status text, node_id uuid, attempt int, reason text))
      with ordinality as e(task_id, status, node_id, attempt, reason, ord)
    order by e.ord`);
}

/**
 * Runs `update` (an UPDATE of tasks, without RETURNING) and records one event for each task it
 * changed in the same statement, at `at`, with `reason` (SQL over the UPDATE's tables, read after
 * the change). Returns the changed rows as the driver gives them: whole when `whole`, else their
 * id, status, node_id and attempts, and the columns named in `also` (map whole rows with
 * row-mapping.ts's rowsOf).
 */
export async function updateWithEvents(tx: Tx | Db, update: SQL, reason: SQL, at: string, whole: boolean, also: string[] = []): Promise<Array<Record<string, unknown>>> {
  const returning = sql.raw(whole ? 'tasks.*' : ['id', 'status', 'node_id', 'attempts', ...also].map((c) => `tasks.${c}`).join(', '));
  const res = (await tx.execute(sql`
    with changed as (
      ${update}
      returning ${returning}, (${reason})::text as event_reason
    ), history as (${eventsOf(sql`changed`, at)})
    select * from changed`)) as unknown as { rows: Array<Record<string, unknown>> };
  return res.rows;
}

/**
 * The INSERT (for a CTE) of one history event per row of `changed` (a CTE or subquery of changed
 * tasks with id, status, node_id, attempts and event_reason), at `at`.
 */
export function eventsOf(changed: SQL, at: string): SQL {
  return sql`
    insert into task_events (task_id, at, status, node_id, attempt, reason)
    select id, ${at}::timestamptz, status, node_id, attempts, event_reason from ${changed}`;
}

/** Records one task's state change. */
export async function addEvent(tx: Tx | Db, t: TaskRow, reason: string | null): Promise<void> {
  await tx.insert(taskEvents).values({ taskId: t.id, at: new Date(), status: t.status, nodeId: t.nodeId, attempt: t.attempts, reason });
}
