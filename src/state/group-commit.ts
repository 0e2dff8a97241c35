// Group commit for task submissions: requests that arrive while a write is in flight are
// written together by the next one — one multi-row INSERT and one enqueue for the lot — so
// under load each task costs a fraction of a round trip, and at low load nothing waits (a lone
// request is written at once). A row the database refuses fails only its own request (the group
// is then written one by one). If the enqueue fails, the group's rows are taken back and every
// request in it gets the error — except a request whose task was placed meanwhile (the enqueue
// landed after its deadline, or the reconciler queued the row): that task runs, so its request
// is answered with the task as stored (TaskStore.deleteMany keeps it). If taking back fails,
// nobody is told "nothing was stored": each request gets a NotTakenBack naming its task.
import type { TaskRow, NewTaskRow } from './schema.ts';
import { isDataError } from './tx.ts';

interface Waiting {
  row: NewTaskRow;
  resolve(task: TaskRow): void;
  reject(err: unknown): void;
}

/**
 * Tasks (or a workflow) were stored, the task queue did not take them, and taking them back
 * failed too (the database refused or went away): they may still be stored, queued, and then
 * the reconciler queues them and they run. Not a domain error: the API answers 500 (not 503
 * "nothing was stored", which tells the client to submit the work again) and logs it at error
 * level, with this message, which names what was stored, and `taskIds` (and `workflowId`).
 */
export class NotTakenBack extends Error {
  constructor(
    readonly taskIds: string[],
    cause: unknown,
    readonly workflowId?: string,
  ) {
    const one = workflowId !== undefined || taskIds.length === 1;
    const named =
      workflowId !== undefined ? `workflow ${workflowId} was` : one ? `task ${taskIds[0]} was` : `${taskIds.length} tasks (${taskIds.slice(0, 5).join(', ')}${taskIds.length > 5 ? ', …' : ''}) were`;
    const [them, they] = one ? ['it', 'it'] : ['them', 'they'];
    super(
      `${named} stored, but the task queue did not take ${workflowId !== undefined ? 'its first tasks' : them} and taking ${them} back failed too (see cause): ${they} may still run (the reconciler queues stored tasks); look ${them} up before submitting ${them} again`,
      { cause },
    );
    this.name = 'NotTakenBack';
  }
}

export class GroupCommit {
  private waiting: Waiting[] = [];
  private flushing = false;

  constructor(
    private readonly store: {
      insertMany(rows: NewTaskRow[]): Promise<TaskRow[]>;
      /** Deletes those of the tasks nothing has touched yet; returns the others, as stored. */
      deleteMany(ids: string[]): Promise<TaskRow[]>;
    },
    private readonly enqueue: (tasks: TaskRow[]) => Promise<void>,
    private readonly maxGroup = 500,
  ) {}

  submit(row: NewTaskRow): Promise<TaskRow> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ row, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.waiting.length > 0) await this.write(this.waiting.splice(0, this.maxGroup));
    } finally {
      this.flushing = false;
    }
  }

  private async write(group: Waiting[]): Promise<void> {
    let created: TaskRow[];
    try {
      created = await this.store.insertMany(group.map((w) => w.row));
    } catch (err) {
      if (group.length > 1 && isDataError(err)) [group, created] = await this.insertOneByOne(group);
      else {
        for (const w of group) w.reject(err);
        return;
      }
      if (group.length === 0) return;
    }
    try {
      await this.enqueue(created);
    } catch (err) {
      await this.takeBack(group, created, err);
      return;
    }
    const byId = new Map(created.map((t) => [t.id, t]));
    for (const w of group) w.resolve(byId.get(w.row.id as string) as TaskRow);
  }

  /**
   * One request's row the database refused (a value it cannot hold) must not fail the others
   * written with it: the rows are inserted one by one to find the refused ones, which alone are
   * refused; the rest go on together (one enqueue). An error that is not the row's own (the
   * database went away meanwhile) fails that row and every one after it at once.
   */
  private async insertOneByOne(group: Waiting[]): Promise<[Waiting[], TaskRow[]]> {
    const kept: Waiting[] = [];
    const created: TaskRow[] = [];
    for (let i = 0; i < group.length; i++) {
      const w = group[i];
      try {
        created.push(...(await this.store.insertMany([w.row])));
        kept.push(w);
      } catch (err) {
        if (isDataError(err)) {
          w.reject(err);
          continue;
        }
        for (const rest of group.slice(i)) rest.reject(err);
        break;
      }
    }
    return [kept, created];
  }

  /** The enqueue failed: the tasks still untouched are deleted and refused; those placed meanwhile are accepted. */
  private async takeBack(group: Waiting[], created: TaskRow[], err: unknown): Promise<void> {
    let kept: Map<string, TaskRow>;
    try {
      kept = new Map((await this.store.deleteMany(created.map((t) => t.id))).map((t) => [t.id, t]));
    } catch (undoErr) {
      for (const w of group) w.reject(new NotTakenBack([w.row.id as string], undoErr));
      return;
    }
    for (const w of group) {
      const t = kept.get(w.row.id as string);
      if (t) w.resolve(t);
      else w.reject(err);
    }
  }
}
