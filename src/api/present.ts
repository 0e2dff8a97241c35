// Turns database rows into the wire shapes of api.md (snake_case, ISO times, null not missing).
import type { NodeRow, TaskRow, WorkflowRow } from '../state/schema.ts';
import type { Node, Task, Workflow } from './schemas.ts';

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function presentTask(t: TaskRow): Task {
  return {
    id: t.id,
    name: t.name,
    image: t.image,
    command: t.command ?? null,
    env: t.env,
    priority: t.priority,
    resources: { cpu: t.cpu, memory_mb: t.memoryMb, gpu: t.gpu },
    timeout_seconds: t.timeoutSeconds,
    max_retries: t.maxRetries,
    retry_backoff_seconds: t.retryBackoffSeconds,
    node_selector: t.nodeSelector,
    labels: t.labels,
    idempotency_key: t.idempotencyKey,
    network: t.network,
    tenant: t.tenant,
    status: t.status as Task['status'],
    node_id: t.nodeId,
    attempts: t.attempts,
    exit_code: t.exitCode,
    error: t.error,
    status_reason: t.statusReason,
    workflow_id: t.workflowId,
    workflow_key: t.workflowKey,
    depends_on: t.dependsOn,
    schedule_id: t.scheduleId,
    declared_outputs: t.outputSpec,
    outputs: t.outputs,
    result: t.result,
    when: t.whenCondition,
    created_at: t.createdAt.toISOString(),
    scheduled_at: iso(t.scheduledAt),
    started_at: iso(t.startedAt),
    finished_at: iso(t.finishedAt),
  };
}

export function presentNode(n: NodeRow): Node {
  return {
    id: n.id,
    name: n.name,
    hostname: n.hostname,
    status: n.status,
    labels: n.labels,
    capacity: { cpu: n.cpu, memory_mb: n.memoryMb, gpu: n.gpu, max_tasks: n.maxTasks },
    allocated: { cpu: n.allocatedCpu, memory_mb: n.allocatedMemoryMb, gpu: n.allocatedGpu, tasks: n.allocatedTasks },
    cpu_percent: n.cpuPercent,
    memory_used_mb: n.memoryUsedMb,
    running_tasks: n.runningTaskIds,
    last_heartbeat_at: iso(n.lastHeartbeatAt),
    registered_at: n.registeredAt.toISOString(),
  };
}

export function presentWorkflow(w: WorkflowRow, tasks: TaskRow[]): Workflow {
  return {
    id: w.id,
    name: w.name,
    status: w.status,
    on_failure: w.onFailure,
    max_parallel: w.maxParallel,
    tenant: w.tenant,
    schedule_id: w.scheduleId,
    tasks: tasks.map(presentTask),
    created_at: w.createdAt.toISOString(),
    finished_at: iso(w.finishedAt),
  };
}
