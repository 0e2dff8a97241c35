// The DAG manager's decisions, taken inside the transaction that ends a task (TaskStore's
// onFinal hook), under the workflow's row lock: a success marks children whose parents all
// succeeded as ready; a failure for good (failed, timed out, cancelled, skipped) skips every
// pending descendant, since none of them can run any more (with on_failure continue, a task
// skipped by its `when` counts as done instead); then ready tasks fill the free max_parallel
// slots, and the workflow ends once nothing is left to run. A task whose parents are done is
// released through its `when` and its templates (src/workflow/): it may be skipped or fail
// right there, which is applied in the same transaction; the tasks that release ends release
// their children in turn, waves decided in memory on the workflow's graph read once
// (dag/cascade.ts), so a `when`-chain costs a few statements, not a wave each. Because a child moves pending ->
// queued only in the one transaction that commits its last parent's end, it is released
// exactly once, whatever crashes around it.
//
// That transaction records the ends of up to ~200 tasks of any tenants (monitor/results.ts), so
// one workflow's release never fails it: a task whose `when` or templates cannot be worked out
// fails by itself, and each workflow's release runs in a savepoint; when one throws all the same
// (the database refused a statement's data), it is rolled back and that workflow's pending tasks
// fail, saying why, so that none is left waiting on parents that have all ended. A deadlock, a
// timeout or a database gone still fails the batch, which is tried again.
import type { TaskRow, WorkflowRow } from '../state/schema.ts';
import type { Logger } from 'pino';
import type { ReleasedTask, Tx } from '../state/task-store.ts';
import { inSavepoint, isDatabaseError, isDataError } from '../state/tx.ts';
import type { WorkflowStore } from '../state/workflow-store.ts';
import type { AncestorValue } from '../workflow/template.ts';
import { cannotRelease } from '../domain/status-reasons.ts';
import { admission, admissionPlan, innermostMessage, waitingOn, type ToAdmit } from './admission.ts';
import { decideCascade } from './cascade.ts';

/**
 * Waves of a release applied through the database before the rest are decided in memory
 * (docs/decisions.md, "The skip cascade decided in memory"): an alternating `when`-chain of
 * 10,000 (each end skips one task, releases the next) cost 50-60 ms an end with the graph read at
 * the second wave, 20-32 ms without it.
 */
const WAVES_THROUGH_DATABASE = 2;

export class WorkflowReleaser {
  constructor(
    private readonly workflows: WorkflowStore,
    private readonly logger?: Pick<Logger, 'error'>,
  ) {}

  /** TaskStore's onFinal hook: the tasks that just ended (of any workflows, or none). */
  readonly onTasksFinal = async (tx: Tx, ended: TaskRow[]): Promise<ReleasedTask[]> => {
    const byWorkflow = new Map<string, TaskRow[]>();
    for (const t of ended) {
      if (!t.workflowId || !t.workflowKey) continue;
      const list = byWorkflow.get(t.workflowId);
      if (list) list.push(t);
      else byWorkflow.set(t.workflowId, [t]);
    }
    const released: ReleasedTask[] = [];
    for (const id of [...byWorkflow.keys()].sort()) {
      const ends = byWorkflow.get(id) as TaskRow[];
      try {
        released.push(...(await inSavepoint(tx, (sp) => this.releaseAfter(sp, id, ends))));
      } catch (err) {
        // Only what this workflow's own data or our code refused ends it: a deadlock, a lock or
        // statement timeout, a database going away fail the whole batch as before, which is tried
        // again (its reports are kept), instead of failing the user's tasks for a moment's trouble.
        if (isDatabaseError(err) && !isDataError(err)) throw err;
        this.logger?.error({ err, workflowId: id, tasks: ends.map((t) => t.id) }, 'releasing a workflow\'s tasks failed; its pending tasks fail');
        await this.failPending(tx, id, err);
      }
    }
    return released;
  };

  private async releaseAfter(tx: Tx, id: string, ends: TaskRow[]): Promise<ReleasedTask[]> {
    // Locked already with the tasks (finish-attempts.ts); again here for the row as it is now.
    const wf = await this.workflows.lock(tx, id);
    if (!wf || wf.status !== 'running') return [];
    const ready: string[] = [];
    await this.settle(tx, wf, ends, ready);
    const released = await this.fillSlots(tx, wf, ready);
    await this.finishIfDone(tx, wf);
    return released;
  }

