// Reads and writes tasks, their history and their stored logs. Every state change goes through
// here and is fenced: a change names the attempt it is about and the statuses it may leave,
// so a late or repeated report can never move a task twice or out of a final state.
import { and, count, desc, eq, inArray, sql, type SQL } from 'drizzle-orm';
import type { Db } from './db.ts';
import { taskEvents, taskLogs, tasks, workflows, type NewTaskRow, type NodeRow, type TaskRow } from './schema.ts';
import { isFinal, isOnNode, isRetryable, ON_NODE_STATUSES, type TaskStatus } from '../domain/task.ts';
import { nodeEngineLostBeforeTaking, nodeStoppedBeforeTaking, nodeWentOffline, retryRequested, type UntakenReason } from '../domain/status-reasons.ts';
import { finishAttempts, type FinishReport, type FinishResult, type OnTaskFinal, type ReleasedTask } from './finish-attempts.ts';
import { release, releaseMany } from './node-reservations.ts';
import { markStarted, placeAttempts } from './place-attempts.ts';
import { addEvent, recordEvents } from './task-history.ts';
import { taskOverview, type TaskOverview } from './task-overview.ts';
import { isUniqueViolation, uuidArray, type Tx } from './tx.ts';
import { fieldsOf, rowFromJson, rowsOf } from './row-mapping.ts';
import { insertAsJson } from './json-insert.ts';
import { NotTakenBack } from './group-commit.ts';
import { deletePendingDeliveries, deliveryLine } from './webhook-store.ts';

export interface TaskFilter {
  /** Only this tenant's tasks (undefined: every tenant's). */
  tenant?: string;
  status?: TaskStatus;
  workflowId?: string;
  nodeId?: string;
  scheduleId?: string;
  label?: { key: string; value: string };
  /** Only tasks whose name starts with this (case-sensitive; tasks_name_idx). */
  namePrefix?: string;
  limit: number;
  offset: number;
}

const REQUEST_FIELDS = fieldsOf(tasks, ['id', 'status', 'nodeId', 'priority', 'tenant', 'createdAt', 'waitingSince', 'statusReason', 'cpu', 'memoryMb', 'gpu', 'nodeSelector', 'image', 'network'] as const);
export type PlacementRequest = ReturnType<typeof REQUEST_FIELDS.read>[number];

/** What the reconciler reads of a waiting task (idsInStatus, crossedAgingClass). */
/** When a task began to wait for a node (scheduler/aging.ts, waitingSince), in SQL. */
const SINCE = sql`coalesce(${tasks.waitingSince}, ${tasks.createdAt})`;
const WAITING_FIELDS = { id: tasks.id, seq: tasks.seq, status: tasks.status, priority: tasks.priority, tenant: tasks.tenant, attempts: tasks.attempts, nodeId: tasks.nodeId, createdAt: tasks.createdAt, waitingSince: tasks.waitingSince };
export type WaitingTask = Pick<TaskRow, 'id' | 'status' | 'priority' | 'tenant' | 'attempts' | 'nodeId' | 'createdAt' | 'waitingSince' | 'seq'>;

export type { FinishStatus } from '../domain/task.ts';
export type { FinishReport, FinishResult, OnTaskFinal, ReleasedTask, Tx };

export class TaskStore {
  private onFinal: OnTaskFinal = async () => [];

  private readonly byId;

  constructor(private readonly db: Db) {
    this.byId = db
      .select({ row: sql<string>`row_to_json(${tasks})::text` })
      .from(tasks)
      .where(eq(tasks.id, sql.placeholder('id')))
      .prepare('jarvis_task_by_id');
  }

  /** Installs the hook run on every final transition (the composer wires the DAG manager). */
  setOnFinal(hook: OnTaskFinal): void {
    this.onFinal = hook;
  }

