// Use cases for workflows: the graph is checked (keys, dependencies, cycles) before anything is
// stored; the whole graph is stored in one transaction, then its first tasks are enqueued, within
// the deadline POST /tasks has (enqueueWithin). If Redis refuses them or does not answer in time
// the workflow is removed again and the caller gets Unavailable (unless one was placed meanwhile:
// then it is accepted, as stored; see takeBack).
import { createHash } from 'node:crypto';
import { validateGraph } from '../dag/validate.ts';
import type { TaskRow, WorkflowRow } from '../state/schema.ts';
import { Conflict, InvalidInput, NotFound } from '../domain/errors.ts';
import type { WorkflowSpec, WorkflowStatus } from '../domain/task.ts';
import type { ControlDeps } from './deps.ts';
import { afterCancels, enqueueWithin, queueUnavailable, requeueWithin } from './queueing.ts';
import { workflowRows } from './task-rows.ts';
import { checkSecretRefs } from './secret-refs.ts';
import { checkWorkflowSpecTemplates } from './template-checks.ts';
import { canSee, type Actor } from './actor.ts';
import { Forbidden } from '../domain/errors.ts';
import { policyFor, policyRefusal } from '../auth/tenant-policy.ts';
import { NotTakenBack } from '../state/group-commit.ts';

export class WorkflowControl {
  constructor(private readonly deps: ControlDeps) {}

  async submit(spec: WorkflowSpec, actor: Actor): Promise<{ workflow: WorkflowRow; tasks: TaskRow[] }> {
    const { workflows, releaser, config } = this.deps;
    const problems = validateGraph(spec.tasks.map((t) => ({ key: t.key, depends_on: t.depends_on ?? [] })));
    if (problems.length > 0) throw new InvalidInput(problems);
    checkWorkflowSpecTemplates(spec);
    const { id, wf, rows } = workflowRows(spec, config, actor.tenant);
    const policy = policyFor(config.tenants.policies, actor.tenant);
    for (const r of rows) {
      const refusal = policyRefusal(r, actor.tenant, policy);
      if (refusal) throw new Forbidden(`task "${r.workflowKey}": ${refusal}`);
    }
    await checkSecretRefs(this.deps, actor.tenant, spec.tasks.map((t, i) => ({ loc: ['body', 'tasks', i], env: t.env })));
    const created = await workflows.create(wf, rows, (tx, w) => releaser.start(tx, w));
    let workflow = created.workflow;
    try {
      await enqueueWithin(this.deps, created.queued);
    } catch (err) {
      if (!(await this.takeBack(id, created.queued.map((t) => t.id), err))) throw queueUnavailable(config, 'the workflow');
      workflow = (await workflows.get(id)) ?? workflow;
    }
    for (const t of rows) this.deps.metrics.submitted.inc({ priority: t.priority });
    return { workflow, tasks: await workflows.tasksOf(id) };
  }

  /**
   * The first tasks of a workflow just stored could not be enqueued: the workflow is deleted
   * (false), unless one of them was placed meanwhile (the enqueue landed after all, or the
   * reconciler queued it): then it is on a node and may run, so the workflow is kept and
   * accepted, as stored (true); the reconciler queues those still queued. When taking it back
   * fails, the client is not told "nothing was stored": NotTakenBack (500, logged with the ids).
   */
  private async takeBack(id: string, queuedIds: string[], err: unknown): Promise<boolean> {
    const { logger, workflows } = this.deps;
    let deleted: boolean;
    try {
      deleted = await workflows.delete(id, queuedIds);
    } catch (undoErr) {
      logger.warn({ err, workflow_id: id }, 'POST /workflows: could not enqueue, nor take the workflow back');
      throw new NotTakenBack(queuedIds, undoErr, id);
    }
    if (deleted) logger.warn({ err, workflow_id: id }, 'POST /workflows: could not enqueue; the workflow was not stored');
    else logger.warn({ err, workflow_id: id }, 'POST /workflows: could not enqueue, but a task of the workflow was placed meanwhile; the workflow is accepted as stored');
    return !deleted;
  }

  /** A page of workflows, each with how many of its tasks are in each status. */
  async list(q: { status?: WorkflowStatus; schedule_id?: string; limit: number; offset: number }, actor: Actor) {
    const { schedule_id, ...rest } = q;
    const page = await this.deps.workflows.list({ ...rest, scheduleId: schedule_id, tenant: actor.sees ?? undefined });
    const counts = await this.deps.workflows.countsByStatus(page.items.map((w) => w.id));
    return { ...page, counts };
  }

