// The leader's webhook outbox: reads new events from the history tables (task_events,
// workflow_events) after a cursor stored in the database, and writes one delivery row per
// matching webhook of the event's tenant. Nothing on the scheduling path waits for it: the
// history rows are written anyway, and this part reads them afterwards.
//
// The cursor is (xid, id): events in the order of the transactions that wrote them. An id alone
// would skip events: ids are taken in one order and committed in another. Every event written by
// a transaction older than the oldest one still running (the snapshot's xmin) is final, so the
// stored cursor only moves over those; events past it are fanned out at once too (a unique index
// makes reading them again harmless) and read again once their region is final.
import { PassLoop } from '../lifecycle/pass-loop.ts';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { CloseOptions, Part } from '../lifecycle/part.ts';
import { deliveryLine, type Cursor, type EventSource, type NewDeliveryRow, type SourceEvent, type WebhookStore } from '../state/webhook-store.ts';
import { eventBody, matchesEvent, taskEvent, TASK_EVENTS, workflowEvent, WORKFLOW_EVENTS } from './events.ts';

const PAGE = 2_000;
/** Delivered and given-up deliveries are kept this long in the delivery log. */
export const DELIVERY_LOG_DAYS = 30;
const PRUNE_EVERY_MS = 3_600_000;
const SOURCES: EventSource[] = ['task_events', 'workflow_events'];
/**
 * The wait between passes while no webhook exists: such a pass only moves the cursor over
 * final events, five statements per source, which every 200 ms were most of an idle control
 * plane's work (66 transactions/s and ~10 % of a core for an idle `jarvis server`). A webhook
 * made meanwhile still hears every event after it was made (passOver); its first deliveries
 * are written up to this much later.
 */
const IDLE_MS = 1_000;

export class WebhookOutbox implements Part {
  private readonly loop: PassLoop;
  /** Per source: where the last page ended when it went past the final region (read ahead). */
  private ahead = new Map<EventSource, Cursor>();
  private prunedAt = 0;

  /** Whether the last pass found no webhook at all. */
  private noWebhooks = false;

  constructor(private readonly deps: { webhooks: WebhookStore; logger: Logger; intervalMs?: number; onDeliveries?(n: number): void }) {
    const interval = deps.intervalMs ?? 200;
    const idle = Math.max(interval, IDLE_MS);
    // Events read: read on at once. Caught up: wait an interval, or IDLE_MS while no webhook exists.
    this.loop = new PassLoop(
      async () => ((await this.pass()) > 0 ? 0 : this.noWebhooks ? idle : interval),
      (err) => this.deps.logger.warn({ err }, 'webhooks: outbox pass failed; will try again'),
      interval,
    );
  }

  start(): void {
    if (this.loop.started) return;
    this.ahead.clear();
    this.loop.start();
  }

  stop(force = false): Promise<void> {
    return this.loop.stop(force);
  }

  close(options?: CloseOptions): Promise<void> {
    return this.loop.close(options);
  }

  /** One page per source; returns how many events it read (0: caught up). */
  async pass(): Promise<number> {
    if (Date.now() - this.prunedAt > PRUNE_EVERY_MS) {
      this.prunedAt = Date.now();
      const n = await this.deps.webhooks.prune(DELIVERY_LOG_DAYS);
      if (n > 0) this.deps.logger.info({ deleted: n }, `webhooks: deleted deliveries older than ${DELIVERY_LOG_DAYS} days from the delivery log`);
    }
    let read = 0;
    this.noWebhooks = true;
    for (const source of SOURCES) read += await this.passOver(source);
    return read;
  }

