// One run of a schedule, made inside the caller's transaction (the ticker's tick claim, or a
// trigger by hand): a task or a workflow of the schedule's tenant, linked by schedule_id. The
// caller enqueues the returned queued tasks after the commit, and counts them as submitted
// (countSubmitted); if Redis refuses, the reconciler enqueues them (they are queued rows in the
// database).
import { tasks as taskTable, type NewTaskRow, type ScheduleRow } from '../state/schema.ts';
import type { ReleasedTask } from '../state/task-store.ts';
import type { Tx } from '../state/tx.ts';
import type { TaskSpec, WorkflowSpec } from '../domain/task.ts';
import { WAITING_FOR_SCHEDULER } from '../domain/status-reasons.ts';
import type { ControlDeps } from './deps.ts';
import { taskRowFrom, workflowRows } from './task-rows.ts';
import { policyFor, policyRefusal } from '../auth/tenant-policy.ts';
import { Forbidden } from '../domain/errors.ts';

export interface ScheduleRun {
  kind: 'task' | 'workflow';
  runId: string;
  /** Tasks to enqueue once the transaction has committed. */
  queued: ReleasedTask[];
  /** The priority of every task the run made (a workflow's pending ones too): counted as submitted once committed. */
  made: Array<Pick<NewTaskRow, 'priority'>>;
}

/** The label a tick's run carries: the tick it was started for (as Kubernetes' cronjob-scheduled-timestamp). */
export const TICK_LABEL = 'jarvis.schedule/tick';

/** The task row a tick of a task schedule inserts. */
export function scheduledTaskRow(deps: Pick<ControlDeps, 'config'>, s: ScheduleRow, tick: Date | null): NewTaskRow {
  const spec = s.task as unknown as TaskSpec;
  const labels = tick ? { ...spec.labels, [TICK_LABEL]: tick.toISOString() } : (spec.labels ?? {});
  return taskRowFrom({ ...spec, labels }, deps.config, { status: 'queued', statusReason: WAITING_FOR_SCHEDULER, tenant: s.tenant, scheduleId: s.id });
}

/**
 * Why the tenant's policy, as configured now, refuses a run's rows (null: it allows them). A
 * schedule was checked when it was made, but an admin may have narrowed the policy since: its
 * runs are held to the policy of the day, as a submit is.
 */
export function runRefusal(deps: Pick<ControlDeps, 'config'>, tenant: string, rows: Array<Pick<NewTaskRow, 'image' | 'network' | 'workflowKey'>>, workflow: boolean): string | null {
  const policy = policyFor(deps.config.tenants.policies, tenant);
  for (const r of rows) {
    const refusal = policyRefusal(r, tenant, policy);
    if (refusal) return workflow ? `task "${r.workflowKey}": ${refusal}` : refusal;
  }
  return null;
}

/**
 * `tick`: the scheduled time it runs for; null for a run started by hand. Forbidden when the
 * tenant's policy refuses it now (nothing is made).
 */
export async function createScheduleRun(deps: Pick<ControlDeps, 'config' | 'workflows' | 'releaser'>, tx: Tx, s: ScheduleRow, tick: Date | null): Promise<ScheduleRun> {
  const tickLabel = (labels: Record<string, string> | undefined) => (tick ? { ...labels, [TICK_LABEL]: tick.toISOString() } : (labels ?? {}));
  if (s.workflow) {
    const { wf, rows } = workflowRows(s.workflow as unknown as WorkflowSpec, deps.config, s.tenant);
    const refusal = runRefusal(deps, s.tenant, rows, true);
    if (refusal) throw new Forbidden(refusal);
    for (const r of rows) {
      r.scheduleId = s.id;
      r.labels = tickLabel(r.labels);
    }
    const { workflow, queued } = await deps.workflows.createIn(tx, { ...wf, scheduleId: s.id }, rows, (t, w) => deps.releaser.start(t, w));
    return { kind: 'workflow', runId: workflow.id, queued, made: rows };
  }
  const row = scheduledTaskRow(deps, s, tick);
  const refusal = runRefusal(deps, s.tenant, [row], false);
  if (refusal) throw new Forbidden(refusal);
  // One statement: the task's first history event comes from the insert trigger.
  const [task] = await tx.insert(taskTable).values(row).returning();
  return { kind: 'task', runId: task.id, queued: [task], made: [task] };
}

/** After the commit: a run's tasks (ScheduleRun.made) are counted in jarvis_tasks_submitted_total, as a submit's are. */
export function countSubmitted(deps: Pick<ControlDeps, 'metrics'>, made: Array<Pick<NewTaskRow, 'priority'>>): void {
  for (const t of made) deps.metrics.submitted.inc({ priority: t.priority ?? 'normal' });
}
