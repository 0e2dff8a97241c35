// Records the ends of many attempts in one transaction: the stored logs, the release of the
// nodes' reservations, and per task what the domain rule (src/domain/attempt-end.ts) decided:
// nothing, another attempt after a backoff, or the final state.
import { sql } from 'drizzle-orm';
import { attemptEnd } from '../domain/attempt-end.ts';
import { CONTAINER_STARTED } from '../domain/status-reasons.ts';
import type { FinishStatus } from '../domain/task.ts';
import { releaseMany } from './node-reservations.ts';
import { taskEvents, taskLogs, tasks, type TaskRow } from './schema.ts';
import { rowsOf } from './row-mapping.ts';
import { updateWithEvents } from './task-history.ts';
import { uuidArray, type Tx } from './tx.ts';

export interface FinishReport {
  taskId: string;
  attempt: number;
  status: FinishStatus;
  exitCode: number | null;
  error: string | null;
  startedAt: Date | null;
  finishedAt: Date;
  logs: string;
  truncated: boolean;
  /** The declared outputs' values (a success), and the last non-blank stdout line; absent: none. */
  outputs?: Record<string, string> | null;
  result?: string | null;
}

export interface FinishResult {
  task: TaskRow;
  /** False when the task had already ended (e.g. cancelled while it ran). */
  changed: boolean;
  /** Set when the attempt failed with retries left: enqueue the task again after this delay. */
  retryInMs: number | null;
}

/**
 * Called inside the transaction that moves a task to a final state (the DAG manager releases or
 * skips the task's children there, so a crash can never finish a parent without its children's
 * fate). Returns tasks it moved to `queued`, which the caller enqueues after the commit.
 */
export type OnTaskFinal = (tx: Tx, ended: TaskRow[]) => Promise<ReleasedTask[]>;

/** What the caller needs of a task released to `queued` to enqueue it (scheduler/pending.ts). */
export type ReleasedTask = Pick<TaskRow, 'id' | 'priority' | 'tenant'>;

interface Retry { id: string; exit_code: number | null; error: string | null; reason: string; i: number; retryInMs: number; outputs: Record<string, string> | null; result: string | null }
interface Final { id: string; status: FinishStatus; exit_code: number | null; error: string | null; started_at: string | null; finished_at: string; i: number; outputs: Record<string, string> | null; result: string | null }