  /**
   * The webhooks are read after the events: a webhook made before an event committed is then
   * always among them, so a webhook hears every event that happened after it was made.
   */
  private async passOver(source: EventSource): Promise<number> {
    const { webhooks } = this.deps;
    const horizon = await webhooks.horizon();
    const stored = await webhooks.cursor(source);
    if ((await webhooks.subscriptions()).length === 0) {
      // No webhook to fan out to: skip over what is final without reading it, unless a webhook
      // appeared meanwhile (then read as usual).
      const last = await webhooks.lastFinal(source, horizon);
      if ((await webhooks.subscriptions()).length === 0) {
        this.ahead.delete(source);
        if (last && (last.xid > stored.xid || (last.xid === stored.xid && last.lastId > stored.lastId))) await webhooks.saveCursor(source, last);
        return 0;
      }
    }
    this.noWebhooks = false;
    let from = this.ahead.get(source);
    // Everything up to the read-ahead point is final now: read it again from the stored cursor
    // (deliveries already made are kept) so the stored cursor can move over it.
    if (from && horizon > from.xid) from = undefined;
    const start = from ?? stored;
    const { page: events, extra } = await webhooks.eventsAfter(source, start, PAGE);
    if (events.length === 0) {
      this.ahead.delete(source);
      return 0;
    }
    const subs = new Subscribers(await webhooks.subscriptions());
    const rows = [...events, ...extra].flatMap((e) => deliveriesFor(source, e, subs));
    if (rows.length > 0) {
      const added = await webhooks.addDeliveries(rows);
      this.deps.onDeliveries?.(added);
    }
    // The page is in (xid, id) order, so its final events are a prefix.
    let safe: SourceEvent | null = null;
    for (const e of events) {
      if (e.xid >= horizon) break;
      safe = e;
    }
    if (!from && safe) await webhooks.saveCursor(source, { xid: safe.xid, lastId: safe.id });
    const last = events[events.length - 1];
    if (last.xid >= horizon || from) this.ahead.set(source, { xid: last.xid, lastId: last.id });
    else this.ahead.delete(source);
    return events.length;
  }
}

type Subscription = { id: string; tenant: string; events: string[]; createdAt: Date };

/**
 * The webhooks of one page, by tenant and then by event type as the page asks: each event is
 * matched against its tenant's webhooks that hear its type, not against every webhook there is
 * (50,000 webhooks of one tenant made each page of 2,000 other tenants' events cost 0.7 s of the
 * leader's event loop, which runs the dispatcher too).
 */
class Subscribers {
  private readonly byTenant = new Map<string, Subscription[]>();
  private readonly byType = new Map<string, Subscription[]>();

  constructor(subs: Subscription[]) {
    for (const s of subs) {
      const of = this.byTenant.get(s.tenant);
      if (of) of.push(s);
      else this.byTenant.set(s.tenant, [s]);
    }
  }

  /** The tenant's webhooks that hear `type`. */
  hearing(tenant: string, type: string): Subscription[] {
    const key = `${type}\n${tenant}`;
    let subs = this.byType.get(key);
    if (!subs) {
      subs = (this.byTenant.get(tenant) ?? []).filter((s) => matchesEvent(s.events, type));
      this.byType.set(key, subs);
    }
    return subs;
  }
}

function deliveriesFor(source: EventSource, e: SourceEvent, subs: Subscribers): NewDeliveryRow[] {
  const type = `${source === 'task_events' ? 'task' : 'workflow'}.${e.status}`;
  const known = source === 'task_events' ? (TASK_EVENTS as readonly string[]) : (WORKFLOW_EVENTS as readonly string[]);
  if (!known.includes(type)) return []; // pending, scheduled: not events a webhook hears
  // The history also records a waiting task's new reason (a quota, no room) as a queued event: a
  // webhook hears changes of state, so a queued task stays one task.queued.
  if (type === 'task.queued' && e.before === 'queued') return [];
  // A webhook hears its tenant's events from the time it was made: an event read late (the
  // outbox waits for older transactions to end) is not sent to a webhook made after it.
  const wanted = subs.hearing(e.tenant, type).filter((s) => e.at.getTime() >= s.createdAt.getTime());
  if (wanted.length === 0) return [];
  const eventId = `${source === 'task_events' ? 'evt_t' : 'evt_w'}${e.id}`;
  const body = eventBody(
    source === 'task_events'
      ? taskEvent(eventId, type as (typeof TASK_EVENTS)[number], e.at, {
          id: e.subject,
          name: e.name,
          status: e.status,
          workflow_id: e.workflowId,
          workflow_key: e.workflowKey,
          exit_code: e.exitCode,
          reason: e.reason,
          result: e.result,
          outputs: e.outputs ?? {},
        })
      : workflowEvent(eventId, type as (typeof WORKFLOW_EVENTS)[number], e.at, { id: e.subject, name: e.name, status: e.status, schedule_id: e.scheduleId }),
  );
  const now = new Date();
  return wanted.map((w) => ({
    id: randomUUID(),
    webhookId: w.id,
    tenant: e.tenant,
    eventId,
    eventType: type,
    line: deliveryLine(source === 'task_events' ? 'task' : 'workflow', e.subject),
    eventSeq: e.id,
    body,
    status: 'pending' as const,
    nextAttemptAt: now,
    createdAt: now,
  }));
}
