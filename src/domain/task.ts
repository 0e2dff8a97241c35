// Jarvis's vocabulary for tasks, in one place: the statuses and their sets, priorities, networks,
// the resources a task asks for and the task spec a client submits. Everything else (the HTTP
// schemas, the database schema, metrics, the CLI, the bench) imports these lists; none repeats them.
import type { ResourceRequest, Resources } from './resources.ts';

export const PRIORITIES = ['critical', 'high', 'normal', 'low'] as const;
export type Priority = (typeof PRIORITIES)[number];
/** The priority of a task submitted without one. Applied once, where the task row is built. */
export const DEFAULT_PRIORITY: Priority = 'normal';
/** BullMQ priorities: a lower number is served first. */
export const PRIORITY_RANK = { critical: 1, high: 2, normal: 3, low: 4 } as const satisfies Record<Priority, number>;

export const TASK_STATUSES = ['pending', 'queued', 'scheduled', 'running', 'succeeded', 'failed', 'timed_out', 'cancelled', 'skipped'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];
/** Statuses a task never leaves (except by an explicit retry). */
export const FINAL_STATUSES = ['succeeded', 'failed', 'timed_out', 'cancelled', 'skipped'] as const;
export type FinalStatus = (typeof FINAL_STATUSES)[number];
/** Statuses of a task that holds a reservation on a node. */
export const ON_NODE_STATUSES = ['scheduled', 'running'] as const;
/** Statuses of a task released to the scheduler and not ended: queued, placed or running. */
export const ACTIVE_STATUSES = ['queued', 'scheduled', 'running'] as const;
/** Statuses of a task not ended yet, including a workflow task waiting for its parents. */
export const UNFINISHED_STATUSES = ['pending', ...ACTIVE_STATUSES] as const;
/** Statuses from which POST /tasks/{id}/retry starts a new attempt. */
export const RETRYABLE_STATUSES = ['failed', 'timed_out', 'cancelled'] as const;
/** How an attempt can end, as a worker reports it. */
export type FinishStatus = 'succeeded' | 'failed' | 'timed_out' | 'cancelled';

export function isFinal(status: string): boolean {
  return (FINAL_STATUSES as readonly string[]).includes(status);
}

export function isOnNode(status: string): boolean {
  return (ON_NODE_STATUSES as readonly string[]).includes(status);
}

export function isRetryable(status: string): boolean {
  return (RETRYABLE_STATUSES as readonly string[]).includes(status);
}

export const NETWORKS = ['none', 'bridge', 'host'] as const;
export type Network = (typeof NETWORKS)[number];

export type { Resources };

/** A task as a client describes it (POST /tasks, a workflow's task): what is left out takes its default where the row is built. */
export interface TaskSpec {
  image: string;
  command?: string[] | string | null;
  name?: string | null;
  env?: TaskEnv;
  priority?: Priority;
  resources?: ResourceRequest;
  timeout_seconds?: number | null;
  max_retries?: number;
  retry_backoff_seconds?: number;
  node_selector?: Record<string, string>;
  labels?: Record<string, string>;
  idempotency_key?: string | null;
  network?: Network;
  /** Files read from the container after it exits, by output name (docs/workflows.md). */
  outputs?: Record<string, { path: string }>;
}

/** A workflow task's fields as submitted when one of them holds a template, filled at release. */
export interface TaskTemplates {
  name: string | null;
  command: string[] | string | null;
  env: TaskEnv;
}

/** A workflow as a client describes it: named tasks with their dependencies. */
export interface WorkflowSpec {
  name?: string | null;
  tasks: Array<Omit<TaskSpec, 'idempotency_key'> & { key: string; depends_on?: string[]; when?: string | null }>;
  on_failure?: (typeof ON_FAILURE)[number];
  max_parallel?: number | null;
}

export const WORKFLOW_STATUSES = ['running', 'succeeded', 'failed', 'cancelled'] as const;
export type WorkflowStatus = (typeof WORKFLOW_STATUSES)[number];
export const ON_FAILURE = ['skip_downstream', 'continue'] as const;

export const NODE_STATUSES = ['available', 'draining', 'unhealthy', 'offline'] as const;
export type NodeStatus = (typeof NODE_STATUSES)[number];

/** A value taken from one of the tenant's secrets (POST /secrets) when the task runs. */
export interface SecretRef {
  secret: string;
}
export type EnvValue = string | SecretRef;
export type TaskEnv = Record<string, EnvValue>;

export const isSecretRef = (v: EnvValue): v is SecretRef => typeof v === 'object' && v !== null;

