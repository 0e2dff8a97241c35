// Workflows and the queries the DAG manager needs inside its transactions. The workflow row is
// locked (FOR UPDATE) by every transaction that changes its tasks' DAG state, so two tasks of
// one workflow finishing at once are applied one after the other and no child is released twice.
import { and, count, desc, eq, inArray, sql, type SQL } from 'drizzle-orm';
import type { Db } from './db.ts';
import { tasks, workflows, type NewTaskRow, type TaskRow, type WorkflowRow } from './schema.ts';
import type { ReleasedTask, TaskStore, Tx } from './task-store.ts';

import { recordWorkflowEvent } from './workflow-history.ts';
import { WAITING_FOR_SCHEDULER } from '../domain/status-reasons.ts';
import { fieldsOf, rowsOf } from './row-mapping.ts';
import { updateWithEvents } from './task-history.ts';
import { afterCommit, retryTransaction, uuidArray } from './tx.ts';
import { deletePendingDeliveries, deliveryLine } from './webhook-store.ts';
import { ACTIVE_STATUSES as ACTIVE, UNFINISHED_STATUSES as UNFINISHED, type WorkflowStatus } from '../domain/task.ts';

/** The history's reason for a task its workflow released. */
const RELEASED = 'parents succeeded; released';

const CHILD_FIELDS = fieldsOf(tasks, ['id', 'dependsOn', 'templates', 'whenCondition'] as const);
const ADMIT_FIELDS = fieldsOf(tasks, ['id', 'templates', 'whenCondition'] as const);

/** A task of a workflow as a release's cascade reads it (WorkflowStore.releaseGraph). */
export type GraphTask = { id: string; key: string; status: TaskRow['status']; dependsOn: string[]; special: boolean };

/** A task a workflow's cancel ended: as it is now, and whether it was on a node. */
export type WorkflowCancelled = { task: TaskRow; wasOnNode: boolean };

/** A pending child read for its release (WorkflowStore.pendingChildrenToRelease). */
export type ChildToRelease = ReturnType<typeof CHILD_FIELDS.read>[number] & { openParents: number; someOpen: string[] };

export class WorkflowStore {
  /** Told of the tasks this store ends (skipped, failed at release, cancelled with their workflow), once committed. */
  private onEnded: (ended: TaskRow[]) => void = () => undefined;

  constructor(
    private readonly db: Db,
    private readonly taskStore: TaskStore,
  ) {}

  /** Installs the hook told of the tasks the workflow rules end (the composer counts them). */
  setOnEnded(hook: (ended: TaskRow[]) => void): void {
    this.onEnded = hook;
  }

  private ended(tx: Tx, rows: TaskRow[]): void {
    if (rows.length > 0) afterCommit(tx, () => this.onEnded(rows));
  }

  /**
   * Stores a workflow and all its tasks (all `pending`), then lets `start` decide, in the same
   * transaction, which tasks are queued first. Returns the workflow and the queued tasks.
   */
  async create(
    wf: Omit<WorkflowRow, 'seq' | 'finishedAt' | 'scheduleId'> & { scheduleId?: string | null },
    rows: NewTaskRow[],
    start: (tx: Tx, wf: WorkflowRow) => Promise<ReleasedTask[]>,
  ): Promise<{ workflow: WorkflowRow; queued: ReleasedTask[] }> {
    return this.db.transaction((tx) => this.createIn(tx, wf, rows, start));
  }

  /** create() inside the caller's transaction (a schedule's tick claims the tick in the same one). */
  async createIn(
    tx: Tx,
    wf: Omit<WorkflowRow, 'seq' | 'finishedAt' | 'scheduleId'> & { scheduleId?: string | null },
    rows: NewTaskRow[],
    start: (tx: Tx, wf: WorkflowRow) => Promise<ReleasedTask[]>,
  ): Promise<{ workflow: WorkflowRow; queued: ReleasedTask[] }> {
    const [w] = await tx.insert(workflows).values(wf).returning();
    await recordWorkflowEvent(tx, w.id, w.status, w.createdAt);
    await insertTasks(tx, rows);
    const queued = await start(tx, w);
    return { workflow: w, queued };
  }

