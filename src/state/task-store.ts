// Reads and writes tasks, their history and their stored logs. Every state change goes through
// here and is fenced: a change names the attempt it is about and the statuses it may leave,
// so a late or repeated report can never move a task twice or out of a final state.
import { and, count, desc, eq, inArray, sql, type SQL } from 'drizzle-orm';
import type { Db } from './db.ts';
import { nodes, taskEvents, taskLogs, tasks, type NewTaskRow, type NodeRow, type TaskRow } from './schema.ts';

export const FINAL = ['succeeded', 'failed', 'timed_out', 'cancelled', 'skipped'] as const;
const ACTIVE_ON_NODE = ['scheduled', 'running'];

export interface TaskFilter {
  status?: string;
  workflowId?: string;
  nodeId?: string;
  label?: { key: string; value: string };
  limit: number;
  offset: number;
}

export type FinishStatus = 'succeeded' | 'failed' | 'timed_out' | 'cancelled';

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

type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

export class TaskStore {
  constructor(private readonly db: Db) {}

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
      task = await this.db.transaction(async (tx) => {
        const [t] = await tx.insert(tasks).values(row).returning();
        await this.addEvent(tx, t, t.statusReason);
        return t;
      });
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

  async setStatusReason(taskId: string, reason: string): Promise<void> {
    await this.db
      .update(tasks)
      .set({ statusReason: reason })
      .where(and(eq(tasks.id, taskId), eq(tasks.status, 'queued')));
  }

  /** Fails a queued task that can never run (bigger than any node, say). */
  async failQueued(taskId: string, error: string): Promise<TaskRow | null> {
    return this.db.transaction(async (tx) => {
      const [t] = await tx
        .update(tasks)
        .set({ status: 'failed', error, statusReason: error, finishedAt: new Date() })
        .where(and(eq(tasks.id, taskId), eq(tasks.status, 'queued')))
        .returning();
      if (t) await this.addEvent(tx, t, error);
      return t ?? null;
    });
  }

  /**
   * Reserves the task's resources on the node and records the new attempt, atomically. Returns
   * null when the task is no longer queued or the node no longer has room (someone was faster).
   */
  async place(taskId: string, nodeId: string): Promise<TaskRow | null> {
    return this.db.transaction(async (tx) => {
      const [t] = await tx.select().from(tasks).where(eq(tasks.id, taskId)).for('update');
      if (!t || t.status !== 'queued') return null;
      const [n] = await tx
        .update(nodes)
        .set({
          allocatedCpu: sql`${nodes.allocatedCpu} + ${t.cpu}`,
          allocatedMemoryMb: sql`${nodes.allocatedMemoryMb} + ${t.memoryMb}`,
          allocatedGpu: sql`${nodes.allocatedGpu} + ${t.gpu}`,
          allocatedTasks: sql`${nodes.allocatedTasks} + 1`,
        })
        .where(
          and(
            eq(nodes.id, nodeId),
            eq(nodes.status, 'available'),
            sql`${nodes.allocatedCpu} + ${t.cpu} <= ${nodes.cpu} + 1e-9`,
            sql`${nodes.allocatedMemoryMb} + ${t.memoryMb} <= ${nodes.memoryMb}`,
            sql`${nodes.allocatedGpu} + ${t.gpu} <= ${nodes.gpu}`,
            sql`${nodes.allocatedTasks} + 1 <= ${nodes.maxTasks}`,
          ),
        )
        .returning({ id: nodes.id, name: nodes.name });
      if (!n) return null;
      const [placed] = await tx
        .update(tasks)
        .set({
          status: 'scheduled',
          nodeId,
          attempts: t.attempts + 1,
          scheduledAt: new Date(),
          statusReason: `placed on node ${n.name}; waiting for it to start the container`,
        })
        .where(eq(tasks.id, taskId))
        .returning();
      await this.addEvent(tx, placed, `placed on node ${n.name}`);
      return placed;
    });
  }

