// Deleting what ended long ago (config tasks.retention_days; monitor/retention.ts runs it on the
// leader): ended workflows with their tasks, and standalone tasks that ended, each with their
// stored logs and history. A batch locks its rows with SKIP LOCKED, so a retry or a cancel that
// holds one of them first keeps it (it is taken by a later pass if it is still old and ended).
import { sql } from 'drizzle-orm';
import { FINAL_STATUSES } from '../domain/task.ts';
import type { Db } from './db.ts';
import { uuidArray } from './tx.ts';

const rows = <T>(r: unknown): T[] => ((r as { rows?: T[] }).rows ?? (r as T[]));
const FINAL = sql.raw(FINAL_STATUSES.map((s) => `'${s}'`).join(', '));

/** Deletes up to `batch` workflows that ended before `before`, with their tasks, logs and history. Returns how many. */
export async function deleteEndedWorkflows(db: Db, before: Date, batch: number): Promise<number> {
  return db.transaction(async (tx) => {
    const ids = rows<{ id: string }>(
      await tx.execute(sql`
        select id from workflows where status <> 'running' and coalesce(finished_at, created_at) < ${before}
        order by coalesce(finished_at, created_at) limit ${batch} for update skip locked`),
    ).map((r) => r.id);
    if (ids.length === 0) return 0;
    const list = uuidArray(ids);
    // task_events has no foreign key (docs/decisions.md); the rest goes by cascade from the
    // workflow: its tasks, their stored logs, its events.
    await tx.execute(sql`delete from task_events where task_id in (select id from tasks where workflow_id = any(${list}::uuid[]))`);
    await tx.execute(sql`delete from workflows where id = any(${list}::uuid[])`);
    return ids.length;
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