  /**
   * Takes back a workflow just stored (its enqueue failed): its tasks and its events go with it
   * (foreign keys), and its tasks' events here, as task_events has no key to cascade (migration
   * 0015) — only while the tasks its creation queued (`queuedIds`) are all still queued with no
   * attempt. An enqueue that failed may still have landed, and the dispatcher placed one (or the
   * reconciler queued it): it is on a node with its reservation and may run, and deleting the
   * workflow would drop its reports and never give the reservation back. Its other tasks change
   * only once one of those has (a release follows a parent's end; a cancel cancels them too).
   * The workflow is locked first, then those tasks in id order, as every other transaction on a
   * workflow's tasks takes them. Returns false, deleting nothing, when the workflow is kept.
   */
  async delete(id: string, queuedIds: string[]): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      if (!(await this.lock(tx, id))) return true;
      // All of them locked, not only those that moved: one placed after the look would be deleted.
      const queued = await tx
        .select({ status: tasks.status, attempts: tasks.attempts })
        .from(tasks)
        .where(sql`${tasks.id} = any(${uuidArray(queuedIds)}::uuid[])`)
        .orderBy(tasks.id)
        .for('update');
      if (queued.some((t) => t.status !== 'queued' || t.attempts !== 0)) return false;
      // The webhook deliveries the outbox may have made of its first events go too (they would be
      // sent for a workflow and tasks that answer 404).
      const lines = sql`array[${deliveryLine('workflow', id)}::text] || array(select ${deliveryLine('task', '')}::text || t.id::text from tasks t where t.workflow_id = ${id})`;
      await tx.execute(sql`
        with events as (delete from task_events e using tasks t where t.workflow_id = ${id} and e.task_id = t.id),
          deliveries as (${deletePendingDeliveries(lines)})
        delete from workflows where id = ${id}`);
      return true;
    });
  }

  async get(id: string): Promise<WorkflowRow | null> {
    const [w] = await this.db.select().from(workflows).where(eq(workflows.id, id));
    return w ?? null;
  }

  /**
   * What changes whenever the workflow's row or any of its tasks' rows is written, without reading
   * the tasks' columns: each write makes a new row version stamped with its transaction's id
   * (xmin). The workflow's xmin, the number of its tasks and the sum of a 64-bit hash of each
   * task's xmin: a row written since is written by a transaction that wrote none of the rows then,
   * so the sum moves (a sum of hashes, not the largest xmin: transactions commit out of id order,
   * and the hash keeps two rows' changes from cancelling out). Its tenant comes along for the
   * access check. One statement, 2-5 ms in PostgreSQL at 10,000 tasks; it saves reading them
   * (250 ms of the API's CPU, 7 MB of JSON; docs/decisions.md, "The workflow page's live refresh").
   */
  async version(id: string): Promise<{ tenant: string; version: string } | null> {
    const res = (await this.db.execute(sql`
      select w.tenant, w.xmin::text as wx, t.n::text as n, t.h::text as h
      from workflows w,
        lateral (select count(*) as n, coalesce(sum(hashtextextended(xmin::text, 0)), 0) as h from tasks where workflow_id = w.id) t
      where w.id = ${id}`)) as unknown as { rows: Array<{ tenant: string; wx: string; n: string; h: string }> };
    const [r] = res.rows;
    return r ? { tenant: r.tenant, version: `${r.wx}.${r.n}.${r.h}` } : null;
  }

  async tasksOf(id: string): Promise<TaskRow[]> {
    return this.db.select().from(tasks).where(eq(tasks.workflowId, id)).orderBy(tasks.seq);
  }

  async list(filter: { tenant?: string; status?: WorkflowStatus; scheduleId?: string; limit: number; offset: number }): Promise<{ items: WorkflowRow[]; total: number }> {
    const conds: SQL[] = [];
    if (filter.scheduleId) conds.push(eq(workflows.scheduleId, filter.scheduleId));
    if (filter.tenant) conds.push(eq(workflows.tenant, filter.tenant));
    if (filter.status) conds.push(eq(workflows.status, filter.status as WorkflowRow['status']));
    const where = conds.length ? and(...conds) : undefined;
    const [items, [{ n }]] = await Promise.all([
      this.db.select().from(workflows).where(where).orderBy(desc(workflows.seq)).limit(filter.limit).offset(filter.offset),
      this.db.select({ n: count() }).from(workflows).where(where),
    ]);
    return { items, total: Number(n) };
  }

  async lock(tx: Tx, id: string): Promise<WorkflowRow | null> {
    const [w] = await tx.select().from(workflows).where(eq(workflows.id, id)).for('update');
    return w ?? null;
  }

  /**
   * The pending tasks of the workflow that depend on any of `keys`, each with what its release
   * decides on (its templates and `when`) and its parents that have not finished as `satisfied`
   * says (unsucceededParents). Only those columns are read: a 1,000-wide fan-out's release spent
   * 15–21 ms reading and mapping the children's whole rows. Two statements, not one: folded into
   * one, PostgreSQL's estimate of the children (1 row, before statistics catch up) made it look
   * the parents up once per child, a scan of the workflow's tasks each (300–450 ms for 1,000);
   * given the children's ids, it plans a hash join.
   */
  async pendingChildrenToRelease(tx: Tx, workflowId: string, keys: string[], satisfied: string[]): Promise<ChildToRelease[]> {
    const r = (await tx.execute(sql`
      select ${CHILD_FIELDS.list} from tasks
      where tasks.workflow_id = ${workflowId} and tasks.status = 'pending'
        and tasks.depends_on ?| array(select jsonb_array_elements_text(${JSON.stringify(keys)}::jsonb))`)) as unknown as { rows: Array<Record<string, unknown>> };
    const children = CHILD_FIELDS.read(r.rows);
    if (children.length === 0) return [];
    const open = await this.unsucceededParents(tx, workflowId, children, satisfied);
    return children.map((c) => {
      const o = open.get(c.id);
      return { ...c, openParents: o?.count ?? 0, someOpen: o?.some ?? [] };
    });
  }

  /**
   * For each of the given tasks: how many of its parents have not succeeded, and the first few
   * of them (in the order of depends_on). One query, however wide the fan-in; the ids go as one
   * array parameter, as elsewhere (`in (…)` made one parameter per child: binding a 1,000-wide
   * fan-out's took PostgreSQL 1.8 ms). A few parents in all are each looked up by key
   * (tasks_workflow_key_uq), in a subquery so that the plan stays so: as a join, PostgreSQL guessed
   * 100 parents a child and hash-joined every task of the workflow (7.8-14.5 ms a release of one
   * child of a 10,000 chain). Many (a wide fan-in) are hash-joined, once for all of them: 10,000
   * lookups cost about twice the scan.
   */
  async unsucceededParents(
    tx: Tx,
    workflowId: string,
    children: Array<Pick<TaskRow, 'id' | 'dependsOn'>>,
    satisfied: string[] = ['succeeded'],
  ): Promise<Map<string, { count: number; some: string[] }>> {
    if (children.length === 0) return new Map();
    const parents = children.reduce((n, c) => n + c.dependsOn.length, 0);
    const open = sql`(p.status is null or p.status not in ${satisfied})`;
    const parent =
      parents <= 1000
        ? sql`cross join lateral (select (select p.status from tasks p where p.workflow_id = ${workflowId} and p.workflow_key = d.key) as status offset 0) p`
        : sql`left join tasks p on p.workflow_id = ${workflowId} and p.workflow_key = d.key`;
    const r = (await tx.execute(sql`
      select c.id,
        count(*) filter (where ${open})::int as n,
        (array_agg(d.key order by d.ord) filter (where ${open}))[1:5] as some
      from tasks c
      cross join lateral jsonb_array_elements_text(c.depends_on) with ordinality as d(key, ord)
      ${parent}
      where c.id = any(${uuidArray(children.map((c) => c.id))}::uuid[])
      group by c.id`)) as unknown as { rows: Array<{ id: string; n: number; some: string[] | null }> };
    return new Map(r.rows.map((x) => [x.id, { count: x.n, some: x.some ?? [] }]));
  }

  /** Every pending task's key and parents, to walk descendants in memory. */
  async pendingGraph(tx: Tx, workflowId: string): Promise<Array<{ id: string; key: string; dependsOn: string[] }>> {
    const rows = await tx
      .select({ id: tasks.id, key: tasks.workflowKey, dependsOn: tasks.dependsOn })
      .from(tasks)
      .where(and(eq(tasks.workflowId, workflowId), eq(tasks.status, 'pending')));
    return rows.map((r) => ({ id: r.id, key: r.key as string, dependsOn: r.dependsOn }));
  }

  /**
   * Every task of the workflow, in seq order, for a release's cascade (dag/cascade.ts): key and
   * status, and a pending task's parents and whether it has a `when` or templates (not the texts:
   * read for the tasks to admit only, toAdmit).
   */
  async releaseGraph(tx: Tx, workflowId: string): Promise<GraphTask[]> {
    const r = (await tx.execute(sql`
      select id, workflow_key as key, status,
        case when status = 'pending' then depends_on else '[]'::jsonb end as depends_on,
        status = 'pending' and (templates is not null or when_condition is not null) as special
      from tasks where workflow_id = ${workflowId} order by seq`)) as unknown as {
      rows: Array<{ id: string; key: string; status: GraphTask['status']; depends_on: string[]; special: boolean }>;
    };
    return r.rows.map((t) => ({ id: t.id, key: t.key, status: t.status, dependsOn: t.depends_on, special: t.special }));
  }

  /** The `when` and templates of these tasks, to release them. */
  async toAdmit(tx: Tx, ids: string[]): Promise<Array<Pick<TaskRow, 'id' | 'templates' | 'whenCondition'>>> {
    if (ids.length === 0) return [];
    const r = (await tx.execute(sql`select ${ADMIT_FIELDS.list} from tasks where tasks.id = any(${uuidArray(ids)}::uuid[])`)) as unknown as {
      rows: Array<Record<string, unknown>>;
    };
    return ADMIT_FIELDS.read(r.rows);
  }

  /**
   * Ends pending tasks at release, each its own way: skipped (`reason`, its status_reason) or
   * failed (`reason`, its error; status_reason none), as skip does, in one statement for all of them, and
   * records their history events in the order given. Returns the rows in that order.
   */
  async endAtRelease(tx: Tx, ends: Array<{ id: string; status: 'skipped' | 'failed'; reason: string }>): Promise<TaskRow[]> {
    if (ends.length === 0) return [];
    const at = new Date();
    const r = (await tx.execute(sql`
      update tasks set status = r.status,
        status_reason = case when r.status = 'skipped' then r.reason end,
        error = case when r.status = 'failed' then r.reason else tasks.error end,
        finished_at = ${at.toISOString()}::timestamptz, dag_ready = false
      from jsonb_to_recordset(${JSON.stringify(ends)}::jsonb) as r(id uuid, status text, reason text)
      where tasks.id = r.id and tasks.id = any(${uuidArray(ends.map((e) => e.id))}::uuid[]) and tasks.status = 'pending'
      returning tasks.*`)) as unknown as { rows: Array<Record<string, unknown>> };
    const order = new Map(ends.map((e, i) => [e.id, i]));
    const rows = rowsOf(tasks, r.rows).sort((a, b) => (order.get(a.id) as number) - (order.get(b.id) as number));
    const reasons = new Map(ends.map((e) => [e.id, e.reason]));
    await this.taskStore.recordEvents(tx, rows, (t) => reasons.get(t.id) as string, at);
    this.ended(tx, rows);
    return rows;
  }

  /** Says why pending tasks wait on their parents. */
  setWaitingReasons(tx: Tx, reasons: Array<{ taskId: string; reason: string }>): Promise<void> {
    return this.taskStore.setStatusReasons(reasons, 'pending', tx);
  }

  async skip(tx: Tx, ids: string[], reason: string): Promise<TaskRow[]> {
    const out: TaskRow[] = [];
    for (let i = 0; i < ids.length; i += 1000) {
      const skipped = await tx
        .update(tasks)
        .set({ status: 'skipped', statusReason: reason, finishedAt: new Date(), dagReady: false })
        .where(and(inArray(tasks.id, ids.slice(i, i + 1000)), eq(tasks.status, 'pending')))
        .returning();
      await this.taskStore.recordEvents(tx, skipped, reason);
      out.push(...skipped);
    }
    this.ended(tx, out);
    return out;
  }

  /** A workflow whose release failed: every pending task fails, with `error` saying why. */
  async failPending(tx: Tx, workflowId: string, error: string): Promise<TaskRow[]> {
    const failed = await tx
      .update(tasks)
      .set({ status: 'failed', error, statusReason: null, finishedAt: new Date(), dagReady: false })
      .where(and(eq(tasks.workflowId, workflowId), eq(tasks.status, 'pending')))
      .returning();
    await this.taskStore.recordEvents(tx, failed, error);
    this.ended(tx, failed);
    return failed;
  }

  /** At release: a templated task's name, command and env, filled from its ancestors' values. */
  async fillTemplates(tx: Tx, id: string, fields: Partial<Pick<TaskRow, 'name' | 'command' | 'env'>>): Promise<void> {
    await tx.update(tasks).set(fields).where(eq(tasks.id, id));
  }

  /** What the tasks with these keys left for their descendants: status, result, outputs. */
  async valuesOf(tx: Tx, workflowId: string, keys: string[]): Promise<Array<Pick<TaskRow, 'workflowKey' | 'status' | 'result' | 'outputs'>>> {
    if (keys.length === 0) return [];
    return tx
      .select({ workflowKey: tasks.workflowKey, status: tasks.status, result: tasks.result, outputs: tasks.outputs })
      .from(tasks)
      .where(and(eq(tasks.workflowId, workflowId), inArray(tasks.workflowKey, keys)));
  }

  /** Pending tasks of the workflow marked ready that have a `when` or templates (roots, at creation: escaped braces are templates too). */
  async readyToAdmit(tx: Tx, workflowId: string): Promise<TaskRow[]> {
    return tx
      .select()
      .from(tasks)
      .where(and(eq(tasks.workflowId, workflowId), eq(tasks.status, 'pending'), eq(tasks.dagReady, true), sql`(${tasks.whenCondition} is not null or ${tasks.templates} is not null)`));
  }

  /** POST /workflows/{id}/retry in one transaction: the reset (resetForRetry), then `restart` releases what can run. */
  async retry(
    id: string,
    restart: (tx: Tx, wf: WorkflowRow, reset: TaskRow[]) => Promise<ReleasedTask[]>,
  ): Promise<'not_found' | { running: WorkflowRow } | { allSucceeded: WorkflowRow } | { reset: TaskRow[]; queued: ReleasedTask[]; wereCancelled: TaskRow[] }> {
    return this.db.transaction(async (tx) => {
      const r = await this.resetForRetry(tx, id);
      if (r === 'not_found' || 'running' in r || 'allSucceeded' in r) return r;
      return { reset: r.reset, queued: await restart(tx, r.workflow, r.reset), wereCancelled: r.wereCancelled };
    });
  }

  /**
   * POST /workflows/{id}/retry, first step: the workflow runs again and its failed, timed-out,
   * cancelled and skipped tasks are pending again (same ids; their next placement is a new
   * attempt), their submitted templates restored to be filled again at release. Succeeded tasks,
   * and what they left, are kept. Returns the reset tasks (`wereCancelled`: those of them that
   * had been cancelled, as they are now), or why nothing was done.
   */
  async resetForRetry(
    tx: Tx,
    id: string,
  ): Promise<'not_found' | { running: WorkflowRow } | { allSucceeded: WorkflowRow } | { workflow: WorkflowRow; reset: TaskRow[]; wereCancelled: TaskRow[] }> {
    const wf = await this.lock(tx, id);
    if (!wf) return 'not_found';
    if (wf.status === 'running') return { running: wf };
    const again = await tx
      .select()
      .from(tasks)
      .where(and(eq(tasks.workflowId, id), inArray(tasks.status, ['failed', 'timed_out', 'cancelled', 'skipped'])))
      .orderBy(tasks.id)
      .for('update');
    // Every task succeeded: there is nothing to run again (and the workflow would only be marked
    // running and succeeded once more, with events and webhooks saying so).
    if (again.length === 0) return { allSucceeded: wf };
    // One statement (one per task took 8.7-12 s for 10,000): the SET expressions read the row as it
    // was (its status for the reason, its attempts), as the loop read `again`.
    const reset = (
      await tx
        .update(tasks)
        .set({
          status: 'pending',
          statusReason: sql`'workflow retry requested after ' || replace(${tasks.status}, '_', ' ') || '; waiting for its parents'`,
          dagReady: false,
          nodeId: null,
          exitCode: null,
          error: null,
          finishedAt: null,
          outputs: null,
          result: null,
          // Its max_retries afresh: the attempts that counted so far no longer do.
          retriedAttempts: sql`${tasks.attempts} - ${tasks.lostAttempts}`,
          name: sql`case when ${tasks.templates} is null then ${tasks.name} else ${tasks.templates} ->> 'name' end`,
          command: sql`case when ${tasks.templates} is null then ${tasks.command} else nullif(${tasks.templates} -> 'command', 'null'::jsonb)::text end`,
          env: sql`case when ${tasks.templates} is null then ${tasks.env} else ${tasks.templates} -> 'env' end`,
        })
        .where(sql`${tasks.id} = any(${uuidArray(again.map((t) => t.id))}::uuid[])`)
        .returning()
    ).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    await this.taskStore.recordEvents(tx, reset, (t) => t.statusReason as string);
    const [workflow] = await tx.update(workflows).set({ status: 'running', finishedAt: null }).where(eq(workflows.id, id)).returning();
    await recordWorkflowEvent(tx, id, 'running');
    const cancelled = new Set(again.filter((t) => t.status === 'cancelled').map((t) => t.id));
    return { workflow, reset, wereCancelled: reset.filter((t) => cancelled.has(t.id)) };
  }

  async activeCount(tx: Tx, workflowId: string): Promise<number> {
    const [{ n }] = await tx.select({ n: count() }).from(tasks).where(and(eq(tasks.workflowId, workflowId), inArray(tasks.status, ACTIVE)));
    return Number(n);
  }

  /**
   * Moves up to `limit` ready tasks (oldest first) from pending to queued: those marked ready
   * before, and `newlyReady` (pending tasks whose parents just finished). The rest of both are
   * marked ready, saying they wait for a slot. Each task changes once: a task released at once
   * is not first marked ready (a second new version of its row, and of its index entries, which
   * was a third of releasing a 1,000-wide fan-out). Returns only what enqueueing needs.
   */
  async queueReady(tx: Tx, workflowId: string, limit: number, waitingReason: string, newlyReady: string[] = []): Promise<ReleasedTask[]> {
    const newly = uuidArray(newlyReady);
    const isReady = sql`tasks.workflow_id = ${workflowId} and tasks.status = 'pending' and (tasks.dag_ready or tasks.id = any(${newly}::uuid[]))`;
    let queued: ReleasedTask[] = [];
    if (limit > 0) {
      const take = Math.min(limit, 2_147_483_647);
      // The oldest `take` of those marked before (read in seq order from tasks_workflow_ready_idx,
      // not all of them) and of the newly ready: with max_parallel 1 and 10,000 tasks waiting, the
      // pick read and sorted all of them at every task end.
      const changed = await updateWithEvents(
        tx,
        sql`update tasks set status = 'queued', dag_ready = false, status_reason = ${WAITING_FOR_SCHEDULER}, waiting_since = now()
          where tasks.id in (select r.id from (
            (select tasks.id, tasks.seq from tasks where tasks.workflow_id = ${workflowId} and tasks.status = 'pending' and tasks.dag_ready order by tasks.seq limit ${take})
            union all
            (select tasks.id, tasks.seq from tasks where tasks.id = any(${newly}::uuid[]) and tasks.workflow_id = ${workflowId} and tasks.status = 'pending' and not tasks.dag_ready)
          ) r order by r.seq limit ${take})`,
        sql`${RELEASED}`,
        new Date().toISOString(),
        false,
        ['priority', 'tenant', 'seq'],
      );
      // Only what enqueueing needs: the whole rows of a 1,000-wide fan-out took ~20 ms to read and map.
      queued = changed
        .sort((a, b) => Number(a.seq) - Number(b.seq))
        .map((r) => ({ id: r.id as string, priority: r.priority as TaskRow['priority'], tenant: r.tenant as string }));
    }
    // Those still ready but over max_parallel say so; only rows that change are written: every
    // waiting task was rewritten at each task end, n²/2 row versions over a run (515 ms per end
    // with 10,000 waiting).
    if (newlyReady.length > 0 || limit > 0) {
      await tx.execute(sql`update tasks set dag_ready = true, status_reason = ${waitingReason}
        where ${isReady} and (not tasks.dag_ready or tasks.status_reason is distinct from ${waitingReason})`);
    }
    return queued;
  }

  /** Any task of the workflow not finished yet: EXISTS stops at the first (a count read all of them, 7.6 ms at 10,000, at every task end). */
  async anyUnfinished(tx: Tx, workflowId: string): Promise<boolean> {
    return this.exists(tx, workflowId, UNFINISHED);
  }

  /** No task failed, timed out or was cancelled (tasks skipped by a `when`, and their descendants, do not fail a workflow). */
  async noneFailed(tx: Tx, workflowId: string): Promise<boolean> {
    return !(await this.exists(tx, workflowId, ['failed', 'timed_out', 'cancelled']));
  }

  private async exists(tx: Tx, workflowId: string, statuses: readonly string[]): Promise<boolean> {
    const r = (await tx.execute(
      sql`select exists (select 1 from tasks where workflow_id = ${workflowId} and status = any(${`{${statuses.join(',')}}`}::text[])) as found`,
    )) as unknown as { rows: Array<{ found: boolean }> };
    return r.rows[0].found;
  }

  async finish(tx: Tx, workflowId: string, status: WorkflowRow['status']): Promise<void> {
    const ended = await tx
      .update(workflows)
      .set({ status, finishedAt: new Date() })
      .where(and(eq(workflows.id, workflowId), eq(workflows.status, 'running')))
      .returning({ id: workflows.id });
    if (ended.length > 0) await recordWorkflowEvent(tx, workflowId, status);
  }

  /**
   * Locked unfinished tasks of a workflow, for cancelling it: in id order, as placement locks
   * queued tasks (place-attempts.ts). In no order, a cancel of a wide fan-out being placed could
   * hold a task the placement wanted next while waiting for one it held (40P01, a 500).
   */
  async lockUnfinished(tx: Tx, workflowId: string): Promise<TaskRow[]> {
    return tx.select().from(tasks).where(and(eq(tasks.workflowId, workflowId), inArray(tasks.status, UNFINISHED))).orderBy(tasks.id).for('update');
  }

  /**
   * Cancels a running workflow: pending tasks are skipped, queued/scheduled/running ones
   * cancelled (their reservations freed). Returns the tasks cancelled, each saying whether it was
   * on a node (whose container the caller must have killed); the caller also removes their
   * pending jobs (control/queueing.ts, afterCancels).
   *
   * Run again when PostgreSQL fails it for a deadlock (retryTransaction): it frees the
   * reservations of tasks spread over many nodes, and locks those node rows in id order
   * (releaseMany), as placements and finishes do, but not every transaction that locks several
   * node rows keeps that order (the schedule ticker's replace across runs, markSilent's
   * updates): the two can each hold a node the other waits for. A cancel that loses is run
   * again, a second later (deadlock_timeout), instead of answering 500. A run that failed
   * changed nothing (its afterCommit work is dropped), and the next reads the workflow afresh:
   * cancelled meanwhile by someone else, it is `ended`.
   */
  async cancel(id: string): Promise<'not_found' | { ended: WorkflowRow } | { workflow: WorkflowRow; cancelled: WorkflowCancelled[] }> {
    return retryTransaction(() => this.db.transaction((tx) => this.cancelIn(tx, id)));
  }

  /** cancel() inside the caller's transaction. */
  async cancelIn(tx: Tx, id: string): Promise<'not_found' | { ended: WorkflowRow } | { workflow: WorkflowRow; cancelled: WorkflowCancelled[] }> {
    const wf = await this.lock(tx, id);
    if (!wf) return 'not_found';
    if (wf.status !== 'running') return { ended: wf };
    const unfinished = await this.lockUnfinished(tx, id);
    await this.skip(
      tx,
      unfinished.filter((t) => t.status === 'pending').map((t) => t.id),
      'skipped: workflow cancelled',
    );
    const cancelled = await this.taskStore.cancelLockedMany(tx, unfinished.filter((t) => t.status !== 'pending'), 'workflow cancelled');
    this.ended(tx, cancelled.map((c) => c.task));
    await tx.update(workflows).set({ status: 'cancelled', finishedAt: new Date() }).where(eq(workflows.id, id));
    await recordWorkflowEvent(tx, id, 'cancelled');
    const [updated] = await tx.select().from(workflows).where(eq(workflows.id, id));
    return { workflow: updated, cancelled };
  }

  async countsByStatus(ids: string[]): Promise<Map<string, Record<string, number>>> {
    const out = new Map<string, Record<string, number>>();
    if (ids.length === 0) return out;
    const rows = await this.db
      .select({ workflowId: tasks.workflowId, status: tasks.status, n: count() })
      .from(tasks)
      .where(inArray(tasks.workflowId, ids))
      .groupBy(tasks.workflowId, tasks.status);
    for (const r of rows) {
      const m = out.get(r.workflowId as string) ?? {};
      m[r.status] = Number(r.n);
      out.set(r.workflowId as string, m);
    }
    return out;
  }
}

