// Use cases for API keys: create (the key is returned this once; only its hash is stored),
// list, revoke. Used by POST/GET/DELETE /auth/keys and by `jarvis keys`, which works on the
// database directly so the first key can be made before any key exists.
import { generateKey, hashKey, type Role } from '../auth/keys.ts';
import type { KeyStore } from '../state/key-store.ts';
import type { ApiKeyRow } from '../state/schema.ts';

export interface CreateKeyInput {
  name: string;
  role: Role;
  tenant: string;
  rateLimitPerS: number | null;
}

export async function createApiKey(store: KeyStore, input: CreateKeyInput): Promise<{ row: ApiKeyRow; key: string }> {
  const key = generateKey();
  const row = await store.create({ ...input, hash: hashKey(key) });
  return { row, key };
}

/** The key as lists show it: never the key, never its hash. */
export function describeKey(row: ApiKeyRow) {
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    tenant: row.tenant,
    rate_limit_per_s: row.rateLimitPerS,
    created_at: row.createdAt.toISOString(),
  };
}
