// Collects audit records from requests and writes them in batches (every 200 ms, or at once
// past 500), so auditing every submit costs one INSERT per batch rather than one per request.
// Records still in memory when the process is killed (at most 200 ms' worth) are lost; a clean
// close() writes them. Old records are trimmed once an hour to `retentionDays`.
import type { Logger } from 'pino';
import type { AuditEntry, AuditStore } from '../state/audit-store.ts';

const FLUSH_MS = 200;
const FLUSH_AT = 500;
const PURGE_EVERY_MS = 3_600_000;

export class AuditTrail {
  private buffer: AuditEntry[] = [];
  private timer: NodeJS.Timeout | null = null;
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
    this.buffer.push(entry);
    if (this.buffer.length >= FLUSH_AT) void this.flush();
    else if (!this.timer) this.timer = setTimeout(() => void this.flush(), FLUSH_MS);
  }

  /** Writes what is buffered; resolves once it is stored (or its failure logged). */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.buffer;
    this.buffer = [];
    if (batch.length === 0) return this.flushing;
    this.flushing = this.flushing.then(() =>
      this.store.insertMany(batch).catch((err) => {
        this.logger.error({ err: { message: (err as Error).message }, records: batch.length }, 'audit: could not store records');
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
