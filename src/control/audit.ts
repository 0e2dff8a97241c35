// The use case of reading the audit log (admin): newest first, filtered and paged. What the
// trail still holds in memory (a batch not yet written, refusals being folded) is written first,
// so an admin sees in the answer what was just done.
import type { AuditFilter } from '../state/audit-store.ts';
import type { AuditRow } from '../state/schema.ts';
import type { ControlDeps } from './deps.ts';

export class AuditLog {
  constructor(private readonly deps: Pick<ControlDeps, 'audit' | 'auditStore'>) {}

  async list(filter: AuditFilter): Promise<{ items: AuditRow[]; total: number }> {
    await this.deps.audit.flush();
    return this.deps.auditStore.list(filter);
  }
}
