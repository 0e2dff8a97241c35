// Turns the key a request presents into a Principal. Looks are cached for at most `cacheMs`
// (500 ms), so a revoked key is refused on every control plane within a second while a busy
// key costs one database read per half second, not one per request.
import type { KeyStore } from '../state/key-store.ts';
import { hashKey, type Role } from './keys.ts';
import { ENV_ADMIN, OPEN_MODE, type Principal } from './principal.ts';

export interface AuthenticatorOptions {
  /** JARVIS_ADMIN_KEY: accepted as an admin of tenant "default". */
  adminKey: string | null;
  /** True when the server listens on loopback only, or --insecure was given. */
  openModeAllowed: boolean;
  cacheMs?: number;
}

export type AuthOutcome = { ok: true; principal: Principal } | { ok: false };

const MAX_CACHED = 10_000;

export class Authenticator {
  private readonly cache = new Map<string, { principal: Principal | null; at: number }>();
  private openCheck: { open: boolean; at: number } | null = null;
  private readonly adminHash: string | null;
  private readonly cacheMs: number;

  constructor(
    private readonly keys: KeyStore,
    private readonly opts: AuthenticatorOptions,
  ) {
    this.adminHash = opts.adminKey ? hashKey(opts.adminKey) : null;
    this.cacheMs = opts.cacheMs ?? 500;
  }

  /** Open mode: no key exists, none was given in the environment, and the bind allows it. */
  async isOpen(): Promise<boolean> {
    if (this.adminHash || !this.opts.openModeAllowed) return false;
    const now = Date.now();
    if (this.openCheck && now - this.openCheck.at < this.cacheMs) return this.openCheck.open;
    const open = (await this.keys.countActive()) === 0;
    this.openCheck = { open, at: now };
    return open;
  }

  /** Keys were created or revoked here: open mode and keys are looked at again on the next request. */
  keysChanged(): void {
    this.openCheck = null;
    this.cache.clear();
  }

  /** The principal for a request carrying `key` (null: no Authorization header). */
  async authenticate(key: string | null): Promise<AuthOutcome> {
    if (await this.isOpen()) {
      // Open mode as last seen (up to cacheMs ago). A key that exists shows it is over (the
      // first key was just made, by `jarvis keys create` or another process): the request is
      // that key's, not an anonymous admin's, and open mode is looked at again.
      const known = key ? await this.lookUp(key) : null;
      if (!known) return { ok: true, principal: OPEN_MODE };
      this.openCheck = null;
      return { ok: true, principal: known };
    }
    if (!key) return { ok: false };
    const principal = await this.lookUp(key);
    return principal ? { ok: true, principal } : { ok: false };
  }

  /** The principal of a key, or null for an unknown or revoked one (cached for cacheMs). */
  private async lookUp(key: string): Promise<Principal | null> {
    const hash = hashKey(key);
    if (this.adminHash && hash === this.adminHash) return ENV_ADMIN;
    const now = Date.now();
    const hit = this.cache.get(hash);
    if (hit && now - hit.at < this.cacheMs) return hit.principal;
    const row = await this.keys.findActiveByHash(hash);
    const principal: Principal | null = row
      ? { keyId: row.id, name: row.name, role: row.role as Role, tenant: row.tenant, rateLimitPerS: row.rateLimitPerS }
      : null;
    if (this.cache.size >= MAX_CACHED) this.cache.clear();
    this.cache.set(hash, { principal, at: now });
    return principal;
  }
}
