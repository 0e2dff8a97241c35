// The statuses of tasks asked one at a time by many callers (every quiet log follower of the
// process, once a second), read together: the asks that come while a read is under way go in the
// next one, a single `select id, status` for them all (scheduler/batcher.ts), so N followers cost
// a few statements a second, not N full rows. A failed read fails the asks it carried.
import type { TaskStatus } from '../domain/task.ts';
import { Batcher } from '../scheduler/batcher.ts';
import type { TaskStore } from '../state/task-store.ts';

/** One caller's ask: the task, and its status once read (null: no such task, e.g. deleted). */
interface StatusAsk {
  id: string;
  status: TaskStatus | null;
}

/** Tasks read in one statement at most (server.max_log_follows is 1,000 by default). */
const MAX_READ = 1_000;

export class TaskStatusReads {
  private readonly batcher: Batcher<StatusAsk>;

  constructor(store: Pick<TaskStore, 'statuses'>) {
    this.batcher = new Batcher<StatusAsk>(MAX_READ, async (batch) => {
      const found = await store.statuses([...new Set(batch.map((e) => e.value.id))]);
      for (const e of batch) {
        e.value.status = found.get(e.value.id) ?? null;
        e.settle();
      }
    });
  }

  /** The task's status now (as of a read that began after this ask), or null if it does not exist. */
  async status(id: string): Promise<TaskStatus | null> {
    const ask: StatusAsk = { id, status: null };
    await this.batcher.add(ask);
    return ask.status;
  }
}
