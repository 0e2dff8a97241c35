// The rows a submission becomes: a task spec's defaults applied once (priority, resources,
// retries, network), and a workflow's graph as one workflow row and its task rows.
import type { Config } from '../config/index.ts';
import { waitingOn } from '../dag/admission.ts';
import { normaliseResources } from '../domain/resources.ts';
import { hasTemplate } from '../workflow/template.ts';
import { DEFAULT_PRIORITY, type TaskSpec, type WorkflowSpec } from '../domain/task.ts';
import type { NewTaskRow } from '../state/schema.ts';
import { newId } from '../domain/ids.ts';

/** The fields every new task row gets from a task spec (POST /tasks and workflows). */
export function taskRowFrom(
  spec: TaskSpec,
  config: Config,
  extra: Pick<NewTaskRow, 'status' | 'statusReason'> & Partial<NewTaskRow>,
): NewTaskRow {
  const resources = normaliseResources(spec.resources);
  return {
    id: newId(),
    name: spec.name ?? null,
    image: spec.image,
    command: spec.command ?? null,
    env: spec.env ?? {},
    priority: spec.priority ?? DEFAULT_PRIORITY,
    cpu: resources.cpu,
    memoryMb: resources.memory_mb,
    gpu: resources.gpu,
    timeoutSeconds: spec.timeout_seconds ?? null,
    maxRetries: spec.max_retries ?? 0,
    retryBackoffSeconds: spec.retry_backoff_seconds ?? 1,
    nodeSelector: spec.node_selector ?? {},
    labels: spec.labels ?? {},
    idempotencyKey: spec.idempotency_key ?? null,
    network: spec.network ?? config.tasks.default_network,
    outputSpec: spec.outputs ?? {},
    createdAt: new Date(),
    ...extra,
  };
}

/** The workflow row and its task rows (all `pending`, roots ready) for a validated spec. */
export function workflowRows(spec: WorkflowSpec, config: Config, tenant = 'default') {
  const id = newId();
  const createdAt = new Date();
  const rows = spec.tasks.map((t) => {
    const parents = t.depends_on ?? [];
    return taskRowFrom(t, config, {
      status: 'pending',
      statusReason: parents.length ? waitingOn(parents.length, parents, parents.length) : 'ready; waiting for a free slot',
      workflowId: id,
      workflowKey: t.key,
      dependsOn: parents,
      dagReady: parents.length === 0,
      createdAt,
      tenant,
      templates: hasTemplates(t) ? { name: t.name ?? null, command: t.command ?? null, env: t.env ?? {} } : null,
      whenCondition: t.when ?? null,
    });
  });
  const wf = {
    id,
    name: spec.name ?? null,
    status: 'running' as const,
    onFailure: spec.on_failure ?? 'skip_downstream',
    maxParallel: spec.max_parallel ?? null,
    tenant,
    createdAt,
  };
  return { id, wf, rows };
}

/** Whether a task's name, command or env holds "{{" (then its submitted form is kept to fill at release). */
function hasTemplates(t: Pick<TaskSpec, 'name' | 'command' | 'env'>): boolean {
  if (t.name && hasTemplate(t.name)) return true;
  if (typeof t.command === 'string' ? hasTemplate(t.command) : t.command?.some(hasTemplate)) return true;
  return Object.values(t.env ?? {}).some((v) => typeof v === 'string' && hasTemplate(v));
}
