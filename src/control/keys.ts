// Use cases for API keys: create (the key is returned this once; only its hash is stored),
// list, revoke. Used by POST/GET/DELETE /auth/keys (KeyControl, which also has this process look
// at keys again at once) and by `jarvis keys`, which works on the database directly so the first
// key can be made before any key exists.
import { generateKey, hashKey, type Role } from '../auth/keys.ts';
import { NotFound } from '../domain/errors.ts';
import type { KeyStore } from '../state/key-store.ts';
import type { ApiKeyRow } from '../state/schema.ts';
import type { ControlDeps } from './deps.ts';

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

export class KeyControl {
  constructor(private readonly deps: Pick<ControlDeps, 'keys' | 'authenticator'>) {}

  async create(input: CreateKeyInput): Promise<{ row: ApiKeyRow; key: string }> {
    const made = await createApiKey(this.deps.keys, input);
    // The first key ends open mode: not up to the open check's cache time later in this process.
    this.deps.authenticator.keysChanged();
    return made;
  }

  /** The keys that are not revoked, oldest first. */
  list(): Promise<ApiKeyRow[]> {
    return this.deps.keys.list();
  }

  /** Refused at once here, and by every other control plane within a second (its cache time). */
  async revoke(id: string): Promise<void> {
    if (!(await this.deps.keys.revoke(id))) throw new NotFound('Key not found');
    this.deps.authenticator.keysChanged();
  }
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
