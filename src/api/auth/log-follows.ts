// What a log stream (GET /tasks/{id}/logs?follow=true) holds of its key for as long as it is open:
// a place under the follow limits (auth/follow-limits.ts), refused with 429 when none is left. The
// dashboard's live log calls this route in-process with the signed-in key, so it holds for it too.
import type { Context } from 'hono';
import { FOLLOW_RETRY_AFTER_S, FollowLimits } from '../../auth/follow-limits.ts';
import { OPEN_MODE } from '../../auth/principal.ts';
import type { ControlPlaneMetrics } from '../../monitor/metrics.ts';
import { HttpError } from '../fastapi/index.ts';

export interface LogFollowsOptions {
  /** server.max_log_follows_per_key */
  perKey: number;
  /** server.max_log_follows */
  inAll: number;
  metrics: Pick<ControlPlaneMetrics, 'logFollows' | 'logFollowsRefused'>;
}

/** One open stream's hold: give it back once (close). */
export interface FollowPass {
  close(): void;
}

export class LogFollows {
  private readonly limits: FollowLimits;

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
    return {
      close: () => {
        if (closed) return;
        closed = true;
        taken.release();
        this.opts.metrics.logFollows.dec();
      },
    };
  }
}
