// Reads and writes tasks, their history and their stored logs. Every state change goes through
// here and is fenced: a change names the attempt it is about and the statuses it may leave,
// so a late or repeated report can never move a task twice or out of a final state.
import { and, count, desc, eq, inArray, sql, type SQL } from 'drizzle-orm';
import type { Db } from './db.ts';
import { nodes, taskEvents, taskLogs, tasks, type NewTaskRow, type NodeRow, type TaskRow } from './schema.ts';
import { isFinal, isOnNode, isRetryable, ON_NODE_STATUSES, type FinishStatus, type TaskStatus } from '../domain/task.ts';

export interface TaskFilter {
  status?: TaskStatus;
  workflowId?: string;
  nodeId?: string;
  label?: { key: string; value: string };
  limit: number;
  offset: number;
}

export type PlacementRequest = Pick<TaskRow, 'id' | 'status' | 'nodeId' | 'priority' | 'createdAt' | 'statusReason' | 'cpu' | 'memoryMb' | 'gpu' | 'nodeSelector'>;

export type { FinishStatus };

export interface FinishResult {
  task: TaskRow;
  /** False when the task had already ended (e.g. cancelled while it ran). */
  changed: boolean;
  /** Set when the attempt failed with retries left: enqueue the task again after this delay. */
  retryInMs: number | null;
}

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
}

export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

/**
 * Called inside the transaction that moves a task to a final state (the DAG manager releases or
 * skips the task's children there, so a crash can never finish a parent without its children's
 * fate). Returns tasks it moved to `queued`, which the caller enqueues after the commit.
 */
export type OnTaskFinal = (tx: Tx, ended: TaskRow[]) => Promise<TaskRow[]>;

export class TaskStore {
  private onFinal: OnTaskFinal = async () => [];

