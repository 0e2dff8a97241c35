// Use cases for single tasks: submit (insert + enqueue, undone if the enqueue fails), submit a
// batch, read, cancel and retry. Accepting a task means: the row is in the database and its job
// is in the pending queue; if Redis refuses the job, the row is removed and the caller gets
// Unavailable, so nothing is half-accepted.
import { checkPageBytes } from './page-bytes.ts';
import { GroupCommit } from '../state/group-commit.ts';
import type { TaskRow } from '../state/schema.ts';
import type { TaskFilter } from '../state/task-store.ts';
import { isUniqueViolation } from '../state/tx.ts';
import { Conflict, Forbidden, NotFound } from '../domain/errors.ts';
import { policyFor, policyRefusal } from '../auth/tenant-policy.ts';
import { canSee, type Actor } from './actor.ts';
import type { TaskSpec } from '../domain/task.ts';
import type { ControlDeps } from './deps.ts';
import { afterTaskCancel, enqueueWithin, queueUnavailable, requeueWithin } from './queueing.ts';
import { isFillFailure, WAITING_FOR_SCHEDULER } from '../domain/status-reasons.ts';
import { taskRowFrom } from './task-rows.ts';
import { checkSecretRefs } from './secret-refs.ts';
import { checkStandaloneSpecs } from './template-checks.ts';

export class TaskControl {
  /** Concurrent submissions share one INSERT and one enqueue (see group-commit.ts). */
  private readonly group: GroupCommit;

  constructor(private readonly deps: ControlDeps) {
    this.group = new GroupCommit(deps.tasks, (ts) => this.enqueueOrRefuse(ts, 'the task'));
  }

  private async enqueueOrRefuse(ts: TaskRow[], what: 'the task' | 'the batch'): Promise<void> {
    // Committed first, so a crash before the dispatcher placed them leaves queued tasks without
    // jobs, which the reconciler queues (as for released workflow tasks).
    if (this.deps.offerSubmitted?.(ts)) return;
    try {
      await enqueueWithin(this.deps, ts);
    } catch (err) {
      // Taken back next (state/group-commit.ts, TaskStore.createMany): deleted unless placed
      // meanwhile (then accepted); a take-back that fails is logged at error level on its own.
      const where = what === 'the task' ? 'POST /tasks: could not enqueue; taking the tasks back' : 'POST /tasks/batch: could not enqueue; taking the batch back';
      this.deps.logger.warn({ err, tasks: ts.length }, where);
      throw queueUnavailable(this.deps.config, what);
    }
  }

  /** Refuses a task its tenant's policy does not allow (host network, image), naming the rule. */
  private checkPolicy(row: Pick<TaskRow, 'image' | 'network'>, tenant: string): void {
    const refusal = policyRefusal(row, tenant, policyFor(this.deps.config.tenants.policies, tenant));
    if (refusal) throw new Forbidden(refusal);
  }

  /** Accepts one task; `created` is false when its idempotency key named an existing task. */
  async submit(spec: TaskSpec, actor: Actor): Promise<{ task: TaskRow; created: boolean }> {
    checkStandaloneSpecs([{ prefix: ['body'], spec }]);
    const row = taskRowFrom(spec, this.deps.config, { status: 'queued', statusReason: WAITING_FOR_SCHEDULER, tenant: actor.tenant });
    this.checkPolicy(row, actor.tenant);
    await checkSecretRefs(this.deps, actor.tenant, [{ loc: ['body'], env: spec.env }]);
    if (row.idempotencyKey) {
      // Rare, and needs a look-up first: the one-by-one path.
      // Keys are per tenant: the tenant's own task with it, or a new one (another tenant's use
      // of the same key neither blocks it nor shows).
      const r = await this.deps.tasks.create(row, (t) => this.enqueueOrRefuse([t], 'the task'));
      if (r.created) this.deps.metrics.submitted.inc({ priority: r.task.priority });
      return r;
    }
    const task = await this.group.submit(row);
    this.deps.metrics.submitted.inc({ priority: task.priority });
    return { task, created: true };
  }