  /**
   * Locks a task row for a final transition. A workflow task's workflow row is locked first:
   * every transaction that touches a workflow's DAG state takes the workflow lock before any of
   * its task locks, so they cannot deadlock.
   */
  private async lockTask(tx: Tx, id: string): Promise<TaskRow | null> {
    const [peek] = await tx.select({ workflowId: tasks.workflowId }).from(tasks).where(eq(tasks.id, id));
    if (!peek) return null;
    if (peek.workflowId) await tx.execute(sql`select 1 from workflows where id = ${peek.workflowId} for update`);
    const [t] = await tx.select().from(tasks).where(eq(tasks.id, id)).for('update');
    return t ?? null;
  }

  /** Records a state change in the task's history (for stores that change tasks in bulk too). */
  recordEvents(tx: Tx, rows: TaskRow[], reason: string | null | ((t: TaskRow) => string), at = new Date()): Promise<void> {
    return recordEvents(tx, rows, reason, at);
  }

  /**
   * Inserts a task, then runs `enqueue`. If enqueueing fails the row is deleted again, so the
   * client is never told "accepted" for work that is nowhere. (Enqueueing after the commit, not
   * inside the transaction, means the scheduler never sees a job whose row is not visible yet;
   * a crash between the two leaves a queued row that the reconciler enqueues.)
   */
  async create(row: NewTaskRow, enqueue: (task: TaskRow) => Promise<void>): Promise<{ task: TaskRow; created: boolean }> {
    // An idempotency key is the tenant's own: another tenant's task with it is no match.
    const tenant = row.tenant ?? 'default';
    if (row.idempotencyKey) {
      const existing = await this.findByIdempotencyKey(tenant, row.idempotencyKey);
      if (existing) return { task: existing, created: false };
    }
    let task: TaskRow;
    try {
      // One statement: the history event comes from the insert trigger (drizzle/0002).
      [task] = await this.db.insert(tasks).values(row).returning();
    } catch (err) {
      // Two requests with one idempotency key at once: the loser returns the winner's task.
      if (row.idempotencyKey && isUniqueViolation(err)) {
        const existing = await this.findByIdempotencyKey(tenant, row.idempotencyKey);
        if (existing) return { task: existing, created: false };
      }
      throw err;
    }
    try {
      await enqueue(task);
    } catch (err) {
      // Placed meanwhile (the enqueue landed after its deadline): accepted after all, as stored.
      const [kept] = await this.takeBack([task.id], false);
      if (kept) return { task: kept, created: true };
      throw err;
    }
    return { task, created: true };
  }

  /**
   * Inserts many tasks in one transaction, then enqueues them; all or nothing: if enqueueing
   * fails every row is deleted again, unless one of them was placed meanwhile (the enqueue landed
   * after its deadline): then none is, and the batch is accepted, as stored (the reconciler
   * queues those still queued that have no job).
   */
  async createMany(rows: NewTaskRow[], enqueue: (tasks: TaskRow[]) => Promise<void>): Promise<TaskRow[]> {
    const created = await this.db.transaction(async (tx) => {
      const out: TaskRow[] = [];
      for (let i = 0; i < rows.length; i += 500) {
        const part = rows.slice(i, i + 500);
        out.push(...((await insertAsJson(tx, tasks, part)) ?? (await tx.insert(tasks).values(part).returning())));
      }
      return out;
    });
    try {
      await enqueue(created);
    } catch (err) {
      const kept = new Map((await this.takeBack(created.map((t) => t.id), true)).map((t) => [t.id, t]));
      if (kept.size === 0) throw err;
      return created.map((t) => kept.get(t.id) ?? t);
    }
    return created;
  }

  /** One multi-row INSERT (no transaction: a single statement is atomic), rows sent as one JSON value. */
  async insertMany(rows: NewTaskRow[]): Promise<TaskRow[]> {
    return (await insertAsJson(this.db, tasks, rows)) ?? this.db.insert(tasks).values(rows).returning();
  }

