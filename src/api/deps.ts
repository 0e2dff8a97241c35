// What the HTTP layer needs from the rest of the control plane, passed in by createApp: what the
// use cases need (src/control/deps.ts), plus what only the API itself uses.
import type { Queue } from 'bullmq';
import type { ControlDeps } from '../control/deps.ts';
import type { Database } from '../state/db.ts';
import type { RateLimiter } from '../auth/rate-limit.ts';

export interface ApiDeps extends ControlDeps {
  /** For /health. */
  database: Database;
  rateLimiter: RateLimiter;
  /** The queues the board shows (tenants' pending queues come and go). */
  queues(): Promise<Queue[]>;
}
