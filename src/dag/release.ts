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

  /** TaskStore's onFinal hook. */
  readonly onTaskFinal = async (tx: Tx, task: TaskRow): Promise<TaskRow[]> => {
    if (!task.workflowId || !task.workflowKey) return [];
    const wf = await this.workflows.lock(tx, task.workflowId);
    if (!wf || wf.status !== 'running') return [];
    if (task.status === 'succeeded') await this.readyChildren(tx, wf, task.workflowKey);
    else await this.skipDescendants(tx, wf, task);
    const released = await this.fillSlots(tx, wf);
    await this.finishIfDone(tx, wf);
    return released;
  };

  /** At creation: roots are already marked ready; queue as many as max_parallel allows. */
  async start(tx: Tx, wf: WorkflowRow): Promise<TaskRow[]> {
    return this.fillSlots(tx, wf);
  }

  private async readyChildren(tx: Tx, wf: WorkflowRow, key: string): Promise<void> {
    const children = await this.workflows.pendingChildren(tx, wf.id, key);
    if (children.length === 0) return;
    const parentKeys = [...new Set(children.flatMap((c) => c.dependsOn))];
    const status = await this.workflows.statusesByKey(tx, wf.id, parentKeys);
    const ready: string[] = [];
    for (const child of children) {
      const waiting = child.dependsOn.filter((p) => status.get(p) !== 'succeeded');
      if (waiting.length === 0) ready.push(child.id);
      else await this.workflows.setWaitingReason(tx, child.id, waitingOn(waiting, child.dependsOn.length));
    }
    await this.workflows.markReady(tx, ready);
  }

  private async skipDescendants(tx: Tx, wf: WorkflowRow, task: TaskRow): Promise<void> {
    const pending = await this.workflows.pendingGraph(tx, wf.id);
    const childrenOf = new Map<string, typeof pending>();
    for (const p of pending) {
      for (const parent of p.dependsOn) {
        let list = childrenOf.get(parent);
        if (!list) childrenOf.set(parent, (list = []));
        list.push(p);
      }
    }
    const skip = new Set<string>();
    const queue = [task.workflowKey as string];
    while (queue.length > 0) {
      for (const child of childrenOf.get(queue.pop() as string) ?? []) {
        if (skip.has(child.id)) continue;
        skip.add(child.id);
        queue.push(child.key);
      }
    }
    await this.workflows.skip(tx, [...skip], `skipped: upstream task ${task.workflowKey} ${task.status.replace('_', ' ')}`);
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
export function waitingOn(waiting: string[], parents: number): string {
  if (waiting.length <= 5) return `waiting on ${waiting.join(', ')}`;
  return `waiting on ${waiting.length} of ${parents} parents: ${waiting.slice(0, 3).join(', ')}, …`;
}
