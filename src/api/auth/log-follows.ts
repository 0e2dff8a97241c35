// What a log stream (GET /tasks/{id}/logs?follow=true) holds of its key for as long as it is open:
// a place under the follow limits (auth/follow-limits.ts), refused with 429 when none is left, and
// the key itself, looked up again while the stream runs so that a revoked key ends it (api.md: a
// revoked key is "refused everywhere within a second"). The dashboard's live log calls this route
// in-process with the signed-in key, so both hold for it too.
import type { Context } from 'hono';
import type { Logger } from 'pino';
import type { Authenticator } from '../../auth/authenticator.ts';
import { FOLLOW_RETRY_AFTER_S, FollowLimits } from '../../auth/follow-limits.ts';
import { bearerToken } from '../../auth/keys.ts';
import { OPEN_MODE } from '../../auth/principal.ts';
import type { ControlPlaneMetrics } from '../../monitor/metrics.ts';
import { HttpError } from '../fastapi/index.ts';

export interface LogFollowsOptions {
  authenticator: Authenticator;
  /** server.max_log_follows_per_key */
  perKey: number;
  /** server.max_log_follows */
  inAll: number;
  metrics: Pick<ControlPlaneMetrics, 'logFollows' | 'logFollowsRefused'>;
  logger: Pick<Logger, 'warn'>;
}

/** One open stream's hold: give it back once (close), and ask whether its key still holds. */
export interface FollowPass {
  close(): void;
  /** False once the stream's key is refused (revoked); true while the lookup itself fails. */
  allowed(): Promise<boolean>;
}

export class LogFollows {
  private readonly limits: FollowLimits;
  private lastLookupWarning = 0;

  constructor(private readonly opts: LogFollowsOptions) {
    this.limits = new FollowLimits(opts.perKey, opts.inAll);
  }

  /** Streams open now in this process. */
  get count(): number {
    return this.limits.open;
  }

  /** A place for this request's stream, or a 429 (FastAPI's shape, Retry-After) saying which limit. */
  open(c: Context): FollowPass {
    const p = c.get('principal') ?? OPEN_MODE;
    // As the rate limiter counts: the key's id, or the environment's admin key, or open mode.
    const taken = this.limits.take(p.keyId ?? `env:${p.name}`);
    if ('refused' in taken) {
      this.opts.metrics.logFollowsRefused.inc({ limit: taken.refused });
      throw new HttpError(429, this.limits.refusal(taken.refused), { headers: { 'Retry-After': String(FOLLOW_RETRY_AFTER_S) } });
    }
    this.opts.metrics.logFollows.inc();
    let closed = false;
    const key = bearerToken(c.req.header('authorization'));
    return {
      close: () => {
        if (closed) return;
        closed = true;
        taken.release();
        this.opts.metrics.logFollows.dec();
      },
      // The authenticator's lookup is cached (500 ms), and cleared when a key is revoked through
      // this process: asking after every read of the stream costs a map lookup, and a database
      // read per key per half second at most, the keys due at once read in one statement (so
      // the quiet streams of many keys, asking together each second, cost one or two).
      allowed: async () => {
        try {
          const auth = await this.opts.authenticator.authenticate(key);
          return auth.ok && auth.principal.keyId === p.keyId && auth.principal.name === p.name;
        } catch (err) {
          // The database does not answer: the key cannot be looked at; the stream goes on (its
          // task's reads fail too), rather than every stream ending on a hiccup.
          if (Date.now() - this.lastLookupWarning > 60_000) {
            this.lastLookupWarning = Date.now();
            this.opts.logger.warn({ err: { message: (err as Error).message } }, 'log follows: cannot look up the keys of open streams; they go on until it answers');
          }
          return true;
        }
      },
    };
  }
}
