// The audit log: written in batches (see auth/audit-trail.ts), read newest first with filters,
// and trimmed to the configured number of days.
import { and, count, desc, eq, gte, lt, type SQL } from 'drizzle-orm';
import type { Db } from './db.ts';
import { insertAsJson } from './json-insert.ts';
import { auditLog, type AuditRow } from './schema.ts';

/** A record as the middleware makes it; `count` is 1 unless the trail folded repeated refusals into it. */
export type AuditEntry = Omit<AuditRow, 'id' | 'count'> & { count?: number };

export interface AuditFilter {
  action?: string;
  keyId?: string;
  tenant?: string;
  since?: Date;
  limit: number;
  offset: number;
}

export class AuditStore {
  constructor(private readonly db: Db) {}

  async insertMany(entries: AuditEntry[]): Promise<void> {
    if (entries.length > 0 && !(await insertAsJson(this.db, auditLog, entries, false))) await this.db.insert(auditLog).values(entries);
  }

  async list(f: AuditFilter): Promise<{ items: AuditRow[]; total: number }> {
    const where: SQL[] = [];
    if (f.action) where.push(eq(auditLog.action, f.action));
    if (f.keyId) where.push(eq(auditLog.keyId, f.keyId));
    if (f.tenant) where.push(eq(auditLog.tenant, f.tenant));
    if (f.since) where.push(gte(auditLog.at, f.since));
    const cond = where.length ? and(...where) : undefined;
    const [items, [{ n }]] = await Promise.all([
      this.db.select().from(auditLog).where(cond).orderBy(desc(auditLog.id)).limit(f.limit).offset(f.offset),
      this.db.select({ n: count() }).from(auditLog).where(cond),
    ]);
    return { items, total: Number(n) };
  }

  /** Deletes records older than `before`; returns how many. */
  async purgeBefore(before: Date): Promise<number> {
    const rows = await this.db.delete(auditLog).where(lt(auditLog.at, before)).returning({ id: auditLog.id });
    return rows.length;
  }
}
