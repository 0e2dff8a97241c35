// The API's JSON shapes as the dashboard reads them (docs in /work/shared/design/api.md). Kept
// here, not imported from src/api, so a refactor of the API's internals does not reach the UI.
export const TASK_STATUSES = ['pending', 'queued', 'scheduled', 'running', 'succeeded', 'failed', 'timed_out', 'cancelled', 'skipped'] as const;
export const ENDED = ['succeeded', 'failed', 'timed_out', 'cancelled', 'skipped'];
export const RETRYABLE = ['failed', 'timed_out', 'cancelled'];
export const PRIORITIES = ['critical', 'high', 'normal', 'low'] as const;

export interface Task {
  id: string;
  name: string | null;
  image: string;
  command: string[] | string | null;
  env: Record<string, unknown>;
  priority: string;
  resources: { cpu: number; memory_mb: number; gpu: number };
  timeout_seconds: number | null;
  max_retries: number;
  node_selector: Record<string, string>;
  labels: Record<string, string>;
  status: string;
  node_id: string | null;
  attempts: number;
  exit_code: number | null;
  error: string | null;
  status_reason: string | null;
  workflow_id: string | null;
  workflow_key: string | null;
  depends_on: string[];
  created_at: string;
  scheduled_at: string | null;
  started_at: string | null;
  finished_at: string | null;
  /** Present once the API carries it (security issue). */
  tenant?: string;
  [field: string]: unknown;
}

export interface Page<T> {
  items: T[];
  total: number;
  limit: number;
  offset: number;
}

export interface TaskEvent {
  at: string;
  status: string;
  node_id: string | null;
  attempt: number;
  reason: string | null;
}

export interface Node {
  id: string;
  name: string;
  hostname: string;
  status: string;
  labels: Record<string, string>;
  capacity: { cpu: number; memory_mb: number; gpu: number; max_tasks: number };
  allocated: { cpu: number; memory_mb: number; gpu: number; tasks: number };
  running_tasks: string[];
  last_heartbeat_at: string | null;
  registered_at: string;
}

export interface Workflow {
  id: string;
  name: string;
  status: string;
  on_failure: string;
  tasks: Task[];
  created_at: string;
  finished_at: string | null;
  tenant?: string;
}

export interface WorkflowSummary extends Omit<Workflow, 'tasks'> {
  task_counts: Record<string, number>;
}