  /**
   * Takes back tasks just inserted whose enqueue failed, with the history events their insert
   * wrote (task_events has no foreign key to cascade a delete, migration 0015) — only those
   * nothing has touched: still `queued`, no attempt. An enqueue that failed by its deadline may
   * still have landed, and the dispatcher placed the task (or the reconciler queued the row):
   * such a task is on a node with its reservation, and may run already; deleting it would drop
   * its reports and never give the reservation back. The rows are locked (in id order, as
   * placement locks them) before they are judged. `allOrNone` (a batch): if one cannot be
   * deleted, none is. Returns the tasks kept (all of them when `allOrNone` kept any), as stored.
   */
  async deleteMany(ids: string[], allOrNone = false): Promise<TaskRow[]> {
    if (ids.length === 0) return [];
    return this.db.transaction(async (tx) => {
      const res = (await tx.execute(sql`select * from tasks where id = any(${uuidArray(ids)}::uuid[]) order by id for update`)) as unknown as { rows: Array<Record<string, unknown>> };
      const rows = rowsOf(tasks, res.rows);
      const untouched = (t: TaskRow) => t.status === 'queued' && t.attempts === 0;
      const kept = rows.filter((t) => !untouched(t));
      if (allOrNone && kept.length > 0) return rows;
      const gone = rows.filter(untouched).map((t) => t.id);
      if (gone.length > 0) {
        // Their events go with them, and the webhook deliveries the outbox may have made of those
        // events already (they would be sent for tasks that answer 404).
        await tx.execute(sql`
          with gone as (delete from tasks where id = any(${uuidArray(gone)}::uuid[]) returning id),
            events as (delete from task_events e using gone where e.task_id = gone.id)
          ${deletePendingDeliveries(sql`${`{${gone.map((id) => deliveryLine('task', id)).join(',')}}`}::text[]`)}`);
      }
      return kept;
    });
  }

  /** deleteMany after a failed enqueue; a failure to take back is a NotTakenBack (never "nothing was stored"). */
  private async takeBack(ids: string[], allOrNone: boolean): Promise<TaskRow[]> {
    try {
      return await this.deleteMany(ids, allOrNone);
    } catch (undoErr) {
      throw new NotTakenBack(ids, undoErr);
    }
  }

  /** The tenant's task with this idempotency key (keys are per tenant), or null. */
  async findByIdempotencyKey(tenant: string, key: string): Promise<TaskRow | null> {
    const [t] = await this.db
      .select()
      .from(tasks)
      .where(and(eq(tasks.tenant, tenant), eq(tasks.idempotencyKey, key)));
    return t ?? null;
  }

  /** Which of these keys the tenant's tasks already use, each with its task's id: one statement for a batch's keys. */
  async usedIdempotencyKeys(tenant: string, keys: string[]): Promise<Map<string, string>> {
    if (keys.length === 0) return new Map();
    const rows = await this.db
      .select({ id: tasks.id, key: tasks.idempotencyKey })
      .from(tasks)
      .where(and(eq(tasks.tenant, tenant), inArray(tasks.idempotencyKey, keys)));
    return new Map(rows.map((r) => [r.key as string, r.id]));
  }

  /**
   * GET /tasks/{id} is what clients poll. A named statement (parsed and planned once per
   * connection) that returns the row as one JSON text: the driver then builds one field's
   * parser instead of forty, and drizzle's builder runs once (docs/decisions.md, "A polled
   * task's read").
   */
  async get(id: string): Promise<TaskRow | null> {
    const [r] = await this.byId.execute({ id });
    return r ? rowFromJson(tasks, r.row) : null;
  }

  async list(filter: TaskFilter): Promise<{ items: TaskRow[]; total: number }> {
    const cond = this.whereOf(filter);
    const [items, [{ n }]] = await Promise.all([
      this.db.select().from(tasks).where(cond).orderBy(desc(tasks.seq)).limit(filter.limit).offset(filter.offset),
      this.db.select({ n: count() }).from(tasks).where(cond),
    ]);
    return { items, total: Number(n) };
  }

