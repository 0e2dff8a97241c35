// Turns the key a request presents into a Principal. Looks are cached for at most `cacheMs`
// (500 ms), so a revoked key is refused on every control plane within a second while a busy
// key costs one database read per half second, not one per request. Keys that miss the cache
// are read together, one statement at a time, so many keys cost few statements too (the open
// log streams of a process ask about their keys together each second, log-follows.ts).
import { Batcher } from '../scheduler/batcher.ts';
import type { KeyStore } from '../state/key-store.ts';
import type { ApiKeyRow } from '../state/schema.ts';
import { GENERATED_KEY, hashKey, type Role } from './keys.ts';
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
/** Keys from held-off addresses read together at most, in one statement. */
const HELD_OFF_BATCH = 500;
/** Keys from held-off addresses waiting at most for that read; beyond, one is refused unread. */
const HELD_OFF_WAITING = 5_000;

type Waiter = { resolve: (p: Principal | null) => void; reject: (err: unknown) => void };
/** A key that missed the cache, waiting for the next read: its hash, and its row once read. */
type KeyAsk = { hash: string; row: ApiKeyRow | null };
/** Keys read together at most, in one statement. */
const KEY_BATCH = 500;

export class Authenticator {
  private readonly cache = new Map<string, { principal: Principal | null; at: number }>();
  private openCheck: { open: boolean; at: number } | null = null;
  private readonly adminHash: string | null;
  private readonly cacheMs: number;
  /** Keys shown from held-off addresses that missed the cache, by hash, until the next read. */
  private readonly heldOffWaiting = new Map<string, Waiter[]>();
  private heldOffReading = false;
  /** Reads of keys under way, by hash: callers that miss the cache meanwhile wait for the same read. */
  private readonly reading = new Map<string, Promise<Principal | null>>();
  /** Bumped when keys change here: a read begun before is not cached nor shared after. */
  private generation = 0;
  /** The keys that missed the cache: those asked while a read is under way go in the next one. */
  private readonly keyReads: Batcher<KeyAsk>;

  constructor(
    private readonly keys: KeyStore,
    private readonly opts: AuthenticatorOptions,
  ) {
    this.adminHash = opts.adminKey ? hashKey(opts.adminKey) : null;
    this.cacheMs = opts.cacheMs ?? 500;
    this.keyReads = new Batcher<KeyAsk>(KEY_BATCH, async (batch) => {
      const rows = await this.keys.findActiveByHashes([...new Set(batch.map((e) => e.value.hash))]);
      const found = new Map(rows.map((r) => [r.hash, r]));
      for (const e of batch) {
        e.value.row = found.get(e.value.hash) ?? null;
        e.settle();
      }
    });
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
    this.reading.clear();
    this.generation++;
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

  /**
   * The principal for a request carrying `key` from an address held off for its refused
   * credentials (refusal-guard.ts): only a generated key (`jvk_` and 43 characters, 256 random
   * bits by construction, so no guess finds one) is looked at. JARVIS_ADMIN_KEY, however long,
   * is refused unread with its address's guessers: its length says nothing of how it was made,
   * and letting the right one through would tell a guesser at network speed which guess was
   * right. A key that misses the cache is read together with the others waiting, one statement
   * at a time, so a flood of guesses costs the database one read at a time whatever its pace,
   * and what such a read does not find is not cached (a flood of guesses would evict real keys).
   */
  async authenticateHeldOff(key: string | null): Promise<AuthOutcome> {
    if (await this.isOpen()) return this.authenticate(key);
    if (!key || !GENERATED_KEY.test(key)) return { ok: false };
    const hash = hashKey(key);
    // A JARVIS_ADMIN_KEY shaped as a generated key is still the environment's, not a generated one.
    if (this.adminHash && hash === this.adminHash) return { ok: false };
    const hit = this.cache.get(hash);
    const principal = hit && Date.now() - hit.at < this.cacheMs ? hit.principal : await this.readHeldOff(hash);
    return principal ? { ok: true, principal } : { ok: false };
  }

  /**
   * The principal of a key, or null for an unknown or revoked one (cached for cacheMs). Lookups of
   * a key that miss the cache while its read is under way wait for that read: the open log
   * streams of one key ask together (log-follows.ts), and so do a key's concurrent requests. The
   * other keys that miss meanwhile are read together by the next statement (keyReads).
   */
  private lookUp(key: string): Promise<Principal | null> {
    const hash = hashKey(key);
    if (this.adminHash && hash === this.adminHash) return Promise.resolve(ENV_ADMIN);
    const now = Date.now();
    const hit = this.cache.get(hash);
    if (hit && now - hit.at < this.cacheMs) return Promise.resolve(hit.principal);
    const under = this.reading.get(hash);
    if (under) return under;
    const generation = this.generation;
    const ask: KeyAsk = { hash, row: null };
    const read = this.keyReads
      .add(ask)
      .then(() => {
        const principal = ask.row ? principalOf(ask.row) : null;
        // A key revoked here while it was read: the answer may be from before; not kept.
        if (generation === this.generation) this.remember(hash, principal, now);
        return principal;
      })
      .finally(() => {
        if (this.reading.get(hash) === read) this.reading.delete(hash);
      });
    this.reading.set(hash, read);
    return read;
  }

  private remember(hash: string, principal: Principal | null, at: number): void {
    if (this.cache.size >= MAX_CACHED) this.cache.clear();
    this.cache.set(hash, { principal, at });
  }

  /** Waits for the next batched read of held-off addresses' keys (null: refused unread, too many wait). */
  private readHeldOff(hash: string): Promise<Principal | null> {
    const waiting = this.heldOffWaiting.get(hash);
    if (!waiting && this.heldOffWaiting.size >= HELD_OFF_WAITING) return Promise.resolve(null);
    return new Promise<Principal | null>((resolve, reject) => {
      if (waiting) waiting.push({ resolve, reject });
      else this.heldOffWaiting.set(hash, [{ resolve, reject }]);
      if (!this.heldOffReading) void this.readHeldOffBatches();
    });
  }

  private async readHeldOffBatches(): Promise<void> {
    this.heldOffReading = true;
    try {
      while (this.heldOffWaiting.size > 0) {
        const batch: Array<[string, Waiter[]]> = [];
        for (const entry of this.heldOffWaiting) {
          batch.push(entry);
          this.heldOffWaiting.delete(entry[0]);
          if (batch.length >= HELD_OFF_BATCH) break;
        }
        const generation = this.generation;
        let rows: ApiKeyRow[];
        try {
          rows = await this.keys.findActiveByHashes(batch.map(([hash]) => hash));
        } catch (err) {
          for (const [, waiters] of batch) for (const w of waiters) w.reject(err);
          continue;
        }
        const now = Date.now();
        const found = new Map(rows.map((r) => [r.hash, principalOf(r)]));
        for (const [hash, waiters] of batch) {
          const principal = found.get(hash) ?? null;
          // Misses are not kept: guesses from held-off addresses, unlimited, would push real keys out.
          if (principal && generation === this.generation) this.remember(hash, principal, now);
          for (const w of waiters) w.resolve(principal);
        }
      }
    } finally {
      this.heldOffReading = false;
    }
  }
}

function principalOf(row: ApiKeyRow): Principal {
  return { keyId: row.id, name: row.name, role: row.role as Role, tenant: row.tenant, rateLimitPerS: row.rateLimitPerS };
}