/**
 * Inserts many new tasks in one statement from one JSON parameter, in the given order (their
 * seq follows it). Building a statement with a bound value per column per row costs far more:
 * 0.7 s of CPU, blocking the control plane, for a 10,000-task workflow, against about 50 ms.
 */
async function insertTasks(tx: Tx, rows: NewTaskRow[]): Promise<void> {
  if (rows.length === 0) return;
  const json = JSON.stringify(
    rows.map((r) => ({
      ...r,
      command: r.command === null || r.command === undefined ? null : JSON.stringify(r.command),
      createdAt: (r.createdAt as Date).toISOString(),
    })),
  );
  await tx.execute(sql`
    insert into tasks (id, name, image, command, env, priority, cpu, memory_mb, gpu, timeout_seconds, max_retries,
      retry_backoff_seconds, node_selector, labels, idempotency_key, network, status, status_reason, workflow_id,
      workflow_key, depends_on, dag_ready, created_at, tenant, output_spec, templates, when_condition, schedule_id)
    select r.id, r.name, r.image, r.command, r.env, r.priority, r.cpu, r.memory_mb, r.gpu, r.timeout_seconds, r.max_retries,
      r.retry_backoff_seconds, coalesce(r.node_selector, '{}'), coalesce(r.labels, '{}'), r.idempotency_key, r.network, r.status,
      r.status_reason, r.workflow_id, r.workflow_key, coalesce(r.depends_on, '[]'), coalesce(r.dag_ready, false), r.created_at,
      coalesce(r.tenant, 'default'), coalesce(r.output_spec, '{}'), r.templates, r.when_condition, r.schedule_id
    from rows from (jsonb_to_recordset(${json}::jsonb) as (id uuid, name text, image text, command text, env jsonb, priority text,
        cpu float8, "memoryMb" int, gpu int, "timeoutSeconds" int, "maxRetries" int, "retryBackoffSeconds" float8,
        "nodeSelector" jsonb, labels jsonb, "idempotencyKey" text, network text, status text, "statusReason" text,
        "workflowId" uuid, "workflowKey" text, "dependsOn" jsonb, "dagReady" boolean, "createdAt" timestamptz, tenant text,
        "outputSpec" jsonb, templates jsonb, "whenCondition" text, "scheduleId" uuid))
      with ordinality as r(id, name, image, command, env, priority, cpu, memory_mb, gpu, timeout_seconds, max_retries,
        retry_backoff_seconds, node_selector, labels, idempotency_key, network, status, status_reason, workflow_id,
        workflow_key, depends_on, dag_ready, created_at, tenant, output_spec, templates, when_condition, schedule_id, ord)
    order by r.ord`);
}
