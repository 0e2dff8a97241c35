// Collects audit records from requests and writes them in batches (every 200 ms, or at once
// past 500), so auditing every submit costs one INSERT per batch rather than one per request.
// Records still in memory when the process is killed (at most 200 ms' worth) are lost; a clean
// close() writes them. Old records are trimmed once an hour to `retentionDays`.
//
// Refusals (401, 403, 429) are folded: those of one key (or, without a key, one client address)
// for one action and status within a second become one record whose `count` says how many
// requests it stands for. A flood of refused requests — a key far over its rate, or anyone
// without a key — would otherwise write a row per request (9,000 in bench (f)'s 10 s flood), and
// a client without any key could fill the database that way. Folded records are held for up to a
// second before joining a batch; GET /audit and close() release them at once.
import type { Logger } from 'pino';
import type { AuditEntry, AuditStore } from '../state/audit-store.ts';
import { storableText } from '../domain/storable-text.ts';

const FLUSH_MS = 200;
const FLUSH_AT = 500;
const PURGE_EVERY_MS = 3_600_000;
/** Refusals alike within this long are one record. */
export const REFUSAL_WINDOW_MS = 1_000;
/** Distinct refusals held at once; past it they are released early (many client addresses at once). */
const REFUSALS_HELD_AT_MOST = 10_000;
const REFUSED = new Set([401, 403, 429]);

export class AuditTrail {
  private buffer: AuditEntry[] = [];
  private timer: NodeJS.Timeout | null = null;
  /** Refusals being folded, by what makes them alike (see the top). */
  private refusals = new Map<string, AuditEntry & { count: number }>();
  private refusalTimer: NodeJS.Timeout | null = null;
  private purgeTimer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();
  private closed: Promise<void> | null = null;

  constructor(
    private readonly store: AuditStore,
    private readonly logger: Logger,
    private readonly retentionDays: number,
  ) {}

  start(): void {
    const purge = () => {
      const before = new Date(Date.now() - this.retentionDays * 86_400_000);
      this.store.purgeBefore(before).then(
        (n) => n > 0 && this.logger.info({ removed: n, before: before.toISOString() }, 'audit: trimmed old records'),
        (err) => this.logger.warn({ err: { message: (err as Error).message } }, 'audit: could not trim old records; will try again in an hour'),
      );
    };
    purge();
    this.purgeTimer = setInterval(purge, PURGE_EVERY_MS);
    this.purgeTimer.unref();
  }

  record(entry: AuditEntry): void {
    if (this.closed) return;
    // A target taken from a refused request's path may hold what PostgreSQL cannot store (a
    // NUL): one such record failed its whole batch, other requests' records with it.
    if (entry.target !== null && entry.target !== undefined) entry = { ...entry, target: storableText(entry.target) };
    if (REFUSED.has(entry.status)) {
      this.fold(entry);
      return;
    }
    this.add({ ...entry, count: 1 });
  }

  private fold(entry: AuditEntry): void {
    const who = entry.keyId !== null ? `key:${entry.keyId}` : `client:${entry.client ?? ''}`;
    const alike = `${entry.status} ${entry.action} ${who}`;
    const held = this.refusals.get(alike);
    if (held) {
      held.count++;
      return;
    }
    this.refusals.set(alike, { ...entry, count: 1 });
    if (this.refusals.size >= REFUSALS_HELD_AT_MOST) this.releaseRefusals();
    else this.refusalTimer ??= setTimeout(() => this.releaseRefusals(), REFUSAL_WINDOW_MS);
  }

  /** The folded refusals join the next batch; refusals after this start new records. */
  private releaseRefusals(): void {
    if (this.refusalTimer) clearTimeout(this.refusalTimer);
    this.refusalTimer = null;
    const held = [...this.refusals.values()];
    this.refusals = new Map();
    for (const r of held) this.add(r);
  }

  private add(entry: AuditEntry & { count: number }): void {
    this.buffer.push(entry);
    if (this.buffer.length >= FLUSH_AT) void this.write();
    else if (!this.timer) this.timer = setTimeout(() => void this.write(), FLUSH_MS);
  }

  /** Writes what is buffered, folded refusals included; resolves once it is stored (or its failure logged). */
  flush(): Promise<void> {
    if (this.refusals.size > 0) this.releaseRefusals();
    return this.write();
  }

  /** Writes the batch (refusals still being folded stay held). */
  private write(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.buffer;
    this.buffer = [];
    if (batch.length === 0) return this.flushing;
    this.flushing = this.flushing.then(() =>
      this.store.insertMany(batch).catch((err) => {
        // The query's text and parameters stay out of the log (they hold the records); the
        // database's own reason, drizzle's cause, goes in.
        const cause = (err as { cause?: { message?: string } }).cause?.message;
        this.logger.error({ err: { message: (err as Error).message.split('\n')[0].slice(0, 120), cause }, records: batch.length }, 'audit: could not store records');
      }),
    );
    return this.flushing;
  }

  close(): Promise<void> {
    if (!this.closed) {
      if (this.purgeTimer) clearInterval(this.purgeTimer);
      this.closed = this.flush();
    }
    return this.closed;
  }
}