  /**
   * list(filter), with the page weighed first: the size of each of its rows as text (about what
   * reading it costs in memory and what its JSON weighs) is read in PostgreSQL and handed to
   * `check` (control/page-bytes.ts), which throws for a page too big to bring over; then the rows
   * are read by key. One scan of the page's range, however deep its offset.
   */
  async listWeighed(filter: TaskFilter, check: (sizes: number[]) => void): Promise<{ items: TaskRow[]; total: number }> {
    const cond = this.whereOf(filter);
    const [page, [{ n }]] = await Promise.all([
      this.db
        .select({ id: tasks.id, bytes: sql<number>`octet_length(${tasks}::text)` })
        .from(tasks)
        .where(cond)
        .orderBy(desc(tasks.seq))
        .limit(filter.limit)
        .offset(filter.offset),
      this.db.select({ n: count() }).from(tasks).where(cond),
    ]);
    check(page.map((r) => Number(r.bytes)));
    const items =
      page.length === 0
        ? []
        : await this.db
            .select()
            .from(tasks)
            .where(sql`${tasks.id} = any(${uuidArray(page.map((r) => r.id))}::uuid[])`)
            .orderBy(desc(tasks.seq));
    return { items, total: Number(n) };
  }

  private whereOf(filter: TaskFilter): SQL | undefined {
    const where: SQL[] = [];
    if (filter.tenant) where.push(eq(tasks.tenant, filter.tenant));
    if (filter.status) where.push(eq(tasks.status, filter.status));
    if (filter.workflowId) where.push(eq(tasks.workflowId, filter.workflowId));
    if (filter.nodeId) where.push(eq(tasks.nodeId, filter.nodeId));
    if (filter.scheduleId) where.push(eq(tasks.scheduleId, filter.scheduleId));
    // `<> '{}'` is implied by the containment, but said so the planner may use tasks_labels_idx (partial).
    if (filter.label) where.push(sql`${tasks.labels} @> ${JSON.stringify({ [filter.label.key]: filter.label.value })}::jsonb and ${tasks.labels} <> '{}'::jsonb`);
    if (filter.namePrefix) where.push(sql`${tasks.name} like ${filter.namePrefix.replace(/[\\%_]/g, '\\$&') + '%'}`);
    return where.length ? and(...where) : undefined;
  }

  /** The dashboard overview's figures, for one tenant or (undefined) all. */
  overview(tenant: string | undefined): Promise<TaskOverview> {
    return taskOverview(this.db, tenant);
  }

  /**
   * Tasks in these statuses, by status (a status with none is absent). Read through
   * tasks_status_idx, so its cost grows with the tasks in them: the unfinished ones for every
   * scrape, the finished ones (all that retention keeps) less often (monitor/task-counts.ts).
   */
  async countByStatus(statuses: readonly TaskStatus[]): Promise<Partial<Record<TaskStatus, number>>> {
    const rows = await this.db
      .select({ status: tasks.status, n: count() })
      .from(tasks)
      .where(inArray(tasks.status, [...statuses]))
      .groupBy(tasks.status);
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  }

  async events(taskId: string) {
    return this.db.select().from(taskEvents).where(eq(taskEvents.taskId, taskId)).orderBy(taskEvents.id);
  }

  async getMany(ids: string[]): Promise<TaskRow[]> {
    if (ids.length === 0) return [];
    const res = (await this.db.execute(sql`select * from tasks where id = any(${uuidArray(ids)}::uuid[])`)) as unknown as { rows: Array<Record<string, unknown>> };
    return rowsOf(tasks, res.rows);
  }

  /**
   * The status of each of these tasks that exists, in one statement: what a quiet log follower
   * needs to know each second (control/task-status-reads.ts), not the whole row.
   */
  async statuses(ids: string[]): Promise<Map<string, TaskStatus>> {
    if (ids.length === 0) return new Map();
    const res = (await this.db.execute(sql`select id, status from tasks where id = any(${uuidArray(ids)}::uuid[])`)) as unknown as { rows: Array<{ id: string; status: TaskStatus }> };
    return new Map(res.rows.map((r) => [r.id, r.status]));
  }

  /** What the scheduler decides on, for many tasks (not the whole rows); read raw, as getMany. */
  async placementRequests(ids: string[]): Promise<PlacementRequest[]> {
    if (ids.length === 0) return [];
    const res = (await this.db.execute(sql`select ${REQUEST_FIELDS.list} from tasks where id = any(${uuidArray(ids)}::uuid[])`)) as unknown as { rows: Array<Record<string, unknown>> };
    return REQUEST_FIELDS.read(res.rows);
  }

