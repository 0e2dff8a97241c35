// What the use cases need from the rest of the control plane, passed in by the composer.
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../config/index.ts';
import type { WorkflowReleaser } from '../dag/release.ts';
import type { ControlPlaneMetrics } from '../monitor/metrics.ts';
import type { LogStreams } from '../monitor/log-streams.ts';
import type { PendingQueues } from '../scheduler/pending.ts';
import type { TaskRow } from '../state/schema.ts';
import type { RedisNames } from '../scheduler/queues.ts';
import type { NodeStore } from '../state/node-store.ts';
import type { TaskStore } from '../state/task-store.ts';
import type { WorkflowStore } from '../state/workflow-store.ts';
import type { SecretBox } from '../auth/secret-box.ts';
import type { SecretStore } from '../state/secret-store.ts';
import type { ScheduleStore } from '../state/schedule-store.ts';
import type { WebhookStore } from '../state/webhook-store.ts';
import type { TenantStore } from '../state/tenant-store.ts';
import type { KeyStore } from '../state/key-store.ts';
import type { AuditStore } from '../state/audit-store.ts';
import type { Authenticator } from '../auth/authenticator.ts';
import type { AuditTrail } from '../auth/audit-trail.ts';

export interface ControlDeps {
  config: Config;
  /** A registration token made for `jarvis up`'s own worker (accepted beside the configured one). */
  localRegistrationToken?: string | null;
  logger: Logger;
  tasks: TaskStore;
  nodes: NodeStore;
  workflows: WorkflowStore;
  releaser: WorkflowReleaser;
  /** Fails fast while Redis is down (no offline queue). */
  redis: Redis;
  names: RedisNames;
  /** The tenants' pending queues. */
  pending: PendingQueues;
  /**
   * Hands tasks just stored straight to this process's dispatcher instead of their queue; false
   * (queue them) when it does not lead, has jobs from the queues not yet decided, a queue is
   * paused, tasks are held and these are several or no room was left, or Redis is not ready
   * (Dispatcher.offerSubmitted). Absent in a process without a dispatcher.
   */
  offerSubmitted?: (rows: TaskRow[]) => boolean;
  metrics: ControlPlaneMetrics;
  /** The live log streams, read for every follower of this process on one connection. */
  logStreams: LogStreams;
  secrets: SecretStore;
  tenantStore: TenantStore;
  /** null when JARVIS_SECRET_KEY is not set: secrets cannot be stored or used. */
  secretBox: SecretBox | null;
  schedules: ScheduleStore;
  webhooks: WebhookStore;
  keys: KeyStore;
  /** Told when a key is created or revoked here, so this process looks at keys (and open mode) again at once. */
  authenticator: Authenticator;
  /** The trail requests are recorded on; a read of the log first writes what it holds. */
  audit: AuditTrail;
  auditStore: AuditStore;
}
