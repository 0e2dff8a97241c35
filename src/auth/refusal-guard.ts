// Refused credentials per client address: a token bucket in Redis (rate-limit.ts) takes one token
// per refusal (an unknown key, a wrong registration token, a key refused at the dashboard); once
// the address's bucket is empty, a credential it shows is answered 429 without being checked,
// right or wrong, until a token is due, so a short token or key cannot be guessed at network
// speed — unless it is a generated key (random by construction, so no guess finds one:
// Authenticator.authenticateHeldOff), which is checked and served if right, so others' guesses
// from a shared address (a NAT, a proxy) lock no generated key out. JARVIS_ADMIN_KEY and the
// registration token are held off with the address, however long. What an address is held off for is known locally (no Redis call on the way in); each API
// process learns it from its own refusals, the bucket being shared. Redis down: no limit (as for
// keys' rates).
import { retryAfterSeconds, type RateLimiter } from './rate-limit.ts';

export interface RefusalLimits {
  /** Refusals per second an address may go on making once its burst is spent (0: no limit). */
  perSecond: number;
  burst: number;
}

/** How many addresses' hold-offs are remembered at most (a flood of addresses cannot grow it without bound). */
const MAX_HELD = 10_000;

export class RefusalGuard {
  private readonly heldUntil = new Map<string, number>();

  constructor(
    private readonly limiter: RateLimiter,
    private readonly limits: RefusalLimits,
  ) {}

  /** True when some address is held off (else heldOff is 0 for all, and no address need be read). */
  get anyHeld(): boolean {
    return this.heldUntil.size > 0;
  }

  /** Milliseconds this address must wait before it may show a credential again; 0 when it may. */
  heldOff(client: string | null): number {
    if (client === null || this.limits.perSecond <= 0) return 0;
    const until = this.heldUntil.get(client);
    if (until === undefined) return 0;
    const left = until - Date.now();
    if (left > 0) return left;
    this.heldUntil.delete(client);
    return 0;
  }

  /** Counts a refused credential from this address; it may hold the address off from now. */
  async refused(client: string | null): Promise<void> {
    if (client === null || this.limits.perSecond <= 0) return;
    const d = await this.limiter.take(`refused:${client}`, this.limits.perSecond, this.limits.burst).catch(() => null);
    if (!d || d.allowed) return;
    if (this.heldUntil.size >= MAX_HELD) this.heldUntil.clear();
    this.heldUntil.set(client, Date.now() + d.retryAfterMs);
  }
}

/** The 429's words: what happened and when to try again. */
export function heldOffDetail(ms: number): string {
  return `Too many refused credentials from your address; retry in ${retryAfterSeconds(ms)} s`;
}