  /** Says why tasks in `status` wait (one statement for many); inside `tx` when given. */
  async setStatusReasons(reasons: Array<{ taskId: string; reason: string; event?: boolean }>, status: 'queued' | 'pending', tx: Tx | Db = this.db): Promise<void> {
    if (reasons.length === 0) return;
    const rows = JSON.stringify(reasons.map((r) => ({ id: r.taskId, reason: r.reason, event: r.event === true })));
    // A reason marked `event` is also written to the task's history (GET /tasks/{id}/events).
    await tx.execute(sql`
      with changed as (
        update tasks set status_reason = r.reason
        from jsonb_to_recordset(${rows}::jsonb) as r(id uuid, reason text, event boolean)
        where tasks.id = r.id and tasks.id = any(${uuidArray(reasons.map((r) => r.taskId))}::uuid[]) and tasks.status = ${status}
        returning tasks.id, tasks.status, tasks.node_id, tasks.attempts, r.reason, r.event)
      insert into task_events (task_id, at, status, node_id, attempt, reason)
      select id, now(), status, node_id, attempts, reason from changed where event`);
  }

  /** Fails a queued task that can never run (bigger than any node, say). */
  async failQueued(taskId: string, error: string): Promise<{ task: TaskRow; released: ReleasedTask[] } | null> {
    return this.db.transaction(async (tx) => {
      const locked = await this.lockTask(tx, taskId);
      if (!locked || locked.status !== 'queued') return null;
      const [t] = await tx
        .update(tasks)
        .set({ status: 'failed', error, statusReason: error, finishedAt: new Date() })
        .where(eq(tasks.id, taskId))
        .returning();
      await addEvent(tx, t, error);
      return { task: t, released: await this.onFinal(tx, [t]) };
    });
  }

  /**
   * Places many tasks at once, each on the node the scheduler chose, in one transaction: tasks
   * still queued are locked (in id order), each node's reservation grows by the sum of its
   * tasks' requests only if it is still available and it all still fits, and the placed tasks
   * get their new attempt and history event. Tasks no longer queued are left out (`gone`);
   * those whose node refused (drained or changed since the choice) are returned in `refused`,
   * to be chosen again.
   */
  async placeMany(plans: Array<{ taskId: string; nodeId: string }>): Promise<{ placed: TaskRow[]; refused: string[]; gone: string[] }> {
    if (plans.length === 0) return { placed: [], refused: [], gone: [] };
    return placeAttempts(this.db, plans);
  }

  /**
   * Marks started attempts running (one statement for many reports, so no transaction of its
   * own); returns the ids of the tasks it changed. A report for an attempt the task no longer
   * has, or for a task no longer scheduled, changes nothing.
   */
  async markRunningMany(reports: Array<{ taskId: string; attempt: number; startedAt: Date }>): Promise<string[]> {
    if (reports.length === 0) return [];
    return markStarted(this.db, reports);
  }

  /**
   * Records the ends of many attempts in one transaction (each as described below), with one
   * lock per workflow and a few statements for the whole batch; results come back in the order
   * of the reports. A task must appear at most once in a batch.
   *
   * Records the end of an attempt: the stored logs, the release of the node's reservation, and
   * either a retry (failed or timed out with retries left: back to `queued`, to be enqueued after
   * `retryInMs`) or the final state (unless the task already ended, e.g. it was cancelled).
   * Reports for an attempt the task no longer has are ignored (null).
   */
  async finishMany(reports: FinishReport[]): Promise<{ results: Array<FinishResult | null>; released: ReleasedTask[] }> {
    if (reports.length === 0) return { results: [], released: [] };
    if (new Set(reports.map((r) => r.taskId)).size !== reports.length) throw new Error('finishMany: a task appears twice in one batch');
    return this.db.transaction((tx) => finishAttempts(tx, reports, this.onFinal));
  }

  async cancel(
    taskId: string,
    reason = 'cancelled by request',
  ): Promise<{ task: TaskRow; wasOnNode: boolean; released: ReleasedTask[] } | 'not_found' | { ended: TaskRow }> {
    return this.db.transaction((tx) => this.cancelIn(tx, taskId, reason));
  }

