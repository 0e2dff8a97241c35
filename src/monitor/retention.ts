// Keeps the database from growing for ever (config tasks.retention_days, null: keep everything):
// on the leader, at its election and then hourly, deletes the workflows and standalone tasks that
// ended more than that many days ago, with their stored logs and history, in batches of BATCH
// rows, one transaction each. A task inside a workflow goes with its workflow. What goes is gone
// from the API (404), the dashboard and the metrics read from the database; webhook deliveries
// already made keep their bodies (their own log is pruned after 30 days).
import type { Logger } from 'pino';
import { PassLoop } from '../lifecycle/pass-loop.ts';
import type { Db } from '../state/db.ts';
import { deleteEndedTasks, deleteEndedWorkflows, type WorkflowCursor } from '../state/retention.ts';

const BATCH = 500;
/** Batches per pass: a backlog of old rows is deleted over several passes, a second apart. */
const BATCHES_PER_PASS = 40;
const EVERY_MS = 3_600_000;
const DAY_MS = 86_400_000;

interface RetentionDeps {
  db: Db;
  days: number;
  logger: Logger;
}

/**
 * Where the look at ended workflows goes on from: a pass that stopped at BATCHES_PER_PASS goes on
 * at the next, one that got to the end starts the next from the oldest again.
 */
export interface RetentionProgress {
  workflowsFrom: WorkflowCursor | null;
}

/** The leader's retention part: a pass at once, then hourly (a second later while more is left). */
export function retention(deps: RetentionDeps): PassLoop {
  const progress: RetentionProgress = { workflowsFrom: null };
  return new PassLoop(
    async () => ((await retentionPass(deps, Date.now(), progress)) ? 1_000 : EVERY_MS),
    (err) => deps.logger.warn({ err }, 'retention: could not delete old tasks and workflows; will try again'),
    60_000,
  );
}

/**
 * Deletes what ended before the cutoff, up to BATCHES_PER_PASS batches; true when more is left.
 * Workflows go on while candidates are left, not while batches come back full: a batch may
 * delete fewer than BATCH (candidates with a young task, locked, or found young under the lock)
 * with more due after them, and a pass that stopped there left those for an hour.
 */
export async function retentionPass({ db, days, logger }: RetentionDeps, now = Date.now(), progress: RetentionProgress = { workflowsFrom: null }): Promise<boolean> {
  const before = new Date(now - days * DAY_MS);
  const deleted = { workflows: 0, tasks: 0 };
  let workflowsLeft = true;
  let tasksLeft = true;
  for (let i = 0; i < BATCHES_PER_PASS && (workflowsLeft || tasksLeft); i++) {
    if (workflowsLeft) {
      const w = await deleteEndedWorkflows(db, before, BATCH, progress.workflowsFrom);
      deleted.workflows += w.deleted;
      progress.workflowsFrom = w.next;
      workflowsLeft = w.next !== null;
    }
    if (tasksLeft) {
      const t = await deleteEndedTasks(db, before, BATCH);
      deleted.tasks += t;
      tasksLeft = t === BATCH;
    }
  }
  const more = workflowsLeft || tasksLeft;
  if (deleted.workflows + deleted.tasks > 0) {
    logger.info(
      { workflows: deleted.workflows, tasks: deleted.tasks, ended_before: before.toISOString(), retention_days: days },
      `retention: deleted ${deleted.workflows} workflow(s) and ${deleted.tasks} task(s) that ended more than ${days} days ago, with their logs and history`,
    );
  }
  return more;
}
