// The DAG manager's decisions, taken inside the transaction that ends a task (TaskStore's
// onFinal hook), under the workflow's row lock: a success marks children whose parents all
// succeeded as ready; a failure for good (failed, timed out, cancelled, skipped) skips every
// pending descendant, since none of them can run any more; then ready tasks fill the free
// max_parallel slots, and the workflow ends once nothing is left to run. Because a child moves
// pending -> queued only in the one transaction that commits its last parent's success, it is
// released exactly once, whatever crashes around it.
import type { TaskRow, WorkflowRow } from '../state/schema.ts';
import type { Tx } from '../state/task-store.ts';
import type { WorkflowStore } from '../state/workflow-store.ts';

export class WorkflowReleaser {
  constructor(private readonly workflows: WorkflowStore) {}

  /** TaskStore's onFinal hook: the tasks that just ended (of any workflows, or none). */
  readonly onTasksFinal = async (tx: Tx, ended: TaskRow[]): Promise<TaskRow[]> => {
    const byWorkflow = new Map<string, TaskRow[]>();
    for (const t of ended) {
      if (!t.workflowId || !t.workflowKey) continue;
      byWorkflow.set(t.workflowId, [...(byWorkflow.get(t.workflowId) ?? []), t]);
    }
    const released: TaskRow[] = [];
    for (const id of [...byWorkflow.keys()].sort()) {
      const wf = await this.workflows.lock(tx, id);
      if (!wf || wf.status !== 'running') continue;
      const done = byWorkflow.get(id) as TaskRow[];
      const succeeded = done.filter((t) => t.status === 'succeeded');
      const failed = done.filter((t) => t.status !== 'succeeded');
      if (succeeded.length > 0) await this.readyChildren(tx, wf, succeeded.map((t) => t.workflowKey as string));
      if (failed.length > 0) await this.skipDescendants(tx, wf, failed);
      released.push(...(await this.fillSlots(tx, wf)));
      await this.finishIfDone(tx, wf);
    }
    return released;
  };

  /** At creation: roots are already marked ready; queue as many as max_parallel allows. */
  async start(tx: Tx, wf: WorkflowRow): Promise<TaskRow[]> {
    return this.fillSlots(tx, wf);
  }

  /** Children of the tasks that just succeeded whose parents all succeeded become ready. */
  private async readyChildren(tx: Tx, wf: WorkflowRow, keys: string[]): Promise<void> {
    const children = await this.workflows.pendingChildren(tx, wf.id, keys);
    if (children.length === 0) return;
    const waitingOnParents = await this.workflows.unsucceededParents(tx, wf.id, children.map((c) => c.id));
    const ready: string[] = [];
    const reasons: Array<{ taskId: string; reason: string }> = [];
    for (const child of children) {
      const w = waitingOnParents.get(child.id) ?? { count: 0, some: [] };
      if (w.count === 0) ready.push(child.id);
      else reasons.push({ taskId: child.id, reason: waitingOn(w.count, w.some, child.dependsOn.length) });
    }
    await this.workflows.setWaitingReasons(tx, reasons);
    await this.workflows.markReady(tx, ready);
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

  private async fillSlots(tx: Tx, wf: WorkflowRow): Promise<TaskRow[]> {
    const free = wf.maxParallel === null ? 1_000_000_000 : wf.maxParallel - (await this.workflows.activeCount(tx, wf.id));
    return this.workflows.queueReady(tx, wf.id, free, `ready; waiting for a free slot (max_parallel ${wf.maxParallel})`);
  }

  private async finishIfDone(tx: Tx, wf: WorkflowRow): Promise<void> {
    if ((await this.workflows.unfinishedCount(tx, wf.id)) > 0) return;
    await this.workflows.finish(tx, wf.id, (await this.workflows.allSucceeded(tx, wf.id)) ? 'succeeded' : 'failed');
  }
}

/** "waiting on a, b" — or, for a wide fan-in, "waiting on 998 of 1000 parents: m3, m7, m9, …". */
export function waitingOn(count: number, some: string[], parents: number): string {
  if (count <= 5) return `waiting on ${some.slice(0, count).join(', ')}`;
  return `waiting on ${count} of ${parents} parents: ${some.slice(0, 3).join(', ')}, …`;
}