  /** cancel() inside the caller's transaction. */
  async cancelIn(
    tx: Tx,
    taskId: string,
    reason: string,
  ): Promise<{ task: TaskRow; wasOnNode: boolean; released: ReleasedTask[] } | 'not_found' | { ended: TaskRow }> {
    const t = await this.lockTask(tx, taskId);
    if (!t) return 'not_found';
    if (isFinal(t.status)) return { ended: t };
    const r = await this.cancelLocked(tx, t, reason);
    return { ...r, released: await this.onFinal(tx, [r.task]) };
  }

  /**
   * Cancels tasks whose rows the caller has locked (in id order, as placement locks them): one
   * update of the tasks, then their nodes' reservations freed in one statement, node rows in id
   * order (releaseMany), and their events. Freed one task at a time, a workflow's cancel locked
   * node rows in its tasks' order, and deadlocked with a transaction locking them in id order
   * (another cancel, a placement, a finish): PostgreSQL failed one of them (40P01), a 500 for a
   * cancel. Runs no hook (the caller decides). Returns each as it is now, in the order given.
   */
  async cancelLockedMany(tx: Tx, ts: TaskRow[], reason: string): Promise<Array<{ task: TaskRow; wasOnNode: boolean }>> {
    if (ts.length === 0) return [];
    const done = await tx
      .update(tasks)
      .set({ status: 'cancelled', statusReason: null, finishedAt: new Date(), error: reason, dagReady: false })
      .where(sql`${tasks.id} = any(${uuidArray(ts.map((t) => t.id))}::uuid[])`)
      .returning();
    await releaseMany(tx, ts.filter((t) => isOnNode(t.status)));
    const byId = new Map(done.map((d) => [d.id, d]));
    const out = ts.map((t) => ({ task: byId.get(t.id) as TaskRow, wasOnNode: isOnNode(t.status) }));
    await recordEvents(tx, out.map((o) => o.task), reason);
    return out;
  }

  /** Cancels a task whose row the caller has locked (cancelLockedMany of one); runs no hook (the caller decides). */
  async cancelLocked(tx: Tx, t: TaskRow, reason: string): Promise<{ task: TaskRow; wasOnNode: boolean }> {
    const [r] = await this.cancelLockedMany(tx, [t], reason);
    return r;
  }

  /**
   * Takes back every task placed on a node that went offline: reservations freed, tasks back
   * to `queued` to be placed again (the next placement is attempt + 1, so reports of the lost
   * attempt are ignored). A lost attempt does not count against max_retries.
   */
  async requeueFromNode(nodeId: string, nodeName: string): Promise<TaskRow[]> {
    return this.db.transaction(async (tx) => {
      const lost = await tx
        .select()
        .from(tasks)
        .where(and(eq(tasks.nodeId, nodeId), inArray(tasks.status, ON_NODE_STATUSES)))
        .for('update');
      return putBack(tx, lost, (t) => nodeWentOffline(nodeName, t.attempts));
    });
  }

  /** The attempts handed to a node that it has not started (status `scheduled`). */
  async scheduledOn(nodeId: string): Promise<Array<{ id: string; attempts: number }>> {
    return this.db
      .select({ id: tasks.id, attempts: tasks.attempts })
      .from(tasks)
      .where(and(eq(tasks.nodeId, nodeId), eq(tasks.status, 'scheduled')));
  }

  /**
   * Takes back attempts a stopping node never took (withdrawn first, so it never will), as
   * requeueFromNode does; each only while it is still that attempt, scheduled on that node.
   */
  async requeueUntaken(nodeId: string, nodeName: string, attempts: Array<{ id: string; attempts: number }>, why: UntakenReason = 'stopping'): Promise<TaskRow[]> {
    if (attempts.length === 0) return [];
    const attemptOf = new Map(attempts.map((a) => [a.id, a.attempts]));
    return this.db.transaction(async (tx) => {
      const rows = await tx
        .select()
        .from(tasks)
        .where(and(sql`${tasks.id} = any(${uuidArray([...attemptOf.keys()])}::uuid[])`, eq(tasks.nodeId, nodeId), eq(tasks.status, 'scheduled')))
        .for('update');
      return putBack(tx, rows.filter((t) => attemptOf.get(t.id) === t.attempts), (t) => (why === 'stopping' ? nodeStoppedBeforeTaking : nodeEngineLostBeforeTaking)(nodeName, t.attempts));
    });
  }

