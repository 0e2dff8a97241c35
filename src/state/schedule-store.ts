// Schedules and the one transaction that makes their ticks exactly-once: claimTick moves
// last_tick from the value the planner read to the tick it handles (compare-and-set) and creates
// the run in the same transaction, so of two control planes (or a leader and its successor, or a
// control plane and itself after a restart) only one finds last_tick unchanged and starts the run.
import { and, asc, count, desc, eq, inArray, isNotNull, lte, min, not, sql } from 'drizzle-orm';
import type { Db } from './db.ts';
import { schedules, tasks, workflows, type NewTaskRow, type ScheduleRow, type TaskRow } from './schema.ts';
import type { Tx } from './tx.ts';
import { UNFINISHED_STATUSES } from '../domain/task.ts';

export type NewScheduleRow = typeof schedules.$inferInsert;
export type ScheduleChange = Partial<Pick<ScheduleRow, 'name' | 'cron' | 'timezone' | 'concurrency' | 'startingDeadlineSeconds' | 'paused' | 'lastTick' | 'nextTick'>>;

/** A claimed tick's bookkeeping: the planner's new last_tick and next tick, and the ticks missed on the way. */
export interface TickClaim {
  from: Date;
  handledThrough: Date;
  next: Date | null;
  missed: number;
}

class Lost extends Error {}

export class ScheduleStore {
  constructor(private readonly db: Db) {}

  async create(row: NewScheduleRow): Promise<ScheduleRow> {
    const [s] = await this.db.insert(schedules).values(row).returning();
    return s;
  }

  async get(id: string): Promise<ScheduleRow | null> {
    const [s] = await this.db.select().from(schedules).where(eq(schedules.id, id));
    return s ?? null;
  }

  /** The size of each row of the page list(filter) reads, in its order, as text (see TaskStore.pageSizes). */
  async pageSizes(filter: { tenant?: string; limit: number; offset: number }): Promise<number[]> {
    const rows = await this.db
      .select({ bytes: sql<number>`octet_length(${schedules}::text)` })
      .from(schedules)
      .where(filter.tenant ? eq(schedules.tenant, filter.tenant) : undefined)
      .orderBy(desc(schedules.seq))
      .limit(filter.limit)
      .offset(filter.offset);
    return rows.map((r) => Number(r.bytes));
  }

  async list(filter: { tenant?: string; limit: number; offset: number }): Promise<{ items: ScheduleRow[]; total: number }> {
    const where = filter.tenant ? eq(schedules.tenant, filter.tenant) : undefined;
    const [items, [{ n }]] = await Promise.all([
      this.db.select().from(schedules).where(where).orderBy(desc(schedules.seq)).limit(filter.limit).offset(filter.offset),
      this.db.select({ n: count() }).from(schedules).where(where),
    ]);
    return { items, total: Number(n) };
  }

  async update(id: string, change: ScheduleChange): Promise<ScheduleRow | null> {
    const [s] = await this.db
      .update(schedules)
      .set({ ...change, updatedAt: new Date() })
      .where(eq(schedules.id, id))
      .returning();
    return s ?? null;
  }

  async delete(id: string): Promise<boolean> {
    return (await this.db.delete(schedules).where(eq(schedules.id, id)).returning({ id: schedules.id })).length > 0;
  }

  /** Schedules not paused whose next tick has come, oldest first. */
  async due(now: Date, limit: number): Promise<ScheduleRow[]> {
    return this.db
      .select()
      .from(schedules)
      .where(and(not(schedules.paused), lte(schedules.nextTick, now)))
      .orderBy(asc(schedules.nextTick))
      .limit(limit);
  }

  /** The earliest next tick of any schedule not paused (for how long the ticker may sleep). */
  async earliestNext(): Promise<Date | null> {
    const [r] = await this.db
      .select({ at: min(schedules.nextTick) })
      .from(schedules)
      .where(and(not(schedules.paused), isNotNull(schedules.nextTick)));
    return r?.at ? new Date(r.at) : null;
  }

  /** Ids of the schedule's runs that have not ended (tasks alone, or workflows), oldest first. */
  async activeRuns(s: Pick<ScheduleRow, 'id' | 'workflow'>): Promise<string[]> {
    if (s.workflow) {
      const rows = await this.db
        .select({ id: workflows.id })
        .from(workflows)
        .where(and(eq(workflows.scheduleId, s.id), eq(workflows.status, 'running')))
        .orderBy(asc(workflows.seq));
      return rows.map((r) => r.id);
    }
    const rows = await this.db
      .select({ id: tasks.id })
      .from(tasks)
      .where(and(eq(tasks.scheduleId, s.id), inArray(tasks.status, [...UNFINISHED_STATUSES]), sql`${tasks.workflowId} is null`))
      .orderBy(asc(tasks.seq));
    return rows.map((r) => r.id);
  }