  /**
   * A workflow whose release failed (rolled back to its savepoint): its pending tasks fail, saying
   * why (POST /workflows/{id}/retry runs them again); the workflow ends once its running tasks have.
   * If this fails too, the error goes up and the whole transaction with it.
   */
  private async failPending(tx: Tx, id: string, err: unknown): Promise<void> {
    const wf = await this.workflows.lock(tx, id);
    if (!wf || wf.status !== 'running') return;
    await this.workflows.failPending(tx, id, cannotRelease(innermostMessage(err)));
    await this.finishIfDone(tx, wf);
  }

  /**
   * At creation: roots are already marked ready; a root's `when` is decided and its templates
   * filled here (a root's can only be escapes, `{{ '{{' }}`: no task comes before it); queue as
   * many as max_parallel allows.
   */
  async start(tx: Tx, wf: WorkflowRow): Promise<ReleasedTask[]> {
    const special = await this.workflows.readyToAdmit(tx, wf.id);
    const ready: string[] = [];
    if (special.length > 0) {
      await this.settle(tx, wf, await this.admit(tx, wf, special, ready), ready);
      await this.finishIfDone(tx, wf);
    }
    return this.fillSlots(tx, wf, ready);
  }

  /**
   * POST /workflows/{id}/retry, inside the transaction that reset its tasks: the reset tasks
   * whose parents are all done again are released (templates filled again from the kept
   * tasks' values, `when` decided again).
   */
  async restart(tx: Tx, wf: WorkflowRow, reset: TaskRow[]): Promise<ReleasedTask[]> {
    const waiting = await this.workflows.unsucceededParents(tx, wf.id, reset, this.satisfying(wf));
    const ready: string[] = [];
    const done = reset.filter((t) => (waiting.get(t.id)?.count ?? 0) === 0);
    await this.settle(tx, wf, await this.admit(tx, wf, done, ready), ready);
    const released = await this.fillSlots(tx, wf, ready);
    await this.finishIfDone(tx, wf);
    return released;
  }

  /** The parent statuses that let a child run: with on_failure continue, a skipped parent counts as done. */
  private satisfying(wf: WorkflowRow): string[] {
    return wf.onFailure === 'continue' ? ['succeeded', 'skipped'] : ['succeeded'];
  }

  /**
   * Applies the ends of tasks, and of the tasks their release ended in turn (skipped by `when`,
   * failed for a missing template value), until nothing more ends. Tasks that became ready are
   * added to `ready`, for fillSlots. The first waves go through the database, each reading only
   * the children of the tasks that ended (by key); a cascade that goes on past them is decided in
   * memory on the workflow's graph read once (cascade): that read costs about as much as two
   * waves of a 10,000-task workflow, so the commonest cascade, one task skipped and its child
   * released, does not pay it.
   */
  private async settle(tx: Tx, wf: WorkflowRow, ended: TaskRow[], ready: string[]): Promise<void> {
    const satisfied = this.satisfying(wf);
    let batch = ended;
    for (let wave = 0; batch.length > 0; wave++) {
      if (wave === WAVES_THROUGH_DATABASE) return this.cascade(tx, wf, batch, ready);
      const done = batch.filter((t) => satisfied.includes(t.status));
      const stopped = batch.filter((t) => !satisfied.includes(t.status));
      if (stopped.length > 0) await this.skipDescendants(tx, wf, stopped);
      batch = done.length > 0 ? await this.readyChildren(tx, wf, done.map((t) => t.workflowKey as string), ready) : [];
    }
  }

  /**
   * The waves that follow `ended` (tasks ended at release; dag/cascade.ts), decided on the workflow's
   * graph read once, then written: what the tasks still waiting wait on, the tasks ended (each
   * with its reason, its history event, the onEnded hook), the templates of those that run.
   * A 1,000-task `when`-chain took 11.3 s wave by wave through the database.
   */
  private async cascade(tx: Tx, wf: WorkflowRow, ended: TaskRow[], ready: string[]): Promise<void> {
    const graph = await this.workflows.releaseGraph(tx, wf.id);
    const outcome = await decideCascade(
      graph,
      ended.map((t) => ({ key: t.workflowKey as string, status: t.status })),
      this.satisfying(wf),
      { toAdmit: (ids) => this.workflows.toAdmit(tx, ids), values: (keys) => this.workflows.valuesOf(tx, wf.id, keys) },
    );
    await this.workflows.setWaitingReasons(tx, outcome.waiting);
    await this.workflows.endAtRelease(tx, outcome.ended);
    for (const r of outcome.ready) {
      if (r.fields) await this.workflows.fillTemplates(tx, r.id, r.fields as Partial<TaskRow>);
      ready.push(r.id);
    }
  }

