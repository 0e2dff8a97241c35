// Records the ends of many attempts in one transaction: the stored logs, the release of the
// nodes' reservations, and per task what the domain rule (src/domain/attempt-end.ts) decided:
// nothing, another attempt after a backoff, or the final state.
import { sql, type SQL } from 'drizzle-orm';
import { attemptEnd } from '../domain/attempt-end.ts';
import { CONTAINER_STARTED } from '../domain/status-reasons.ts';
import type { FinishStatus } from '../domain/task.ts';
import { toJson } from './json-insert.ts';
import { releaseMany, releaseStatement } from './node-reservations.ts';
import { taskEvents, tasks, type TaskRow } from './schema.ts';
import { rowsOf } from './row-mapping.ts';
import { eventsOf } from './task-history.ts';
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

interface Log { task_id: string; attempt: number; logs: string; truncated: boolean }
interface Retry { id: string; exit_code: number | null; error: string | null; reason: string; i: number; retryInMs: number; outputs: Record<string, string> | null; result: string | null }
interface Final { id: string; status: FinishStatus; exit_code: number | null; error: string | null; started_at: string | null; finished_at: string; i: number; outputs: Record<string, string> | null; result: string | null }

/** See TaskStore.finishMany. Reports for an attempt the task no longer has are ignored (null). */
export async function finishAttempts(tx: Tx, reports: FinishReport[], onFinal: OnTaskFinal): Promise<{ results: Array<FinishResult | null>; released: ReleasedTask[] }> {
  const { locked, inWorkflows } = await lockTasks(tx, uuidArray(reports.map((r) => r.taskId)));

  const results: Array<FinishResult | null> = reports.map(() => null);
  const current = reports.flatMap((r, i) => {
    const t = locked.get(r.taskId);
    return t && t.attempts === r.attempt ? [{ r, t, i }] : [];
  });
  const logs: Log[] = current.map(({ r }) => ({ task_id: r.taskId, attempt: r.attempt, logs: r.logs, truncated: r.truncated }));
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
  const changed = [...retries, ...finals].map((x) => locked.get(x.id) as TaskRow);
  // The reservations are released last, so the node rows (which placements update) stay locked
  // briefly: after the hook when a workflow's task ended (the hook releases its children), else
  // in the same statement as the tasks' changes, since the hook has nothing to do.
  const after = await store(tx, logs, retries, finals, inWorkflows ? [] : changed);
  for (const x of retries) results[x.i] = { task: after.get(x.id) as TaskRow, changed: true, retryInMs: x.retryInMs };
  for (const x of finals) results[x.i] = { task: after.get(x.id) as TaskRow, changed: true, retryInMs: null };
  const released = await onFinal(tx, finals.map((x) => after.get(x.id) as TaskRow));
  if (inWorkflows) await releaseMany(tx, changed);
  return { results, released };
}

/**
 * Locks the reports' tasks in the lock order used everywhere: workflow rows (by id), then task
 * rows (by id). A batch with no workflow's task, the usual one, takes one statement: it locks the
 * tasks unless one of them is a workflow's, and says which workflows they are; then those are
 * locked, and the tasks after them. (A task's workflow never changes, so reading it unlocked is
 * safe.) Raw statements read through row-mapping.ts, as in place-attempts.ts.
 */
async function lockTasks(tx: Tx, idList: string): Promise<{ locked: Map<string, TaskRow>; inWorkflows: boolean }> {
  const first = (await tx.execute(sql`
    with wf as (
      select distinct workflow_id as id from tasks where id = any(${idList}::uuid[]) and workflow_id is not null
    ), locked as (
      select * from tasks where id = any(${idList}::uuid[]) and not exists (select 1 from wf) order by id for update
    )
    select (select coalesce(json_agg(id order by id), '[]') from wf) as workflow_ids_, locked.* from (select) as one left join locked on true`)) as unknown as {
    rows: Array<Record<string, unknown> & { workflow_ids_: string[] | string }>;
  };
  // json comes back parsed from node-postgres, as text from PGlite.
  const listed = first.rows[0]?.workflow_ids_ ?? [];
  const wfIds: string[] = typeof listed === 'string' ? JSON.parse(listed) : listed;
  let rows = first.rows.filter((r) => r.id !== null && r.id !== undefined) as Array<Record<string, unknown>>;
  if (wfIds.length > 0) {
    await tx.execute(sql`select 1 from workflows where id in ${wfIds} order by id for update`);
    rows = ((await tx.execute(sql`select * from tasks where id = any(${idList}::uuid[]) order by id for update`)) as unknown as { rows: Array<Record<string, unknown>> }).rows;
  }
  return { locked: new Map(rowsOf(tasks, rows).map((t) => [t.id, t])), inWorkflows: wfIds.length > 0 };
}

/**
 * One statement for what the batch writes: the stored logs, back to `queued` for the retries and
 * the final state for the rest (each change with its history event: a retry's reason, a final
 * state's error), and the release of `releasing`'s reservations. Returns the changed rows.
 */
async function store(tx: Tx, logs: Log[], retries: Retry[], finals: Final[], releasing: TaskRow[]): Promise<Map<string, TaskRow>> {
  const after = new Map<string, TaskRow>();
  const at = new Date().toISOString();
  const parts: SQL[] = [];
  const changedSets: string[] = [];
  if (logs.length > 0) {
    parts.push(sql`logs as (
      insert into task_logs (task_id, attempt, logs, truncated)
      select task_id, attempt, logs, truncated from json_to_recordset(${toJson(logs)}::json) as l(task_id uuid, attempt int, logs text, truncated boolean)
      on conflict (task_id) do update set attempt = excluded.attempt, logs = excluded.logs, truncated = excluded.truncated
    )`);
  }
  if (retries.length > 0) {
    changedSets.push('retried');
    parts.push(sql`retried as (
      update tasks set status = 'queued', node_id = null, exit_code = r.exit_code, error = r.error, status_reason = r.reason,
        outputs = r.outputs, result = r.result, waiting_since = now()
      from jsonb_to_recordset(${JSON.stringify(retries)}::jsonb) as r(id uuid, exit_code int, error text, reason text, outputs jsonb, result text)
      where tasks.id = r.id
      returning tasks.*, tasks.status_reason::text as event_reason
    )`);
  }
  if (finals.length > 0) {
    changedSets.push('ended');
    parts.push(sql`ended as (
      update tasks set status = r.status, exit_code = r.exit_code, error = r.error, status_reason = null,
        started_at = coalesce(tasks.started_at, r.started_at), finished_at = r.finished_at, outputs = r.outputs, result = r.result
      from jsonb_to_recordset(${JSON.stringify(finals)}::jsonb) as r(id uuid, status text, exit_code int, error text, started_at timestamptz,
        finished_at timestamptz, outputs jsonb, result text)
      where tasks.id = r.id
      returning tasks.*, r.error::text as event_reason
    )`);
  }
  const changed = sql.raw(changedSets.map((name) => `select * from ${name}`).join(' union all '));
  if (changedSets.length > 0) {
    parts.push(sql`history as (${eventsOf(sql`(${changed}) as c`, at)})`);
  }
  const release = releaseStatement(releasing);
  if (release) parts.push(sql`released as (${release})`);
  if (parts.length === 0) return after;
  const res = (await tx.execute(sql`with ${sql.join(parts, sql`, `)} ${changedSets.length > 0 ? changed : sql`select null as id where false`}`)) as unknown as {
    rows: Array<Record<string, unknown>>;
  };
  for (const t of rowsOf(tasks, res.rows)) after.set(t.id, t);
  return after;
}