  async get(id: string, actor: Actor): Promise<{ workflow: WorkflowRow; tasks: TaskRow[] }> {
    const workflow = await this.deps.workflows.get(id);
    if (!workflow || !canSee(actor, workflow.tenant)) throw new NotFound('Workflow not found');
    return { workflow, tasks: await this.deps.workflows.tasksOf(id) };
  }

  /**
   * The workflow as GET /workflows/{id} gives it, with its tag (the ETag): a digest of
   * WorkflowStore.version, so it changes whenever the workflow or any of its tasks is written and
   * tells nothing else. When the tag is among `known` (the If-None-Match of a client that read it
   * before), the tasks are not read: `unchanged`. The tag is taken before the rows are read, so a
   * body may be newer than its tag, never older: a client holding it reads the next change.
   */
  async read(id: string, actor: Actor, known: readonly string[] = []): Promise<{ tag: string; unchanged: true } | { tag: string; unchanged: false; workflow: WorkflowRow; tasks: TaskRow[] }> {
    const v = await this.deps.workflows.version(id);
    if (!v || !canSee(actor, v.tenant)) throw new NotFound('Workflow not found');
    const tag = `W/"${createHash('sha256').update(`${id}\n${v.version}`).digest('base64url').slice(0, 22)}"`;
    if (known.includes(tag) || known.includes('*')) return { tag, unchanged: true };
    const { workflow, tasks } = await this.get(id, actor);
    return { tag, unchanged: false, workflow, tasks };
  }

  /**
   * Runs a workflow that ended again: its failed, timed-out, cancelled and skipped tasks get new
   * attempts (same ids); succeeded tasks are kept, and their outputs feed the re-run ones.
   */
  async retry(id: string, actor: Actor): Promise<{ workflow: WorkflowRow; tasks: TaskRow[] }> {
    const { workflows, releaser } = this.deps;
    const seen = await workflows.get(id);
    if (!seen || !canSee(actor, seen.tenant)) throw new NotFound('Workflow not found');
    // The tasks it would run again are held to the tenant's policy as configured now, as a
    // submit is (an admin may have narrowed it since): 403 naming the task and the rule.
    if (seen.status !== 'running') {
      const policy = policyFor(this.deps.config.tenants.policies, seen.tenant);
      for (const t of await workflows.tasksOf(id)) {
        if (t.status === 'succeeded') continue;
        const refusal = policyRefusal(t, seen.tenant, policy);
        if (refusal) throw new Forbidden(`task "${t.workflowKey}": ${refusal}`);
      }
    }
    const r = await workflows.retry(id, (tx, wf, reset) => releaser.restart(tx, wf, reset));
    if (r === 'not_found') throw new NotFound('Workflow not found');
    if ('running' in r) throw new Conflict('Workflow is still running; retry it once it has ended (or cancel it first)');
    if ('allSucceeded' in r) throw new Conflict('Every task of this workflow succeeded; there is nothing to retry (submit it again to run it all again)');
    // The cancels were about attempts that ended, not the new ones; a pending job a cancel left
    // would hold back the new one of the same id (control/queueing.ts).
    await requeueWithin(this.deps, { retried: r.reset.map((t) => t.id), wereCancelled: r.wereCancelled, queued: r.queued }).catch((err) =>
      this.deps.logger.warn({ err, workflow_id: id }, 'workflow retry: queued in the database, Redis unavailable; the reconciler will enqueue them'),
    );
    const workflow = (await workflows.get(id)) as WorkflowRow;
    return { workflow, tasks: await workflows.tasksOf(id) };
  }

  /**
   * Queued and running tasks are cancelled (their containers killed, their pending jobs removed),
   * the rest skipped.
   */
  async cancel(id: string, actor: Actor): Promise<{ workflow: WorkflowRow; tasks: TaskRow[] }> {
    if (actor.sees !== null) {
      const seen = await this.deps.workflows.get(id);
      if (!seen || !canSee(actor, seen.tenant)) throw new NotFound('Workflow not found');
    }
    const r = await this.deps.workflows.cancel(id);
    if (r === 'not_found') throw new NotFound('Workflow not found');
    if ('ended' in r) throw new Conflict(`Workflow already ended (status ${(r.ended as WorkflowRow).status}); only running workflows can be cancelled`);
    await afterCancels(this.deps, r.cancelled);
    return { workflow: r.workflow, tasks: await this.deps.workflows.tasksOf(id) };
  }
}
