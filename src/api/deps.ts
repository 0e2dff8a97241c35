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
  /** Extra routes mounted by the composer (the queue board). */
  queues: Queue[];
}
