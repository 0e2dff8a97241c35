// Webhooks, their delivery rows (the outbox) and the outbox's cursors over the history tables.
// Deliveries are rows, so they survive a restart; a delivery row exists once per (webhook,
// event) (a unique index), so reading an event twice — after a restart, or by two control planes
// during a leader change — never sends it twice as two deliveries.
import { and, count, desc, eq, sql, type SQL } from 'drizzle-orm';
import { randomUUID } from 'node:crypto';
import type { Db } from './db.ts';
import { webhookCursors, webhookDeliveries, webhooks, type DeliveryRow, type WebhookRow } from './schema.ts';
import { isForeignKeyViolation } from './tx.ts';
import { FINAL_STATUSES } from '../domain/task.ts';

export type NewDeliveryRow = typeof webhookDeliveries.$inferInsert;
export type EventSource = 'task_events' | 'workflow_events';

/** A delivery's line (its events are sent in order within it): `task:<id>` or `workflow:<id>`. */
export const deliveryLine = (kind: 'task' | 'workflow', id: string): string => `${kind}:${id}`;

/**
 * The statement that deletes the pending deliveries of these lines (an SQL text[]), for a
 * submission taken back after its enqueue failed (TaskStore.deleteMany, WorkflowStore.delete):
 * its first events were committed with it, and the outbox may have fanned them out already, so
 * they would be sent, and retried, for ids that answer 404. Run in the take-back's transaction.
 * By webhook, so each look is a range of webhook_deliveries_pending_idx.
 */
export function deletePendingDeliveries(lines: SQL): SQL {
  return sql`delete from webhook_deliveries d using webhooks w where d.webhook_id = w.id and d.status = 'pending' and d.line = any(${lines})`;
}

/** An event of a history table, with what its webhook payload needs from its task or workflow. */
export interface SourceEvent {
  id: number;
  xid: number;
  at: Date;
  status: string;
  reason: string | null;
  tenant: string;
  /** Task or workflow id. */
  subject: string;
  name: string | null;
  workflowId: string | null;
  workflowKey: string | null;
  exitCode: number | null;
  scheduleId: string | null;
  /** A task's result and outputs as stored now (set with its end, so a task.succeeded event carries its own). */
  result: string | null;
  outputs: Record<string, string> | null;
  /**
   * A task's queued event: the status of its event before (null: none). `queued` means only its
   * reason changed (the scheduler says why it waits: a quota, no room), not its state.
   */
  before: string | null;
}

export interface Cursor {
  xid: number;
  lastId: number;
}

/** A pending delivery at the head of its line, with what sending it needs. */
export interface SendableDelivery {
  id: string;
  webhookId: string;
  eventId: string;
  eventType: string;
  body: string;
  attempts: number;
  url: string;
  sealedSecret: string;
  tenant: string;
}

const rows = <T>(r: unknown): T[] => ((r as { rows?: T[] }).rows ?? (r as T[]));

/** The event is the end its task row still shows: its values are the event's own. */
const OWN_END = sql.raw(`(e.status = t.status and e.attempt = t.attempts and e.status in (${FINAL_STATUSES.map((x) => `'${x}'`).join(', ')}))`);

export class WebhookStore {
  constructor(private readonly db: Db) {}

  async create(row: Omit<WebhookRow, 'seq'>): Promise<WebhookRow> {
    const [w] = await this.db.insert(webhooks).values(row).returning();
    return w;
  }

  async get(id: string): Promise<WebhookRow | null> {
    const [w] = await this.db.select().from(webhooks).where(eq(webhooks.id, id));
    return w ?? null;
  }

  async list(filter: { tenant?: string; limit: number; offset: number }): Promise<{ items: WebhookRow[]; total: number }> {
    const where = filter.tenant ? eq(webhooks.tenant, filter.tenant) : undefined;
    const [items, [{ n }]] = await Promise.all([
      this.db.select().from(webhooks).where(where).orderBy(desc(webhooks.seq)).limit(filter.limit).offset(filter.offset),
      this.db.select({ n: count() }).from(webhooks).where(where),
    ]);
    return { items, total: Number(n) };
  }