  /** Accepts all the tasks or none. */
  async submitBatch(specs: TaskSpec[], actor: Actor): Promise<TaskRow[]> {
    const { tasks, config } = this.deps;
    checkStandaloneSpecs(specs.map((spec, i) => ({ prefix: ['body', 'tasks', i], spec })));
    const keys = specs.map((t) => t.idempotency_key).filter((k): k is string => !!k);
    if (new Set(keys).size !== keys.length) throw new Conflict('Two tasks in the batch share an idempotency_key; nothing was stored');
    // One look-up for all the keys (one at a time, 1,000 keys took 0.75 s); the first used, in batch order, is named.
    const used = await tasks.usedIdempotencyKeys(actor.tenant, keys);
    const taken = keys.find((k) => used.has(k));
    if (taken !== undefined) throw new Conflict(`idempotency_key "${taken}" is already used by task ${used.get(taken)}; nothing was stored`);
    const rows = specs.map((t) => taskRowFrom(t, config, { status: 'queued', statusReason: WAITING_FOR_SCHEDULER, tenant: actor.tenant }));
    for (const r of rows) this.checkPolicy(r, actor.tenant);
    await checkSecretRefs(this.deps, actor.tenant, specs.map((t, i) => ({ loc: ['body', 'tasks', i], env: t.env })));
    const created = await tasks.createMany(rows, (all) => this.enqueueOrRefuse(all, 'the batch')).catch((err: unknown) => {
      // A key taken between the look-up above and the insert (another request with it at once).
      if (keys.length > 0 && isUniqueViolation(err)) throw new Conflict('An idempotency_key of the batch was used by another task meanwhile; nothing was stored');
      throw err;
    });
    for (const t of created) this.deps.metrics.submitted.inc({ priority: t.priority });
    return created;
  }

  /** Refuses (as not found) a task of a tenant the actor may not see; nothing to check for one who sees all. */
  private async mustSee(id: string, actor: Actor): Promise<void> {
    if (actor.sees !== null) await this.get(id, actor);
  }

  /** The task, if the actor may see it (another tenant's task is not found). */
  async get(id: string, actor: Actor): Promise<TaskRow> {
    const t = await this.deps.tasks.get(id);
    if (!t || !canSee(actor, t.tenant)) throw new NotFound('Task not found');
    return t;
  }

  /** A page of the tasks the actor sees, newest first; refused (422 on `limit`) when its rows weigh more than one answer may hold (page-bytes.ts). */
  async list(filter: Omit<TaskFilter, 'tenant'>, actor: Actor) {
    return this.deps.tasks.listWeighed({ ...filter, tenant: actor.sees ?? undefined }, (sizes) => checkPageBytes(sizes, filter.limit, 'tasks'));
  }

  /** Counts, queued demand and the last hour's status changes of the tasks the actor sees. */
  overview(actor: Actor) {
    return this.deps.tasks.overview(actor.sees ?? undefined);
  }

  /** The task's history, oldest first. */
  async events(id: string, actor: Actor) {
    await this.get(id, actor);
    return this.deps.tasks.events(id);
  }

  /** Cancels a task that has not ended; its container, if any, is killed. */
  async cancel(id: string, actor: Actor): Promise<TaskRow> {
    const { deps } = this;
    await this.mustSee(id, actor);
    const r = await deps.tasks.cancel(id);
    if (r === 'not_found') throw new NotFound('Task not found');
    if ('ended' in r) throw new Conflict(`Task already ended (status ${r.ended.status}); only queued, scheduled or running tasks can be cancelled`);
    await afterTaskCancel(deps, r);
    return r.task;
  }

  /** A new attempt of a task that failed, timed out or was cancelled. */
  async retry(id: string, actor: Actor): Promise<TaskRow> {
    await this.mustSee(id, actor);
    // A workflow task that failed at release never had its templates filled: run alone, it would
    // run them as written. Its workflow's retry fills them again.
    const before = await this.deps.tasks.get(id);
    if (before?.workflowId && before.templates && before.attempts === 0 && before.status === 'failed' && isFillFailure(before.error)) {
      throw new Conflict(`This task failed before it ran, when its templates were filled from its workflow; retry the workflow instead (POST /workflows/${before.workflowId}/retry)`);
    }
    // A new attempt is held to its tenant's policy as configured now, as a submit is (an admin
    // may have narrowed it since the task was accepted): 403 naming the rule; asked once the task
    // is known to be retryable (a running task is 409 whatever its image).
    const r = await this.deps.tasks.retry(id, (t) => this.checkPolicy(t, t.tenant));
    if (r === 'not_found') throw new NotFound('Task not found');
    if ('notRetryable' in r) throw new Conflict(`Task is ${r.notRetryable.status}; only failed, timed_out or cancelled tasks can be retried`);
    if ('workflowRunning' in r) {
      throw new Conflict(
        `This task's workflow ${r.workflowRunning.workflowId} is still running: retried alone, the tasks its failure skipped would not run. Retry the workflow once it has ended (POST /workflows/${r.workflowRunning.workflowId}/retry): it runs this task again and what it skipped`,
      );
    }
    // The cancel was about the attempt that ended, not the new one; a pending job its cancel left
    // would hold back the new one of the same id (control/queueing.ts).
    try {
      await requeueWithin(this.deps, { retried: [id], wereCancelled: before?.status === 'cancelled' ? [r] : [], queued: [r] });
    } catch (err) {
      // The task is queued in the database; the reconciler enqueues it once Redis is back.
      this.deps.logger.warn({ err, task_id: id }, 'retry: queued in the database, Redis unavailable; the reconciler will enqueue it');
    }
    return r;
  }
}
