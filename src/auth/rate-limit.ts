// Per-key rate limits: a token bucket in Redis, shared by every control plane. One atomic Lua
// call per request reads the bucket, refills it for the time passed (Redis's own clock, so
// control planes with skewed clocks agree), and takes a token if there is one. A bucket holds
// one second's worth of tokens (burst = rate). No npm library offers a Redis token bucket we
// could trust for this (rate-limiter-flexible counts fixed windows); the script is 20 lines.
import type { Redis } from 'ioredis';

const SCRIPT = `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1])
local at = tonumber(b[2])
if tokens == nil then tokens = burst; at = now end
tokens = math.min(burst, tokens + (now - at) * rate / 1000)
local allowed = 0
if tokens >= 1 then tokens = tokens - 1; allowed = 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
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

type WithBucket = Redis & { jarvisTokenBucket(key: string, rate: number, burst: number): Promise<[number, number, number]> };

export class RateLimiter {
  private readonly redis: WithBucket;

  constructor(
    redis: Redis,
    private readonly prefix: string,
  ) {
    if (!('jarvisTokenBucket' in redis)) redis.defineCommand('jarvisTokenBucket', { numberOfKeys: 1, lua: SCRIPT });
    this.redis = redis as WithBucket;
  }

  async take(bucket: string, perSecond: number): Promise<RateDecision> {
    const burst = Math.max(1, perSecond);
    const [allowed, remaining, wait] = await this.redis.jarvisTokenBucket(`${this.prefix}:ratelimit:${bucket}`, perSecond, burst);
    return { allowed: allowed === 1, limit: Math.floor(burst), remaining, retryAfterMs: wait };
  }
}

/** IETF RateLimit / RateLimit-Policy header values (draft-ietf-httpapi-ratelimit-headers-09). */
export function rateLimitHeaders(d: RateDecision): Record<string, string> {
  const reset = d.allowed ? 1 : Math.max(1, Math.ceil(d.retryAfterMs / 1000));
  return {
    'RateLimit-Policy': `"per-key";q=${d.limit};w=1`,
    RateLimit: `"per-key";r=${d.remaining};t=${reset}`,
  };
}
