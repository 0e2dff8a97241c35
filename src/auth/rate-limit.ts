// Per-key rate limits: a token bucket in Redis, shared by every control plane. One atomic Lua
// call reads the bucket, refills it for the time passed (Redis's own clock, so control planes
// with skewed clocks agree), and takes tokens if there are some. A bucket holds one second's
// worth of tokens (burst = rate). To keep Redis off the path of most requests, a control plane
// takes up to 1/20 of a second's worth at once and spends them locally (so at most 5 % of a
// key's rate sits unused in one process, and only for a second), and once a bucket is empty it
// refuses that key locally until a token is due, so a flood of refused requests costs no Redis
// call. No npm library offers a Redis token bucket (rate-limiter-flexible counts fixed windows,
// which let a client send two windows' worth across a boundary); the script is 20 lines.
import type { Redis } from 'ioredis';

const SCRIPT = `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local want = tonumber(ARGV[3])
local tokens = tonumber(b[1])
local at = tonumber(b[2])
if tokens == nil then tokens = burst; at = now end
tokens = math.min(burst, tokens + (now - at) * rate / 1000)
local allowed = math.min(want, math.floor(tokens))
tokens = tokens - allowed
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.min(math.ceil(burst / rate * 1000) + 1000, 86400000))
local wait = 0
if allowed == 0 then wait = math.ceil((1 - tokens) * 1000 / rate) end
return {allowed, math.floor(tokens), wait}
`;

export interface RateDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** When refused: milliseconds until a token is back. */
  retryAfterMs: number;
}

type WithBucket = Redis & { jarvisTokenBucket(key: string, rate: number, burst: number, want: number): Promise<[number, number, number]> };

/** Tokens a control plane holds for a key, and until when the key is refused without asking. */
interface Local {
  tokens: number;
  leasedAt: number;
  refusedUntil: number;
  remaining: number;
}

const LEASE_TTL_MS = 1_000;

export class RateLimiter {
  private readonly redis: WithBucket;
  private readonly local = new Map<string, Local>();

  constructor(
    redis: Redis,
    private readonly prefix: string,
  ) {
    if (!('jarvisTokenBucket' in redis)) redis.defineCommand('jarvisTokenBucket', { numberOfKeys: 1, lua: SCRIPT });
    this.redis = redis as WithBucket;
  }

  /** One token of `bucket`, refilled at `perSecond` and holding `burstOf` (default: one second's worth). */
  async take(bucket: string, perSecond: number, burstOf?: number): Promise<RateDecision> {
    const burst = Math.max(1, burstOf ?? perSecond);
    const limit = Math.floor(burst);
    const now = Date.now();
    let l = this.local.get(bucket);
    if (l && l.refusedUntil > now) return { allowed: false, limit, remaining: 0, retryAfterMs: l.refusedUntil - now };
    if (l && l.tokens >= 1 && now - l.leasedAt < LEASE_TTL_MS) {
      l.tokens--;
      return { allowed: true, limit, remaining: l.remaining + Math.floor(l.tokens), retryAfterMs: 0 };
    }
    const want = Math.max(1, Math.min(50, Math.floor(burst / 20)));
    const [granted, remaining, wait] = await this.redis.jarvisTokenBucket(`${this.prefix}:ratelimit:${bucket}`, perSecond, burst, want);
    if (this.local.size > 10_000) this.local.clear();
    l = { tokens: Math.max(0, granted - 1), leasedAt: now, refusedUntil: granted > 0 ? 0 : now + wait, remaining };
    this.local.set(bucket, l);
    return granted > 0 ? { allowed: true, limit, remaining: remaining + l.tokens, retryAfterMs: 0 } : { allowed: false, limit, remaining: 0, retryAfterMs: wait };
  }
}

/** Whole seconds a client waits for `ms` (a Retry-After value): at least 1. */
export function retryAfterSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

/** IETF RateLimit / RateLimit-Policy header values (draft-ietf-httpapi-ratelimit-headers-09). */
export function rateLimitHeaders(d: RateDecision): Record<string, string> {
  const reset = d.allowed ? 1 : retryAfterSeconds(d.retryAfterMs);
  return {
    'RateLimit-Policy': `"per-key";q=${d.limit};w=1`,
    RateLimit: `"per-key";r=${d.remaining};t=${reset}`,
  };
}