  /**
   * An attempt its node no longer runs and never reported (its report was lost with Redis):
   * back to `queued`, to be placed again as attempt + 1.
   */
  async requeueLost(taskId: string, attempt: number, reason: string): Promise<TaskRow | null> {
    return this.db.transaction(async (tx) => {
      const t = await this.lockTask(tx, taskId);
      if (!t || t.attempts !== attempt || !isOnNode(t.status)) return null;
      const [again] = await putBack(tx, [t], () => reason);
      return again;
    });
  }

  /**
   * A new attempt of a task that ended unsuccessfully: back to `queued`. `admit` sees the locked
   * row once it is known to be retryable and may refuse it by throwing (the tenant's image
   * policy), so that a task that cannot be retried is a conflict whatever its image.
   */
  async retry(taskId: string, admit?: (t: TaskRow) => void): Promise<TaskRow | 'not_found' | { notRetryable: TaskRow } | { workflowRunning: TaskRow }> {
    return this.db.transaction(async (tx) => {
      // A task of a running workflow is refused: what its failure skipped would stay skipped,
      // and its success would let the workflow end `succeeded` with those tasks never run. The
      // workflow's row is locked first, as recording results does (finish-attempts.ts), so the
      // answer holds until this transaction ends.
      const [peek] = await tx.select({ workflowId: tasks.workflowId }).from(tasks).where(eq(tasks.id, taskId));
      if (!peek) return 'not_found';
      const [wf] = peek.workflowId ? await tx.select({ status: workflows.status }).from(workflows).where(eq(workflows.id, peek.workflowId)).for('update') : [];
      const [t] = await tx.select().from(tasks).where(eq(tasks.id, taskId)).for('update');
      if (!t) return 'not_found';
      if (!isRetryable(t.status)) return { notRetryable: t };
      if (wf?.status === 'running') return { workflowRunning: t };
      admit?.(t);
      const [again] = await tx
        .update(tasks)
        .set({
          status: 'queued',
          nodeId: null,
          exitCode: null,
          error: null,
          // What the last attempt left is not this attempt's (a workflow's retry clears them too).
          outputs: null,
          result: null,
          finishedAt: null,
          waitingSince: sql`now()`,
          // Its max_retries afresh: the attempts that counted so far no longer do.
          retriedAttempts: t.attempts - t.lostAttempts,
          statusReason: retryRequested(t.status),
        })
        .where(eq(tasks.id, t.id))
        .returning();
      await addEvent(tx, again, again.statusReason);
      return again;
    });
  }

  /** The stored output of the task's last ended attempt (one row per task). */
  async logs(taskId: string): Promise<{ logs: string; truncated: boolean; attempt: number } | null> {
    const [l] = await this.db.select().from(taskLogs).where(eq(taskLogs.taskId, taskId));
    return l ? { logs: l.logs, truncated: l.truncated, attempt: l.attempt } : null;
  }

  /**
   * Queued tasks queued again (a retry, a release, a lost attempt, a workflow's ready task: each
   * sets waiting_since) in the last `seconds` by the database's clock, in (waiting_since, seq)
   * order after `after` (the last row of the page before: its `page` cursor): their seq is old, so
   * the reconciler's window of new seqs does not find them. Read through tasks_requeued_page_idx,
   * which holds only such tasks, each page from where the last ended.
   */
  async queuedAgain(seconds: number, after: string | null, limit: number): Promise<Array<WaitingTask & { page: string }>> {
    const [since, seq] = after ? (JSON.parse(after) as [string, number]) : [null, 0];
    return this.db
      .select({ ...WAITING_FIELDS, page: sql<string>`json_build_array(${tasks.waitingSince}::text, ${tasks.seq})::text` })
      .from(tasks)
      .where(
        and(
          eq(tasks.status, 'queued'),
          sql`${tasks.waitingSince} > now() - make_interval(secs => ${seconds})`,
          since === null ? undefined : sql`(${tasks.waitingSince}, ${tasks.seq}) > (${since}::timestamptz, ${seq})`,
        ),
      )
      .orderBy(tasks.waitingSince, tasks.seq)
      .limit(limit);
  }

