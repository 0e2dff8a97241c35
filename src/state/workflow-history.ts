// A workflow's history: one workflow_events row per change of its status, written in the
// transaction that makes the change (as task-history.ts does for tasks). Webhooks read it.
import type { WorkflowStatus } from '../domain/task.ts';
import { workflowEvents } from './schema.ts';
import type { Tx } from './tx.ts';

export async function recordWorkflowEvent(tx: Tx, workflowId: string, status: WorkflowStatus, at = new Date()): Promise<void> {
  await tx.insert(workflowEvents).values({ workflowId, status, at });
}