  /**
   * Stores the webhook unless its tenant has `max` already; then answers how many it has. The
   * tenant's creates take turns (a transaction-scoped advisory lock on the tenant), so requests at
   * the same moment cannot pass the cap together.
   */
  async createWithin(row: Omit<WebhookRow, 'seq'>, max: number): Promise<{ created: WebhookRow } | { has: number }> {
    return this.db.transaction(async (tx) => {
      await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`jarvis.webhooks.${row.tenant}`}, 0))`);
      const [{ n }] = await tx.select({ n: count() }).from(webhooks).where(eq(webhooks.tenant, row.tenant));
      if (Number(n) >= max) return { has: Number(n) };
      const [w] = await tx.insert(webhooks).values(row).returning();
      return { created: w };
    });
  }

  /** Every webhook's tenant and events, for the outbox's fan-out. */
  async subscriptions(): Promise<Array<Pick<WebhookRow, 'id' | 'tenant' | 'events' | 'createdAt'>>> {
    return this.db.select({ id: webhooks.id, tenant: webhooks.tenant, events: webhooks.events, createdAt: webhooks.createdAt }).from(webhooks);
  }

  async delete(id: string): Promise<boolean> {
    return (await this.db.delete(webhooks).where(eq(webhooks.id, id)).returning({ id: webhooks.id })).length > 0;
  }

  async deliveries(webhookId: string, q: { status?: DeliveryRow['status']; limit: number; offset: number }): Promise<{ items: DeliveryRow[]; total: number }> {
    const conds: SQL[] = [eq(webhookDeliveries.webhookId, webhookId)];
    if (q.status) conds.push(eq(webhookDeliveries.status, q.status));
    const where = and(...conds);
    const [items, [{ n }]] = await Promise.all([
      this.db.select().from(webhookDeliveries).where(where).orderBy(desc(webhookDeliveries.seq)).limit(q.limit).offset(q.offset),
      this.db.select({ n: count() }).from(webhookDeliveries).where(where),
    ]);
    return { items, total: Number(n) };
  }

  async delivery(webhookId: string, id: string): Promise<DeliveryRow | null> {
    const [d] = await this.db.select().from(webhookDeliveries).where(and(eq(webhookDeliveries.webhookId, webhookId), eq(webhookDeliveries.id, id)));
    return d ?? null;
  }

  /** A new delivery of the same event (same event id and body), in a line of its own; null if its webhook was deleted meanwhile. */
  async redeliver(d: DeliveryRow): Promise<DeliveryRow | null> {
    const id = randomUUID();
    const now = new Date();
    const [r] = await this.db
      .insert(webhookDeliveries)
      .values({
        id,
        webhookId: d.webhookId,
        tenant: d.tenant,
        eventId: d.eventId,
        eventType: d.eventType,
        line: `redelivery:${id}`,
        eventSeq: d.eventSeq,
        body: d.body,
        redelivery: true,
        status: 'pending',
        nextAttemptAt: now,
        createdAt: now,
      })
      .returning()
      .catch((err: unknown) => {
        if (isForeignKeyViolation(err)) return [null];
        throw err;
      });
    return r;
  }

  // --- the outbox

  async cursor(source: EventSource): Promise<Cursor> {
    const [c] = await this.db.select().from(webhookCursors).where(eq(webhookCursors.source, source));
    return c ? { xid: c.xid, lastId: c.lastId } : { xid: 0, lastId: 0 };
  }

  async saveCursor(source: EventSource, c: Cursor): Promise<void> {
    await this.db
      .insert(webhookCursors)
      .values({ source, ...c })
      .onConflictDoUpdate({ target: webhookCursors.source, set: { xid: c.xid, lastId: c.lastId } });
  }

  /**
   * The oldest transaction id still running: every event written by a lower one is committed
   * (or rolled back) and so will never appear later.
   */
  async horizon(): Promise<number> {
    const r = rows<{ xmin: string }>(await this.db.execute(sql`select (pg_snapshot_xmin(pg_current_snapshot())::text) as xmin`));
    return Number(r[0].xmin);
  }

  /**
   * Events after the cursor in (xid, id) order, and — so that a task's events are never fanned
   * out out of order — any event of the same task or workflow with a lower id that a page
   * boundary would have left for later.
   */
  async eventsAfter(source: EventSource, c: Cursor, limit: number): Promise<{ page: SourceEvent[]; extra: SourceEvent[] }> {
    const q =
      source === 'task_events'
        ? // The row is read as it is now, maybe long after the event (the outbox runs behind, or
          // waited out an open transaction): its exit code, result and outputs belong to an event
          // only when that event is the end the row still shows (same status, same attempt). A
          // queued or running event, or an end a retry has since replaced, carries none of them.
          sql`select e.id, e.xid, e.at, e.status, e.reason, t.tenant, t.id as subject, t.name, t.workflow_id as "workflowId",
                     t.workflow_key as "workflowKey", case when ${OWN_END} then t.exit_code end as "exitCode", t.schedule_id as "scheduleId",
                     case when ${OWN_END} then t.result end as result, case when ${OWN_END} then t.outputs end as outputs,
                     case when e.status = 'queued' then (select p.status from task_events p where p.task_id = e.task_id and p.id < e.id order by p.id desc limit 1) end as before
              from task_events e join tasks t on t.id = e.task_id`
        : sql`select e.id, e.xid, e.at, e.status, null as reason, w.tenant, w.id as subject, w.name, null as "workflowId",
                     null as "workflowKey", null as "exitCode", w.schedule_id as "scheduleId", null as result, null as outputs, null as before
              from workflow_events e join workflows w on w.id = e.workflow_id`;
    const subjectCol = source === 'task_events' ? sql.raw('e.task_id') : sql.raw('e.workflow_id');
    const page = rows<SourceEvent>(await this.db.execute(sql`${q} where (e.xid, e.id) > (${c.xid}, ${c.lastId}) order by e.xid, e.id limit ${limit}`)).map(norm);
    if (page.length < limit || page.length === 0) return { page, extra: [] };
    const last = page[page.length - 1];
    const subjects = [...new Set(page.map((e) => e.subject))];
    const maxId = Math.max(...page.map((e) => e.id));
    const extra = rows<SourceEvent>(
      await this.db.execute(
        sql`${q} where ${subjectCol} = any(${`{${subjects.join(',')}}`}::uuid[]) and (e.xid, e.id) > (${last.xid}, ${last.id}) and e.id < ${maxId} order by e.id`,
      ),
    ).map(norm);
    return { page, extra };
  }

  /** The last event written by a finished transaction (below `horizon`), or null. */
  async lastFinal(source: EventSource, horizon: number): Promise<Cursor | null> {
    const table = sql.raw(source);
    const r = rows<{ xid: string; id: string }>(await this.db.execute(sql`select xid, id from ${table} where xid < ${horizon} order by xid desc, id desc limit 1`));
    return r[0] ? { xid: Number(r[0].xid), lastId: Number(r[0].id) } : null;
  }

  /**
   * Stores deliveries; one already stored for its (webhook, event) is left as it is. All of them
   * in one transaction: the sender sends a line's head (no pending delivery with a lower event
   * position), so a line's later event must not become visible before its earlier one. A page's
   * events and the extra ones it pulls in are not in event order, and 500-row inserts committed
   * one by one let the sender take a later event while an earlier one waited for the next chunk.
   */
  async addDeliveries(list: NewDeliveryRow[]): Promise<number> {
    if (list.length === 0) return 0;
    return this.db.transaction(async (tx) => {
      let added = 0;
      for (let i = 0; i < list.length; i += 500) {
        const r = await tx.insert(webhookDeliveries).values(list.slice(i, i + 500)).onConflictDoNothing().returning({ id: webhookDeliveries.id });
        added += r.length;
      }
      return added;
    });
  }

  /** Deletes delivered and given-up deliveries older than `days` (the log's retention). */
  async prune(days: number): Promise<number> {
    const r = await this.db.execute(sql`delete from webhook_deliveries where status <> 'pending' and created_at < now() - make_interval(days => ${days})`);
    return (r as unknown as { rowCount?: number; affectedRows?: number }).rowCount ?? (r as unknown as { affectedRows?: number }).affectedRows ?? 0;
  }

  // --- the sender

  /** Pending deliveries that are due and first in their line, oldest first, skipping those in flight. */
  async sendable(limit: number, inFlight: string[]): Promise<SendableDelivery[]> {
    const r = await this.db.execute(sql`
      select d.id, d.webhook_id as "webhookId", d.event_id as "eventId", d.event_type as "eventType", d.body, d.attempts,
             w.url, w.sealed_secret as "sealedSecret", w.tenant
      from webhook_deliveries d join webhooks w on w.id = d.webhook_id
      where d.status = 'pending' and d.next_attempt_at <= now()
        and not (d.id = any(${`{${inFlight.join(',')}}`}::uuid[]))
        and not exists (select 1 from webhook_deliveries p
                        where p.webhook_id = d.webhook_id and p.line = d.line and p.status = 'pending' and p.event_seq < d.event_seq)
      order by d.next_attempt_at, d.seq
      limit ${limit}`);
    return rows<SendableDelivery>(r);
  }

  /** The end of one attempt: delivered, retried at `retryAt`, or given up (retryAt null). */
  async recordAttempt(id: string, a: { delivered: boolean; status: number | null; error: string | null; retryAt: Date | null }): Promise<void> {
    const now = new Date();
    await this.db
      .update(webhookDeliveries)
      .set({
        attempts: sql`${webhookDeliveries.attempts} + 1`,
        lastAttemptAt: now,
        responseCode: a.status,
        lastError: a.error,
        ...(a.delivered ? { status: 'delivered' as const, deliveredAt: now } : a.retryAt ? { nextAttemptAt: a.retryAt } : { status: 'failed' as const }),
      })
      .where(and(eq(webhookDeliveries.id, id), eq(webhookDeliveries.status, 'pending')));
  }

  /** The earliest time a pending delivery is due (for how long the sender may sleep). */
  async nextDue(): Promise<Date | null> {
    const r = rows<{ at: string | Date | null }>(await this.db.execute(sql`select min(next_attempt_at) as at from webhook_deliveries where status = 'pending'`));
    return r[0]?.at ? new Date(r[0].at) : null;
  }
}

function norm(e: SourceEvent): SourceEvent {
  return { ...e, id: Number(e.id), xid: Number(e.xid), at: new Date(e.at), exitCode: e.exitCode === null ? null : Number(e.exitCode) };
}