  /**
   * Queued tasks that moved up an aging class (one per `agingSeconds` waited, up to `maxClasses`)
   * between `from` and `to` (ms, this process's clock, as agedPriority reads it), after `afterSeq`
   * in seq order: what the reconciler must re-rank, without reading the rest of the backlog.
   * Critical tasks never age; a task older than `maxClasses` periods has stopped aging. Read
   * through tasks_waiting_seq_idx (the waiting tasks only), whatever the table's size.
   */
  async crossedAgingClass(
    from: number,
    to: number,
    agingSeconds: number,
    maxClasses: number,
    afterSeq: number,
    limit: number,
  ): Promise<WaitingTask[]> {
    const [f, t] = [new Date(from).toISOString(), new Date(to).toISOString()];
    return this.db
      .select(WAITING_FIELDS)
      .from(tasks)
      .where(
        and(
          eq(tasks.status, 'queued'),
          sql`${tasks.priority} <> 'critical'`,
          sql`${tasks.seq} > ${afterSeq}`,
          // Waiting since before `from` (a newer task is the reconciler's to check as new) and not
          // so long before it that it had stopped aging.
          sql`${SINCE} <= ${f}::timestamptz`,
          sql`${SINCE} > ${f}::timestamptz - make_interval(secs => ${agingSeconds * maxClasses})`,
          sql`floor(extract(epoch from ${t}::timestamptz - ${SINCE}) / ${agingSeconds}) > floor(extract(epoch from ${f}::timestamptz - ${SINCE}) / ${agingSeconds})`,
        ),
      )
      .orderBy(tasks.seq)
      .limit(limit);
  }

  /**
   * Tasks in the given statuses after `afterSeq`, oldest first: one page of a full scan.
   *
   * The page is read in seq order from an index, never gathered whole and sorted: while tasks
   * arrive faster than autoanalyze runs (it waits up to a minute), the statistics say that few
   * rows are queued, and PostgreSQL then chose to read every queued row after `afterSeq` through
   * a bitmap and sort them, for each page (6.4 ms instead of 0.04 with 29,000 queued; 22 ms a
   * page, a fifth of PostgreSQL's CPU, while POST /tasks/batch filled the queue in bench (a)).
   * Turning bitmap scans and sorts off for this one transaction leaves the ordered index scan.
   */
  async idsInStatus(
    statuses: readonly TaskStatus[],
    afterSeq = 0,
    limit = 10_000,
  ): Promise<WaitingTask[]> {
    return this.db.transaction(async (tx) => {
      await tx.execute(sql`select set_config('enable_bitmapscan', 'off', true), set_config('enable_sort', 'off', true)`);
      return tx
        .select(WAITING_FIELDS)
        .from(tasks)
        .where(and(inArray(tasks.status, statuses), sql`${tasks.seq} > ${afterSeq}`))
        .orderBy(tasks.seq)
        .limit(limit);
    });
  }
}

export type { NodeRow, TaskRow };

/** Rows locked on a node back to `queued`, their reservations freed, with why (one history event each). */
async function putBack(tx: Tx, rows: TaskRow[], reason: (t: TaskRow) => string): Promise<TaskRow[]> {
  const out: TaskRow[] = [];
  for (const t of rows) {
    if (t.nodeId) await release(tx, { ...t, nodeId: t.nodeId });
    const [again] = await tx
      .update(tasks)
      .set({ status: 'queued', nodeId: null, statusReason: reason(t), lostAttempts: sql`${tasks.lostAttempts} + 1`, waitingSince: sql`now()` })
      .where(eq(tasks.id, t.id))
      .returning();
    out.push(again);
  }
  await recordEvents(tx, out, null);
  return out;
}