/** See TaskStore.finishMany. Reports for an attempt the task no longer has are ignored (null). */
export async function finishAttempts(tx: Tx, reports: FinishReport[], onFinal: OnTaskFinal): Promise<{ results: Array<FinishResult | null>; released: ReleasedTask[] }> {
  const ids = reports.map((r) => r.taskId);
  // Lock order, as everywhere: workflow rows (by id), then task rows (by id), then nodes.
  // Raw statements read through row-mapping.ts, as in place-attempts.ts.
  const idList = uuidArray(ids);
  const peek = (await tx.execute(sql`select distinct workflow_id from tasks where id = any(${idList}::uuid[]) and workflow_id is not null`)) as unknown as { rows: Array<{ workflow_id: string }> };
  const wfIds = peek.rows.map((p) => p.workflow_id).sort();
  if (wfIds.length > 0) await tx.execute(sql`select 1 from workflows where id in ${wfIds} order by id for update`);
  const lockedRows = (await tx.execute(sql`select * from tasks where id = any(${idList}::uuid[]) order by id for update`)) as unknown as { rows: Array<Record<string, unknown>> };
  const locked = new Map(rowsOf(tasks, lockedRows.rows).map((t) => [t.id, t]));

  const results: Array<FinishResult | null> = reports.map(() => null);
  const current = reports.flatMap((r, i) => {
    const t = locked.get(r.taskId);
    return t && t.attempts === r.attempt ? [{ r, t, i }] : [];
  });
  for (let i = 0; i < current.length; i += 100) {
    await tx
      .insert(taskLogs)
      .values(current.slice(i, i + 100).map(({ r }) => ({ taskId: r.taskId, attempt: r.attempt, logs: r.logs, truncated: r.truncated })))
      .onConflictDoUpdate({ target: taskLogs.taskId, set: { attempt: sql`excluded.attempt`, logs: sql`excluded.logs`, truncated: sql`excluded.truncated` } });
  }
  const retries: Retry[] = [];
  const finals: Final[] = [];
  const startedLate: Array<typeof taskEvents.$inferInsert> = [];
  for (const { r, t, i } of current) {
    const end = attemptEnd(t, r);
    if (end.kind === 'ignore') {
      results[i] = { task: t, changed: false, retryInMs: null };
      continue;
    }
    if (t.status === 'scheduled' && r.startedAt) {
      // The "started" report is still on its way (reports are applied concurrently): keep
      // the history whole; the late report will find the task ended and change nothing.
      startedLate.push({ taskId: t.id, at: r.startedAt, status: 'running', nodeId: t.nodeId, attempt: t.attempts, reason: CONTAINER_STARTED });
    }
    const left = { outputs: r.outputs ?? null, result: r.result ?? null };
    if (end.kind === 'retry') retries.push({ id: t.id, exit_code: r.exitCode, error: r.error, reason: end.reason, i, retryInMs: end.retryInMs, ...left });
    else finals.push({ id: t.id, status: r.status, exit_code: r.exitCode, error: r.error, started_at: r.startedAt?.toISOString() ?? null, finished_at: r.finishedAt.toISOString(), i, ...left });
  }
  if (startedLate.length > 0) await tx.insert(taskEvents).values(startedLate);
  const after = await store(tx, retries, finals);
  const changedIds = [...retries, ...finals].map((x) => x.id);
  for (const x of retries) results[x.i] = { task: after.get(x.id) as TaskRow, changed: true, retryInMs: x.retryInMs };
  for (const x of finals) results[x.i] = { task: after.get(x.id) as TaskRow, changed: true, retryInMs: null };
  const released = await onFinal(tx, finals.map((x) => after.get(x.id) as TaskRow));
  // Reservations released last, so the node rows (which placements update) stay locked briefly.
  await releaseMany(tx, changedIds.map((id) => locked.get(id) as TaskRow));
  return { results, released };
}

/**
 * Back to `queued` for the retries, the final state for the rest: one statement each, which also
 * records the history event (a retry's reason, a final state's error) and returns the rows.
 */
async function store(tx: Tx, retries: Retry[], finals: Final[]): Promise<Map<string, TaskRow>> {
  const after = new Map<string, TaskRow>();
  const at = new Date().toISOString();
  const keep = (rows: Array<Record<string, unknown>>) => {
    for (const t of rowsOf(tasks, rows)) after.set(t.id, t);
  };
  if (retries.length > 0) {
    keep(
      await updateWithEvents(
        tx,
        sql`update tasks set status = 'queued', node_id = null, exit_code = r.exit_code, error = r.error, status_reason = r.reason,
            outputs = r.outputs, result = r.result
          from jsonb_to_recordset(${JSON.stringify(retries)}::jsonb) as r(id uuid, exit_code int, error text, reason text, outputs jsonb, result text)
          where tasks.id = r.id`,
        sql`tasks.status_reason`,
        at,
        true,
      ),
    );
  }
  if (finals.length > 0) {
    keep(
      await updateWithEvents(
        tx,
        sql`update tasks set status = r.status, exit_code = r.exit_code, error = r.error, status_reason = null,
            started_at = coalesce(tasks.started_at, r.started_at), finished_at = r.finished_at, outputs = r.outputs, result = r.result
          from jsonb_to_recordset(${JSON.stringify(finals)}::jsonb) as r(id uuid, status text, exit_code int, error text, started_at timestamptz,
            finished_at timestamptz, outputs jsonb, result text)
          where tasks.id = r.id`,
        sql`r.error`,
        at,
        true,
      ),
    );
  }
  return after;
}
