// Adds tasks to the pending queue. The job id is the task id, so adding a task that already has
// a job is a no-op: callers (the API, the reconciler, the result recorder) may overlap safely.
import type { Queue } from 'bullmq';
import type { TaskRow } from '../state/schema.ts';
import { PRIORITY_RANK } from '../domain/task.ts';

export async function enqueuePending(queue: Queue, rows: Array<Pick<TaskRow, 'id' | 'priority'>>, delayMs = 0): Promise<void> {
  for (let i = 0; i < rows.length; i += 1000) {
    await queue.addBulk(
      rows.slice(i, i + 1000).map((t) => ({
        name: 'place',
        // notBefore marks a retry's backoff, which waking must not cut short.
        data: delayMs > 0 ? { taskId: t.id, notBefore: Date.now() + delayMs } : { taskId: t.id },
        opts: {
          jobId: t.id,
          priority: PRIORITY_RANK[t.priority],
          delay: delayMs > 0 ? delayMs : undefined,
          removeOnComplete: true,
          removeOnFail: { count: 1000 },
        },
      })),
    );
  }
}

/** How many waiting tasks one change of capacity wakes. */
const WAKE_COUNT = 1_000;

/**
 * Capacity changed (a task ended or was cancelled, a node registered or resumed): tasks that
 * were waiting for room are looked at now rather than at their next delay.
 */
export function wakeWaitingTasks(queue: Queue): Promise<void> {
  // Many tasks ending at once need one wake, not one each: while a wake runs, further calls
  // only ask for one more pass after it.
  let state = waking.get(queue);
  if (state) {
    state.again = true;
    return state.done;
  }
  state = { again: false, done: Promise.resolve() };
  const s = state;
  waking.set(queue, s);
  s.done = (async () => {
    try {
      do {
        s.again = false;
        await promoteWaiting(queue);
      } while (s.again);
    } finally {
      waking.delete(queue);
    }
  })();
  return s.done;
}

const waking = new WeakMap<Queue, { again: boolean; done: Promise<void> }>();

async function promoteWaiting(queue: Queue): Promise<void> {
  // Job by job: Queue.promoteJobs moves delayed jobs to the plain wait list, which would lose
  // their priority order; Job.promote puts each back among the prioritized jobs.
  const waiting = await queue.getDelayed(0, WAKE_COUNT - 1);
  const now = Date.now();
  const forRoom = waiting.filter((job) => !(job.data?.notBefore > now));
  // BullMQ numbers jobs as they enter the prioritized set, which is FIFO within a priority:
  // promote them oldest first (the delayed set is ordered by when each delay ends instead).
  forRoom.sort((a, b) => a.timestamp - b.timestamp);
  await Promise.all(forRoom.map((job) => job.promote().catch(() => undefined)));
}
