// API keys: create, list, revoke, and find one by the hash of the key a request presents.
import { randomUUID } from 'node:crypto';
import { and, asc, count, eq, inArray, isNull } from 'drizzle-orm';
import type { Db } from './db.ts';
import { apiKeys, type ApiKeyRow } from './schema.ts';

export interface NewKey {
  name: string;
  role: ApiKeyRow['role'];
  tenant: string;
  hash: string;
  rateLimitPerS: number | null;
}

export class KeyStore {
  constructor(private readonly db: Db) {}

  async create(k: NewKey): Promise<ApiKeyRow> {
    const [row] = await this.db
      .insert(apiKeys)
      .values({ id: randomUUID(), ...k, createdAt: new Date() })
      .returning();
    return row;
  }

  /** Keys that are not revoked, oldest first. */
  list(): Promise<ApiKeyRow[]> {
    return this.db.select().from(apiKeys).where(isNull(apiKeys.revokedAt)).orderBy(asc(apiKeys.createdAt));
  }

  async get(id: string): Promise<ApiKeyRow | null> {
    const [row] = await this.db.select().from(apiKeys).where(eq(apiKeys.id, id));
    return row ?? null;
  }

  /** The live keys among these hashes, in one statement (those not found are unknown or revoked). */
  findActiveByHashes(hashes: string[]): Promise<ApiKeyRow[]> {
    if (hashes.length === 0) return Promise.resolve([]);
    return this.db
      .select()
      .from(apiKeys)
      .where(and(inArray(apiKeys.hash, hashes), isNull(apiKeys.revokedAt)));
  }

  /** Marks it revoked; false when there was no live key with this id. */
  async revoke(id: string): Promise<boolean> {
    const rows = await this.db
      .update(apiKeys)
      .set({ revokedAt: new Date() })
      .where(and(eq(apiKeys.id, id), isNull(apiKeys.revokedAt)))
      .returning({ id: apiKeys.id });
    return rows.length > 0;
  }

  async countActive(): Promise<number> {
    const [r] = await this.db.select({ n: count() }).from(apiKeys).where(isNull(apiKeys.revokedAt));
    return Number(r.n);
  }
}