  constructor(private readonly db: Db) {}

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
  async recordEvents(tx: Tx, rows: TaskRow[], reason: string | null | ((t: TaskRow) => string), at = new Date()): Promise<void> {
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
   * Inserts a task, then runs `enqueue`. If enqueueing fails the row is deleted again, so the
   * client is never told "accepted" for work that is nowhere. (Enqueueing after the commit, not
   * inside the transaction, means the scheduler never sees a job whose row is not visible yet;
   * a crash between the two leaves a queued row that the reconciler enqueues.)
   */
  async create(row: NewTaskRow, enqueue: (task: TaskRow) => Promise<void>): Promise<{ task: TaskRow; created: boolean }> {
    if (row.idempotencyKey) {
      const existing = await this.findByIdempotencyKey(row.idempotencyKey);
      if (existing) return { task: existing, created: false };
    }
    let task: TaskRow;
    try {
      // One statement: the history event comes from the insert trigger (drizzle/0002).
      [task] = await this.db.insert(tasks).values(row).returning();
    } catch (err) {
      // Two requests with one idempotency key at once: the loser returns the winner's task.
      if (row.idempotencyKey && isUniqueViolation(err)) {
        const existing = await this.findByIdempotencyKey(row.idempotencyKey);
        if (existing) return { task: existing, created: false };
      }
      throw err;
    }
    try {
      await enqueue(task);
    } catch (err) {
      await this.db.delete(tasks).where(eq(tasks.id, task.id));
      throw err;
    }
    return { task, created: true };
  }

  /**
   * Inserts many tasks in one transaction, then enqueues them; all or nothing: if enqueueing
   * fails every row is deleted again.
   */
  async createMany(rows: NewTaskRow[], enqueue: (tasks: TaskRow[]) => Promise<void>): Promise<TaskRow[]> {
    const created = await this.db.transaction(async (tx) => {
      const out: TaskRow[] = [];
      for (let i = 0; i < rows.length; i += 500) out.push(...(await tx.insert(tasks).values(rows.slice(i, i + 500)).returning()));
      return out;
    });
    try {
      await enqueue(created);
    } catch (err) {
      await this.db.delete(tasks).where(inArray(tasks.id, created.map((t) => t.id)));
      throw err;
    }
    return created;
  }

  /** One multi-row INSERT (no transaction: a single statement is atomic). */
  async insertMany(rows: NewTaskRow[]): Promise<TaskRow[]> {
    return this.db.insert(tasks).values(rows).returning();
  }

  async deleteMany(ids: string[]): Promise<void> {
    await this.db.delete(tasks).where(inArray(tasks.id, ids));
  }

  async findByIdempotencyKey(key: string): Promise<TaskRow | null> {
    const [t] = await this.db.select().from(tasks).where(eq(tasks.idempotencyKey, key));
    return t ?? null;
  }

  async get(id: string): Promise<TaskRow | null> {
    const [t] = await this.db.select().from(tasks).where(eq(tasks.id, id));
    return t ?? null;
  }

  async list(filter: TaskFilter): Promise<{ items: TaskRow[]; total: number }> {
    const where: SQL[] = [];
    if (filter.status) where.push(eq(tasks.status, filter.status));
    if (filter.workflowId) where.push(eq(tasks.workflowId, filter.workflowId));
    if (filter.nodeId) where.push(eq(tasks.nodeId, filter.nodeId));
    if (filter.label) where.push(sql`${tasks.labels} @> ${JSON.stringify({ [filter.label.key]: filter.label.value })}::jsonb`);
    const cond = where.length ? and(...where) : undefined;
    const [items, [{ n }]] = await Promise.all([
      this.db.select().from(tasks).where(cond).orderBy(desc(tasks.seq)).limit(filter.limit).offset(filter.offset),
      this.db.select({ n: count() }).from(tasks).where(cond),
    ]);
    return { items, total: Number(n) };
  }

  async countByStatus(): Promise<Record<string, number>> {
    const rows = await this.db.select({ status: tasks.status, n: count() }).from(tasks).groupBy(tasks.status);
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  }

  async events(taskId: string) {
    return this.db.select().from(taskEvents).where(eq(taskEvents.taskId, taskId)).orderBy(taskEvents.id);
  }

  async getMany(ids: string[]): Promise<TaskRow[]> {
    if (ids.length === 0) return [];
    return this.db.select().from(tasks).where(idIn(ids));
  }

  /** What the scheduler decides on, for many tasks (not the whole rows). */
  async placementRequests(ids: string[]): Promise<PlacementRequest[]> {
    if (ids.length === 0) return [];
    return this.db
      .select({
        id: tasks.id,
        status: tasks.status,
        nodeId: tasks.nodeId,
        priority: tasks.priority,
        createdAt: tasks.createdAt,
        statusReason: tasks.statusReason,
        cpu: tasks.cpu,
        memoryMb: tasks.memoryMb,
        gpu: tasks.gpu,
        nodeSelector: tasks.nodeSelector,
      })
      .from(tasks)
      .where(idIn(ids));
  }

  /** Says why tasks in `status` wait (one statement for many); inside `tx` when given. */
  async setStatusReasons(reasons: Array<{ taskId: string; reason: string }>, status: 'queued' | 'pending', tx: Tx | Db = this.db): Promise<void> {
    if (reasons.length === 0) return;
    const rows = JSON.stringify(reasons.map((r) => ({ id: r.taskId, reason: r.reason })));
    await tx.execute(sql`
      update tasks set status_reason = r.reason
      from jsonb_to_recordset(${rows}::jsonb) as r(id uuid, reason text)
      where tasks.id = r.id and tasks.status = ${status}`);
  }


  /** Fails a queued task that can never run (bigger than any node, say). */
  async failQueued(taskId: string, error: string): Promise<{ task: TaskRow; released: TaskRow[] } | null> {
    return this.db.transaction(async (tx) => {
      const locked = await this.lockTask(tx, taskId);
      if (!locked || locked.status !== 'queued') return null;
      const [t] = await tx
        .update(tasks)
        .set({ status: 'failed', error, statusReason: error, finishedAt: new Date() })
        .where(eq(tasks.id, taskId))
        .returning();
      await this.addEvent(tx, t, error);
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
    return this.db.transaction(async (tx) => {
      const ids = plans.map((p) => p.taskId);
      const live = await tx
        .select({ id: tasks.id, cpu: tasks.cpu, memoryMb: tasks.memoryMb, gpu: tasks.gpu })
        .from(tasks)
        .where(and(idIn(ids), eq(tasks.status, 'queued')))
        .orderBy(tasks.id)
        .for('update');
      const request = new Map(live.map((t) => [t.id, t]));
      const gone = ids.filter((id) => !request.has(id));
      const wanted = nodeSums(plans.flatMap((p) => {
        const r = request.get(p.taskId);
        return r ? [{ ...r, nodeId: p.nodeId }] : [];
      }));
      if (wanted === null) return { placed: [], refused: [], gone };
      const took = (await tx.execute(sql`
        update nodes set
          allocated_cpu = nodes.allocated_cpu + r.cpu,
          allocated_memory_mb = nodes.allocated_memory_mb + r.mem,
          allocated_gpu = nodes.allocated_gpu + r.gpu,
          allocated_tasks = nodes.allocated_tasks + r.n
        from jsonb_to_recordset(${wanted}::jsonb) as r(id uuid, cpu float8, mem int, gpu int, n int)
        where nodes.id = r.id and nodes.status = 'available'
          and nodes.allocated_cpu + r.cpu <= nodes.cpu + 1e-9
          and nodes.allocated_memory_mb + r.mem <= nodes.memory_mb
          and nodes.allocated_gpu + r.gpu <= nodes.gpu
          and nodes.allocated_tasks + r.n <= nodes.max_tasks
        returning nodes.id, nodes.name`)) as unknown as { rows: Array<{ id: string; name: string }> };
      const nodeName = new Map(took.rows.map((n) => [n.id, n.name]));
      const refused: string[] = [];
      const go: Array<{ id: string; node_id: string; name: string }> = [];
      for (const p of plans) {
        if (!request.has(p.taskId)) continue;
        const name = nodeName.get(p.nodeId);
        if (name === undefined) refused.push(p.taskId);
        else go.push({ id: p.taskId, node_id: p.nodeId, name });
      }
      if (go.length === 0) return { placed: [], refused, gone };
      const at = new Date();
      await tx.execute(sql`
        update tasks set
          status = 'scheduled',
          node_id = r.node_id,
          attempts = tasks.attempts + 1,
          scheduled_at = ${at.toISOString()}::timestamptz,
          status_reason = 'placed on node ' || r.name || '; waiting for it to start the container'
        from jsonb_to_recordset(${JSON.stringify(go)}::jsonb) as r(id uuid, node_id uuid, name text)
        where tasks.id = r.id`);
      const placed = await tx.select().from(tasks).where(idIn(go.map((g) => g.id)));
      const names = new Map(go.map((g) => [g.id, g.name]));
      await this.recordEvents(tx, placed, (t) => `placed on node ${names.get(t.id)}`, at);
      return { placed, refused, gone };
    });
  }

  /**
   * Marks started attempts running (one transaction for many reports). A report for an attempt
   * the task no longer has, or for a task no longer scheduled, changes nothing.
   */
  async markRunningMany(reports: Array<{ taskId: string; attempt: number; startedAt: Date }>): Promise<TaskRow[]> {
    if (reports.length === 0) return [];
    return this.db.transaction(async (tx) => {
      const rows = JSON.stringify(reports.map((r) => ({ id: r.taskId, attempt: r.attempt, at: r.startedAt.toISOString() })));
      const changed = (await tx.execute(sql`
        update tasks set status = 'running', started_at = r.at, status_reason = null
        from jsonb_to_recordset(${rows}::jsonb) as r(id uuid, attempt int, at timestamptz)
        where tasks.id = r.id and tasks.attempts = r.attempt and tasks.status = 'scheduled'
        returning tasks.id`)) as unknown as { rows: Array<{ id: string }> };
      if (changed.rows.length === 0) return [];
      const running = await tx.select().from(tasks).where(idIn(changed.rows.map((r) => r.id)));
      await this.recordEvents(tx, running, 'container started');
      return running;
    });
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
  async finishMany(reports: FinishReport[]): Promise<{ results: Array<FinishResult | null>; released: TaskRow[] }> {
    if (reports.length === 0) return { results: [], released: [] };
    if (new Set(reports.map((r) => r.taskId)).size !== reports.length) throw new Error('finishMany: a task appears twice in one batch');
    return this.db.transaction(async (tx) => {
      const ids = reports.map((r) => r.taskId);
      // Lock order, as everywhere: workflow rows (by id), then task rows (by id), then nodes.
      const peek = await tx.select({ workflowId: tasks.workflowId }).from(tasks).where(idIn(ids));
      const wfIds = [...new Set(peek.map((p) => p.workflowId).filter((w): w is string => w !== null))].sort();
      if (wfIds.length > 0) await tx.execute(sql`select 1 from workflows where id in ${wfIds} order by id for update`);
      const locked = new Map((await tx.select().from(tasks).where(idIn(ids)).orderBy(tasks.id).for('update')).map((t) => [t.id, t]));

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
      const retries: Array<{ id: string; exit_code: number | null; error: string | null; reason: string; i: number; retryInMs: number }> = [];
      const finals: Array<{ id: string; status: FinishStatus; exit_code: number | null; error: string | null; started_at: string | null; finished_at: string; i: number }> = [];
      const startedLate: Array<typeof taskEvents.$inferInsert> = [];
      for (const { r, t, i } of current) {
        if (!isOnNode(t.status)) {
          results[i] = { task: t, changed: false, retryInMs: null };
          continue;
        }
        if (t.status === 'scheduled' && r.startedAt) {
          // The "started" report is still on its way (reports are applied concurrently): keep
          // the history whole; the late report will find the task ended and change nothing.
          startedLate.push({ taskId: t.id, at: r.startedAt, status: 'running', nodeId: t.nodeId, attempt: t.attempts, reason: 'container started' });
        }
        const retryable = r.status === 'failed' || r.status === 'timed_out';
        if (retryable && t.attempts <= t.maxRetries) {
          const retryInMs = Math.round(t.retryBackoffSeconds * 1000 * 2 ** (t.attempts - 1));
          const why = r.error ?? r.status;
          const reason = `attempt ${t.attempts} ${r.status === 'timed_out' ? 'timed out' : 'failed'} (${why}); retrying in ${retryInMs / 1000} s (attempt ${t.attempts + 1} of ${t.maxRetries + 1})`;
          retries.push({ id: t.id, exit_code: r.exitCode, error: r.error, reason, i, retryInMs });
        } else {
          finals.push({ id: t.id, status: r.status, exit_code: r.exitCode, error: r.error, started_at: r.startedAt?.toISOString() ?? null, finished_at: r.finishedAt.toISOString(), i });
        }
      }
      if (startedLate.length > 0) await tx.insert(taskEvents).values(startedLate);
      if (retries.length > 0) {
        await tx.execute(sql`
          update tasks set status = 'queued', node_id = null, exit_code = r.exit_code, error = r.error, status_reason = r.reason
          from jsonb_to_recordset(${JSON.stringify(retries)}::jsonb) as r(id uuid, exit_code int, error text, reason text)
          where tasks.id = r.id`);
      }
      if (finals.length > 0) {
        await tx.execute(sql`
          update tasks set status = r.status, exit_code = r.exit_code, error = r.error, status_reason = null,
            started_at = coalesce(tasks.started_at, r.started_at), finished_at = r.finished_at
          from jsonb_to_recordset(${JSON.stringify(finals)}::jsonb) as r(id uuid, status text, exit_code int, error text, started_at timestamptz, finished_at timestamptz)
          where tasks.id = r.id`);
      }
      const changedIds = [...retries, ...finals].map((x) => x.id);
      const after = new Map(changedIds.length ? (await tx.select().from(tasks).where(idIn(changedIds))).map((t) => [t.id, t]) : []);
      const errorOf = new Map(finals.map((f) => [f.id, f.error]));
      await this.recordEvents(tx, changedIds.map((id) => after.get(id) as TaskRow), (t) => (t.status === 'queued' ? (t.statusReason as string) : (errorOf.get(t.id) as string)));
      for (const x of retries) results[x.i] = { task: after.get(x.id) as TaskRow, changed: true, retryInMs: x.retryInMs };
      for (const x of finals) results[x.i] = { task: after.get(x.id) as TaskRow, changed: true, retryInMs: null };
      const released = await this.onFinal(tx, finals.map((x) => after.get(x.id) as TaskRow));
      // Reservations released last, so the node rows (which placements update) stay locked briefly.
      await this.releaseMany(tx, changedIds.map((id) => locked.get(id) as TaskRow));
      return { results, released };
    });
  }

  async cancel(
    taskId: string,
    reason = 'cancelled by request',
  ): Promise<{ task: TaskRow; wasOnNode: boolean; released: TaskRow[] } | 'not_found' | { ended: TaskRow }> {
    return this.db.transaction(async (tx) => {
      const t = await this.lockTask(tx, taskId);
      if (!t) return 'not_found';
      if (isFinal(t.status)) return { ended: t };
      const r = await this.cancelLocked(tx, t, reason);
      return { ...r, released: await this.onFinal(tx, [r.task]) };
    });
  }

  /** Cancels a task whose row the caller has locked; runs no hook (the caller decides). */
  async cancelLocked(tx: Tx, t: TaskRow, reason: string): Promise<{ task: TaskRow; wasOnNode: boolean }> {
    const wasOnNode = isOnNode(t.status);
    const [done] = await tx
      .update(tasks)
      .set({ status: 'cancelled', statusReason: null, finishedAt: new Date(), error: reason, dagReady: false })
      .where(eq(tasks.id, t.id))
      .returning();
    if (wasOnNode && t.nodeId) await this.release(tx, t);
    await this.addEvent(tx, done, reason);
    return { task: done, wasOnNode };
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
      const out: TaskRow[] = [];
      for (const t of lost) {
        await this.release(tx, t);
        const [again] = await tx
          .update(tasks)
          .set({
            status: 'queued',
            nodeId: null,
            statusReason: `node ${nodeName} went offline during attempt ${t.attempts}; placing it again`,
          })
          .where(eq(tasks.id, t.id))
          .returning();
        out.push(again);
      }
      await this.recordEvents(tx, out, null);
      return out;
    });
  }

  /** Running tasks on a node that started before `before`, for finding lost attempts. */
  /**
   * Tasks running on a live node whose latest heartbeat, sent more than `graceSeconds` after
   * the attempt started, no longer lists them: one query for the whole cluster.
   */
  async unlistedRunning(graceSeconds: number): Promise<Array<{ id: string; attempts: number; nodeName: string }>> {
    const r = (await this.db.execute(sql`
      select t.id, t.attempts, n.name as node_name
      from tasks t join nodes n on n.id = t.node_id
      where t.status = 'running' and n.status <> 'offline' and n.last_heartbeat_at is not null
        and t.started_at < n.last_heartbeat_at - make_interval(secs => ${graceSeconds})
        and not (n.running_task_ids ? t.id::text)`)) as unknown as { rows: Array<{ id: string; attempts: number; node_name: string }> };
    return r.rows.map((x) => ({ id: x.id, attempts: x.attempts, nodeName: x.node_name }));
  }


  /**
   * An attempt its node no longer runs and never reported (its report was lost with Redis):
   * back to `queued`, to be placed again as attempt + 1.
   */
  async requeueLost(taskId: string, attempt: number, reason: string): Promise<TaskRow | null> {
    return this.db.transaction(async (tx) => {
      const t = await this.lockTask(tx, taskId);
      if (!t || t.attempts !== attempt || !isOnNode(t.status)) return null;
      if (t.nodeId) await this.release(tx, t);
      const [again] = await tx.update(tasks).set({ status: 'queued', nodeId: null, statusReason: reason }).where(eq(tasks.id, t.id)).returning();
      await this.addEvent(tx, again, reason);
      return again;
    });
  }

  /** A new attempt of a task that ended unsuccessfully: back to `queued`. */
  async retry(taskId: string): Promise<TaskRow | 'not_found' | { notRetryable: TaskRow }> {
    return this.db.transaction(async (tx) => {
      const [t] = await tx.select().from(tasks).where(eq(tasks.id, taskId)).for('update');
      if (!t) return 'not_found';
      if (!isRetryable(t.status)) return { notRetryable: t };
      const [again] = await tx
        .update(tasks)
        .set({
          status: 'queued',
          nodeId: null,
          exitCode: null,
          error: null,
          finishedAt: null,
          statusReason: `retry requested after ${t.status}; waiting for the scheduler to place it on a node`,
        })
        .where(eq(tasks.id, t.id))
        .returning();
      await this.addEvent(tx, again, again.statusReason);
      return again;
    });
  }

  async logs(taskId: string): Promise<{ logs: string; truncated: boolean } | null> {
    const [l] = await this.db.select().from(taskLogs).where(eq(taskLogs.taskId, taskId));
    return l ? { logs: l.logs, truncated: l.truncated } : null;
  }

  /** Tasks in the given statuses, oldest first, for the reconciler. */
  /** Tasks in the given statuses after `afterSeq`, oldest first: one page of a full scan. */
  async idsInStatus(
    statuses: readonly TaskStatus[],
    afterSeq = 0,
    limit = 10_000,
  ): Promise<Array<Pick<TaskRow, 'id' | 'status' | 'priority' | 'attempts' | 'nodeId' | 'createdAt' | 'seq'>>> {
    return this.db
      .select({ id: tasks.id, seq: tasks.seq, status: tasks.status, priority: tasks.priority, attempts: tasks.attempts, nodeId: tasks.nodeId, createdAt: tasks.createdAt })
      .from(tasks)
      .where(and(inArray(tasks.status, statuses), sql`${tasks.seq} > ${afterSeq}`))
      .orderBy(tasks.seq)
      .limit(limit);
  }

  private async release(tx: Tx, t: TaskRow): Promise<void> {
    await tx
      .update(nodes)
      .set({
        allocatedCpu: sql`greatest(${nodes.allocatedCpu} - ${t.cpu}, 0)`,
        allocatedMemoryMb: sql`greatest(${nodes.allocatedMemoryMb} - ${t.memoryMb}, 0)`,
        allocatedGpu: sql`greatest(${nodes.allocatedGpu} - ${t.gpu}, 0)`,
        allocatedTasks: sql`greatest(${nodes.allocatedTasks} - 1, 0)`,
      })
      .where(eq(nodes.id, t.nodeId as string));
  }

  /** Releases the reservations of many tasks: one guarded update of each node's sums, by id. */
  private async releaseMany(tx: Tx, ts: TaskRow[]): Promise<void> {
    const rows = nodeSums(ts.filter((t): t is TaskRow & { nodeId: string } => t.nodeId !== null));
    if (rows === null) return;
    await tx.execute(sql`
      update nodes set
        allocated_cpu = greatest(nodes.allocated_cpu - r.cpu, 0),
        allocated_memory_mb = greatest(nodes.allocated_memory_mb - r.mem, 0),
        allocated_gpu = greatest(nodes.allocated_gpu - r.gpu, 0),
        allocated_tasks = greatest(nodes.allocated_tasks - r.n, 0)
      from jsonb_to_recordset(${rows}::jsonb) as r(id uuid, cpu float8, mem int, gpu int, n int)
      where nodes.id = r.id`);
  }

  private async addEvent(tx: Tx | Db, t: TaskRow, reason: string | null): Promise<void> {
    await tx.insert(taskEvents).values({
      taskId: t.id,
      at: new Date(),
      status: t.status,
      nodeId: t.nodeId,
      attempt: t.attempts,
      reason,
    });
  }
}

/**
 * What tasks ask of each node, summed: JSON rows {id, cpu, mem, gpu, n} for jsonb_to_recordset,
 * in node id order (so two transactions never wait on each other's node rows), or null for none.
 */
function nodeSums(items: Array<{ nodeId: string; cpu: number; memoryMb: number; gpu: number }>): string | null {
  const sums = new Map<string, { id: string; cpu: number; mem: number; gpu: number; n: number }>();
  for (const t of items) {
    const s = sums.get(t.nodeId) ?? { id: t.nodeId, cpu: 0, mem: 0, gpu: 0, n: 0 };
    s.cpu += t.cpu;
    s.mem += t.memoryMb;
    s.gpu += t.gpu;
    s.n += 1;
    sums.set(t.nodeId, s);
  }
  return sums.size === 0 ? null : JSON.stringify([...sums.values()].sort((a, b) => (a.id < b.id ? -1 : 1)));
}

/**
 * `tasks.id = any($1)` with the ids as one array parameter: for hundreds of ids much cheaper to
 * build and parse than `in ($1, $2, …)`.
 */
function idIn(ids: string[]): SQL {
  return sql`${tasks.id} = any(${`{${ids.join(',')}}`}::uuid[])`;
}

function isUniqueViolation(err: unknown): boolean {
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
    if ((e as { code?: string }).code === '23505') return true;
  }
  return false;
}

export type { NodeRow, TaskRow };