  /**
   * Claims the tick: in one transaction, last_tick moves from `claim.from` to the handled tick
   * (only if it still is `claim.from` and the schedule is not paused) and `createRun` makes the run. Returns the run's result,
   * or null when another control plane claimed it first (nothing is written then).
   * With no createRun the ticks are only marked handled (missed).
   */
  async claimTick<T>(id: string, claim: TickClaim, createRun?: (tx: Tx) => Promise<{ result: T; runId: string }>): Promise<{ result: T | null } | null> {
    try {
      return await this.db.transaction(async (tx) => {
        const moved = await tx
          .update(schedules)
          .set({
            lastTick: claim.handledThrough,
            nextTick: claim.next,
            missedTicks: sql`least(${schedules.missedTicks} + ${claim.missed}, 2147483647)`,
            updatedAt: new Date(),
          })
          // Paused meanwhile (a pause leaves last_tick as it was): the tick is not this claim's.
          .where(and(eq(schedules.id, id), eq(schedules.lastTick, claim.from), not(schedules.paused)))
          .returning({ id: schedules.id });
        if (moved.length === 0) throw new Lost();
        if (!createRun) return { result: null };
        const run = await createRun(tx);
        await tx.update(schedules).set({ lastRunId: run.runId, lastRunAt: new Date(), lastError: null }).where(eq(schedules.id, id));
        return { result: run.result };
      });
    } catch (err) {
      if (err instanceof Lost) return null;
      throw err;
    }
  }

  /**
   * claimTick for many schedules at once, each with one task as its run (the common case: 1,000
   * schedules on the same minute). One transaction: one compare-and-set UPDATE over all of them,
   * one INSERT of the tasks of those it claimed, one UPDATE of their last run. Returns the tasks
   * inserted (a schedule another control plane claimed first, or one paused meanwhile, gets none).
   */
  async claimTicksWithTasks(claims: Array<{ id: string; claim: TickClaim; task: NewTaskRow }>): Promise<TaskRow[]> {
    if (claims.length === 0) return [];
    const values = JSON.stringify(
      claims.map((c) => ({ id: c.id, from: c.claim.from.toISOString(), to: c.claim.handledThrough.toISOString(), next: c.claim.next?.toISOString() ?? null, missed: c.claim.missed })),
    );
    return this.db.transaction(async (tx) => {
      const moved = (await tx.execute(sql`
        update schedules s set last_tick = v."to", next_tick = v."next",
          missed_ticks = least(s.missed_ticks + v.missed, 2147483647), updated_at = now()
        from jsonb_to_recordset(${values}::jsonb) as v(id uuid, "from" timestamptz, "to" timestamptz, "next" timestamptz, missed int)
        where s.id = v.id and s.last_tick = v."from" and not s.paused
        returning s.id`)) as unknown as { rows: Array<{ id: string }> };
      const won = new Set(moved.rows.map((r) => r.id));
      const rows = claims.filter((c) => won.has(c.id)).map((c) => c.task);
      if (rows.length === 0) return [];
      const inserted: TaskRow[] = [];
      for (let i = 0; i < rows.length; i += 500) inserted.push(...(await tx.insert(tasks).values(rows.slice(i, i + 500)).returning()));
      const runs = JSON.stringify(inserted.map((t) => ({ id: t.scheduleId, run: t.id })));
      await tx.execute(sql`
        update schedules s set last_run_id = v.run, last_run_at = now(), last_error = null
        from jsonb_to_recordset(${runs}::jsonb) as v(id uuid, run uuid) where s.id = v.id`);
      return inserted;
    });
  }

  /** Records a run that was made by hand (POST /schedules/{id}/trigger), in its transaction. */
  async noteRun(tx: Tx, id: string, runId: string): Promise<void> {
    await tx.update(schedules).set({ lastRunId: runId, lastRunAt: new Date() }).where(eq(schedules.id, id));
  }

  async noteError(id: string, error: string): Promise<void> {
    await this.db.update(schedules).set({ lastError: error }).where(eq(schedules.id, id));
  }

  /** A transaction for a run made by hand (trigger), with noteRun. */
  async transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return this.db.transaction(fn);
  }
}