  /** Children of the tasks that just ended whose parents are all done are released; returns those that ended at release. */
  private async readyChildren(tx: Tx, wf: WorkflowRow, keys: string[], released: string[]): Promise<TaskRow[]> {
    const children = await this.workflows.pendingChildrenToRelease(tx, wf.id, keys, this.satisfying(wf));
    if (children.length === 0) return [];
    const ready: ToAdmit[] = [];
    const reasons: Array<{ taskId: string; reason: string }> = [];
    for (const child of children) {
      if (child.openParents === 0) ready.push(child);
      else reasons.push({ taskId: child.id, reason: waitingOn(child.openParents, child.someOpen, child.dependsOn.length) });
    }
    await this.workflows.setWaitingReasons(tx, reasons);
    return this.admit(tx, wf, ready, released);
  }

  /**
   * Tasks whose parents are all done: a `when` decides whether each runs (false or an error:
   * skipped, the reason naming the condition), then its templates are filled from its
   * ancestors' values (a missing value: failed, saying which). The rest become ready: they are
   * added to `ready`, still pending, for fillSlots to queue or mark. Returns the tasks that
   * ended here.
   */
  private async admit(tx: Tx, wf: WorkflowRow, rows: ToAdmit[], ready: string[]): Promise<TaskRow[]> {
    const plain = rows.filter((t) => !t.templates && !t.whenCondition);
    const special = rows.filter((t) => t.templates || t.whenCondition);
    for (const t of plain) ready.push(t.id);
    if (special.length > 0) {
      const plans = special.map((t) => ({ task: t, ...admissionPlan(t) }));
      const keys = [...new Set(plans.flatMap((p) => p.keys))];
      const values: Map<string, AncestorValue> = new Map(
        (await this.workflows.valuesOf(tx, wf.id, keys)).map((v) => [v.workflowKey as string, { status: v.status, result: v.result, outputs: v.outputs ?? {} }]),
      );
      // Decided on the values read once above, so the ends are written together after the loop
      // (one statement for a 1,000-wide fan-out whose `when`s are all false, not 2,000).
      const ends: Array<{ id: string; status: 'skipped' | 'failed'; reason: string }> = [];
      for (const { task, condition, conditionError } of plans) {
        const a = admission(task, condition, conditionError, values);
        if ('skip' in a) ends.push({ id: task.id, status: 'skipped', reason: a.skip });
        else if ('fail' in a) ends.push({ id: task.id, status: 'failed', reason: a.fail });
        else {
          if (a.fields) await this.workflows.fillTemplates(tx, task.id, a.fields as Partial<TaskRow>);
          ready.push(task.id);
        }
      }
      return this.workflows.endAtRelease(tx, ends);
    }
    return [];
  }

  /** Every pending descendant of the tasks that just failed for good is skipped. */
  private async skipDescendants(tx: Tx, wf: WorkflowRow, failed: TaskRow[]): Promise<void> {
    const pending = await this.workflows.pendingGraph(tx, wf.id);
    const childrenOf = new Map<string, typeof pending>();
    for (const p of pending) {
      for (const parent of p.dependsOn) {
        let list = childrenOf.get(parent);
        if (!list) childrenOf.set(parent, (list = []));
        list.push(p);
      }
    }
    const skipped = new Set<string>();
    for (const task of failed) {
      // Each skipped task names the first failed ancestor found.
      const skip: string[] = [];
      const queue = [task.workflowKey as string];
      while (queue.length > 0) {
        for (const child of childrenOf.get(queue.pop() as string) ?? []) {
          if (skipped.has(child.id)) continue;
          skipped.add(child.id);
          skip.push(child.id);
          queue.push(child.key);
        }
      }
      await this.workflows.skip(tx, skip, `skipped: upstream task ${task.workflowKey} ${task.status.replace('_', ' ')}`);
    }
  }

  /** Queues ready tasks (those marked before, and `ready`) while max_parallel leaves slots; marks the rest ready. */
  private async fillSlots(tx: Tx, wf: WorkflowRow, ready: string[] = []): Promise<ReleasedTask[]> {
    const free = wf.maxParallel === null ? 1_000_000_000 : wf.maxParallel - (await this.workflows.activeCount(tx, wf.id));
    return this.workflows.queueReady(tx, wf.id, free, `ready; waiting for a free slot (max_parallel ${wf.maxParallel})`, ready);
  }

  private async finishIfDone(tx: Tx, wf: WorkflowRow): Promise<void> {
    if (await this.workflows.anyUnfinished(tx, wf.id)) return;
    await this.workflows.finish(tx, wf.id, (await this.workflows.noneFailed(tx, wf.id)) ? 'succeeded' : 'failed');
  }
}
