// Who is making a request, as the API layer sees it once the key is checked.
import type { Role } from './keys.ts';
import { reachesEveryTenant } from './policy.ts';

export interface Principal {
  /** null for open mode and for the JARVIS_ADMIN_KEY from the environment. */
  keyId: string | null;
  name: string;
  role: Role;
  tenant: string;
  /** Requests per second this key may make; null = the configured default. */
  rateLimitPerS: number | null;
}

/** Open mode (no key exists, loopback only): everything, as an admin of tenant "default". */
export const OPEN_MODE: Principal = Object.freeze({ keyId: null, name: 'open mode', role: 'admin', tenant: 'default', rateLimitPerS: null });

export const ENV_ADMIN: Principal = Object.freeze({ keyId: null, name: 'JARVIS_ADMIN_KEY', role: 'admin', tenant: 'default', rateLimitPerS: null });

/**
 * The tenant a request's reads and writes are limited to: its own, or — for operators and
 * admins — the one it asks for (`?tenant=`), or null for every tenant.
 */
export function tenantScope(p: Principal, asked?: string | null): string | null {
  if (!reachesEveryTenant(p.role)) return p.tenant;
  return asked ?? null;
}
