// What the HTTP layer needs from the rest of the control plane, passed in by createApp.
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../config/index.ts';
import type { ControlPlaneMetrics } from '../monitor/metrics.ts';
import type { RedisNames } from '../scheduler/queues.ts';
import type { Database } from '../state/db.ts';
import type { NodeStore } from '../state/node-store.ts';
import type { TaskStore } from '../state/task-store.ts';
import type { WorkflowStore } from '../state/workflow-store.ts';
import type { WorkflowReleaser } from '../dag/release.ts';
import type { AuditTrail } from '../auth/audit-trail.ts';
import type { Authenticator } from '../auth/authenticator.ts';
import type { RateLimiter } from '../auth/rate-limit.ts';
import type { SecretBox } from '../auth/secret-box.ts';
import type { AuditStore } from '../state/audit-store.ts';
import type { KeyStore } from '../state/key-store.ts';
import type { SecretStore } from '../state/secret-store.ts';

export interface ApiDeps {
  config: Config;
  logger: Logger;
  database: Database;
  tasks: TaskStore;
  nodes: NodeStore;
  workflows: WorkflowStore;
  releaser: WorkflowReleaser;
  /** Fails fast while Redis is down (no offline queue). */
  redis: Redis;
  names: RedisNames;
  pendingQueue: Queue;
  metrics: ControlPlaneMetrics;
  /** A new connection for one blocking reader (a log follower); the caller quits it. */
  newBlockingConnection(): Redis;
  keys: KeyStore;
  authenticator: Authenticator;
  rateLimiter: RateLimiter;
  audit: AuditTrail;
  auditStore: AuditStore;
  secrets: SecretStore;
  /** null when JARVIS_SECRET_KEY is not set: secrets cannot be stored or used. */
  secretBox: SecretBox | null;
  /** Extra routes mounted by the composer (the queue board). */
  queues: Queue[];
}
