// Deleting what ended long ago (config tasks.retention_days; monitor/retention.ts runs it on the
// leader): ended workflows with their tasks, and standalone tasks that ended, each with their
// stored logs and history. A batch locks its rows with SKIP LOCKED, so a retry or a cancel that
// holds one of them first keeps it (it is taken by a later pass if it is still old and ended).
// A workflow goes only once every task of it has ended before the cutoff too: a task of an ended
// workflow may be retried alone (POST /tasks/{id}/retry), and deleting it while queued or on a
// node lost the user's retry and, once placed, the node's reservation for good (session 32).
import { sql } from 'drizzle-orm';
import { FINAL_STATUSES, UNFINISHED_STATUSES } from '../domain/task.ts';
import type { Db } from './db.ts';
import { uuidArray } from './tx.ts';

const rows = <T>(r: unknown): T[] => ((r as { rows?: T[] }).rows ?? (r as T[]));
const FINAL = sql.raw(FINAL_STATUSES.map((s) => `'${s}'`).join(', '));
const UNFINISHED = sql.raw(UNFINISHED_STATUSES.map((s) => `'${s}'`).join(', '));

/** The workflow `w` has a task not ended, or one that ended at or after `before`. */
const taskStillYoung = (before: Date) => sql`exists (
  select 1 from tasks t where t.workflow_id = w.id and (t.status in (${UNFINISHED}) or coalesce(t.finished_at, t.created_at) >= ${before}))`;

/** Candidates looked at per batch, in batches: some may keep a young task, or be locked. */
const CANDIDATE_BATCHES = 4;

/**
 * Where a pass's look at ended workflows has got to: the last candidate looked at, in the order
 * they are taken (when the workflow ended, then id). `ended` is PostgreSQL's text, to the
 * microsecond: a Date's milliseconds would put the candidate itself after its own cursor.
 */
export interface WorkflowCursor {
  ended: string;
  id: string;
}

/**
 * Deletes up to `batch` workflows that ended before `before` and whose tasks have all ended
 * before it too, with their tasks, logs and history. Looks at the workflows that ended before
 * `before` after `from` (a few batches of them, oldest first). Returns how many it deleted (a
 * workflow found to have a task unfinished once locked is left, and not counted), and where the
 * next batch should look from: null when no such workflow is left after those looked at.
 *
 * In three steps, each sized by the batch, never by the tables: the candidates (a scan of
 * workflows, no task read), then the tasks of only those, a probe of tasks_workflow_idx per
 * candidate, with the rows locked, then the look again under the lock. One statement asking
 * both at once was planned as a hash anti-join over every workflow task in the table, at every
 * batch: 38 ms became 957 ms with 1 M workflow tasks (session 32).
 */
export async function deleteEndedWorkflows(db: Db, before: Date, batch: number, from: WorkflowCursor | null = null): Promise<{ deleted: number; next: WorkflowCursor | null }> {
  return db.transaction(async (tx) => {
    const after = from ? sql`and (coalesce(w.finished_at, w.created_at), w.id) > (${from.ended}::timestamptz, ${from.id}::uuid)` : sql``;
    const candidates = rows<WorkflowCursor>(
      await tx.execute(sql`
        select w.id, coalesce(w.finished_at, w.created_at)::text as ended from workflows w
        where w.status <> 'running' and coalesce(w.finished_at, w.created_at) < ${before} ${after}
        order by coalesce(w.finished_at, w.created_at), w.id limit ${batch * CANDIDATE_BATCHES}`),
    );
    if (candidates.length === 0) return { deleted: 0, next: null };
    const locked = rows<{ id: string }>(
      await tx.execute(sql`
        select w.id from workflows w
        where w.id = any(${uuidArray(candidates.map((c) => c.id))}::uuid[]) and w.status <> 'running' and not ${taskStillYoung(before)}
        order by coalesce(w.finished_at, w.created_at), w.id limit ${batch} for update of w skip locked`),
    ).map((r) => r.id);
    // Looked at: every candidate, unless the batch filled first (up to its last workflow). The
    // candidates passed over (a young task, locked) are looked at again by the next pass.
    const last = locked.length === batch ? (candidates.find((c) => c.id === locked[batch - 1]) as WorkflowCursor) : candidates[candidates.length - 1];
    const next = locked.length === batch || candidates.length === batch * CANDIDATE_BATCHES ? { ended: last.ended, id: last.id } : null;
    if (locked.length === 0) return { deleted: 0, next };
    // Looked at again now that they are locked, in a statement of its own (a snapshot taken
    // after the locks): a task's retry locks its workflow's row (TaskStore.retry), so one that
    // committed between the look above and the lock is seen here, and one not yet begun waits.
    const ids = rows<{ id: string }>(
      await tx.execute(sql`select w.id from workflows w where w.id = any(${uuidArray(locked)}::uuid[]) and not ${taskStillYoung(before)}`),
    ).map((r) => r.id);
    if (ids.length === 0) return { deleted: 0, next };
    const list = uuidArray(ids);
    // task_events has no foreign key (docs/decisions.md); the rest goes by cascade from the
    // workflow: its tasks, their stored logs, its events.
    await tx.execute(sql`delete from task_events where task_id in (select id from tasks where workflow_id = any(${list}::uuid[]))`);
    await tx.execute(sql`delete from workflows where id = any(${list}::uuid[])`);
    return { deleted: ids.length, next };
  });
}

/** Deletes up to `batch` standalone tasks that ended before `before`, oldest first, with their logs and history. Returns how many. */
export async function deleteEndedTasks(db: Db, before: Date, batch: number): Promise<number> {
  return db.transaction(async (tx) => {
    const ids = rows<{ id: string }>(
      await tx.execute(sql`
        select id from tasks where workflow_id is null and status in (${FINAL}) and coalesce(finished_at, created_at) < ${before}
        order by seq limit ${batch} for update skip locked`),
    ).map((r) => r.id);
    if (ids.length === 0) return 0;
    const list = uuidArray(ids);
    await tx.execute(sql`delete from task_events where task_id = any(${list}::uuid[])`);
    await tx.execute(sql`delete from tasks where id = any(${list}::uuid[])`);
    return ids.length;
  });
}
