// Per-tenant secrets, stored sealed (the store never sees a value in clear).
import { and, asc, count, eq, inArray } from 'drizzle-orm';
import type { Db } from './db.ts';
import { secrets } from './schema.ts';

export interface SecretInfo {
  tenant: string;
  name: string;
  createdAt: Date;
}

export class SecretStore {
  constructor(private readonly db: Db) {}

  /** Creates or replaces the secret; returns whether it was new. */
  async put(tenant: string, name: string, sealed: string): Promise<{ info: SecretInfo; created: boolean }> {
    const now = new Date();
    const existed = await this.db.select({ n: count() }).from(secrets).where(and(eq(secrets.tenant, tenant), eq(secrets.name, name)));
    const [row] = await this.db
      .insert(secrets)
      .values({ tenant, name, sealed, createdAt: now })
      .onConflictDoUpdate({ target: [secrets.tenant, secrets.name], set: { sealed, createdAt: now } })
      .returning({ tenant: secrets.tenant, name: secrets.name, createdAt: secrets.createdAt });
    return { info: row, created: Number(existed[0].n) === 0 };
  }

  list(tenant: string): Promise<SecretInfo[]> {
    return this.db
      .select({ tenant: secrets.tenant, name: secrets.name, createdAt: secrets.createdAt })
      .from(secrets)
      .where(eq(secrets.tenant, tenant))
      .orderBy(asc(secrets.name));
  }

  async remove(tenant: string, name: string): Promise<boolean> {
    const rows = await this.db.delete(secrets).where(and(eq(secrets.tenant, tenant), eq(secrets.name, name))).returning({ name: secrets.name });
    return rows.length > 0;
  }

  /** The sealed values of these names in the tenant (names that do not exist are left out). */
  async sealedMany(tenant: string, names: string[]): Promise<Map<string, string>> {
    if (names.length === 0) return new Map();
    const rows = await this.db
      .select({ name: secrets.name, sealed: secrets.sealed })
      .from(secrets)
      .where(and(eq(secrets.tenant, tenant), inArray(secrets.name, names)));
    return new Map(rows.map((r) => [r.name, r.sealed]));
  }

  async count(): Promise<number> {
    const [r] = await this.db.select({ n: count() }).from(secrets);
    return Number(r.n);
  }
}