  async markRunning(taskId: string, attempt: number, startedAt: Date): Promise<TaskRow | null> {
    return this.db.transaction(async (tx) => {
      const [t] = await tx
        .update(tasks)
        .set({ status: 'running', startedAt, statusReason: null })
        .where(and(eq(tasks.id, taskId), eq(tasks.attempts, attempt), eq(tasks.status, 'scheduled')))
        .returning();
      if (t) await this.addEvent(tx, t, 'container started');
      return t ?? null;
    });
  }

  /**
   * Records the end of an attempt: the final state (unless the task already ended, e.g. it was
   * cancelled), the stored logs, and the release of the node's reservation. Reports for an
   * attempt the task no longer has are ignored (null).
   */
  async finish(report: FinishReport): Promise<{ task: TaskRow; changed: boolean } | null> {
    return this.db.transaction(async (tx) => {
      const [t] = await tx.select().from(tasks).where(eq(tasks.id, report.taskId)).for('update');
      if (!t || t.attempts !== report.attempt) return null;
      await tx
        .insert(taskLogs)
        .values({ taskId: t.id, attempt: report.attempt, logs: report.logs, truncated: report.truncated })
        .onConflictDoUpdate({
          target: taskLogs.taskId,
          set: { attempt: report.attempt, logs: report.logs, truncated: report.truncated },
        });
      if (!ACTIVE_ON_NODE.includes(t.status)) return { task: t, changed: false };
      const [done] = await tx
        .update(tasks)
        .set({
          status: report.status,
          exitCode: report.exitCode,
          error: report.error,
          statusReason: null,
          startedAt: t.startedAt ?? report.startedAt,
          finishedAt: report.finishedAt,
        })
        .where(eq(tasks.id, t.id))
        .returning();
      if (t.nodeId) await this.release(tx, t);
      await this.addEvent(tx, done, report.error);
      return { task: done, changed: true };
    });
  }

  /** Cancels a task that has not ended. Returns the task and whether it was on a node. */
  async cancel(taskId: string): Promise<{ task: TaskRow; wasOnNode: boolean } | 'not_found' | { ended: TaskRow }> {
    return this.db.transaction(async (tx) => {
      const [t] = await tx.select().from(tasks).where(eq(tasks.id, taskId)).for('update');
      if (!t) return 'not_found';
      if ((FINAL as readonly string[]).includes(t.status)) return { ended: t };
      const wasOnNode = ACTIVE_ON_NODE.includes(t.status);
      const [done] = await tx
        .update(tasks)
        .set({ status: 'cancelled', statusReason: null, finishedAt: new Date(), error: 'cancelled by request' })
        .where(eq(tasks.id, t.id))
        .returning();
      if (wasOnNode && t.nodeId) await this.release(tx, t);
      await this.addEvent(tx, done, 'cancelled by request');
      return { task: done, wasOnNode };
    });
  }

  async logs(taskId: string): Promise<{ logs: string; truncated: boolean } | null> {
    const [l] = await this.db.select().from(taskLogs).where(eq(taskLogs.taskId, taskId));
    return l ? { logs: l.logs, truncated: l.truncated } : null;
  }

  /** Tasks in the given statuses, oldest first, for the reconciler. */
  async idsInStatus(statuses: string[], limit = 10_000): Promise<Array<Pick<TaskRow, 'id' | 'status' | 'priority' | 'attempts' | 'nodeId'>>> {
    return this.db
      .select({ id: tasks.id, status: tasks.status, priority: tasks.priority, attempts: tasks.attempts, nodeId: tasks.nodeId })
      .from(tasks)
      .where(inArray(tasks.status, statuses))
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

function isUniqueViolation(err: unknown): boolean {
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
    if ((e as { code?: string }).code === '23505') return true;
  }
  return false;
}

export type { NodeRow, TaskRow };
