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

/**
 * Whether a request's Host header names this machine's loopback (127.0.0.0/8, ::1, localhost or a
 * name under .localhost), or is absent (the dashboard's in-process calls). Open mode answers only
 * such requests: a web page whose name an attacker re-points at 127.0.0.1 (DNS rebinding) sends
 * its own name, and would otherwise drive an open-mode Jarvis as an admin from the browser.
 */
export function isLoopbackHost(host: string | undefined): boolean {
  if (host === undefined || host === '') return true;
  const name = (host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d+$/, '')).toLowerCase();
  return name === 'localhost' || name.endsWith('.localhost') || name === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

/** The 403's words when open mode refuses a request addressed to another name. */
export const OPEN_MODE_HOST_REFUSED =
  'Open mode (no API key exists) answers only requests addressed to a loopback name (127.0.0.1 or localhost), so a web page cannot drive it through DNS rebinding. ' +
  'Use http://127.0.0.1:PORT, or make an API key (jarvis keys create) to serve other names';
