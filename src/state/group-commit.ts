// Group commit for task submissions: requests that arrive while a write is in flight are
// written together by the next one — one multi-row INSERT and one enqueue for the lot — so
// under load each task costs a fraction of a round trip, and at low load nothing waits (a lone
// request is written at once). All or nothing per group: if the enqueue fails, the group's rows
// are deleted again and every request in it gets the error.
import type { TaskRow, NewTaskRow } from './schema.ts';

interface Waiting {
  row: NewTaskRow;
  resolve(task: TaskRow): void;
  reject(err: unknown): void;
}

export class GroupCommit {
  private waiting: Waiting[] = [];
  private flushing = false;

  constructor(
    private readonly store: {
      insertMany(rows: NewTaskRow[]): Promise<TaskRow[]>;
      deleteMany(ids: string[]): Promise<void>;
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
      while (this.waiting.length > 0) {
        const group = this.waiting.splice(0, this.maxGroup);
        let created: TaskRow[];
        try {
          created = await this.store.insertMany(group.map((w) => w.row));
        } catch (err) {
          for (const w of group) w.reject(err);
          continue;
        }
        try {
          await this.enqueue(created);
        } catch (err) {
          await this.store.deleteMany(created.map((t) => t.id)).catch(() => undefined);
          for (const w of group) w.reject(err);
          continue;
        }
        const byId = new Map(created.map((t) => [t.id, t]));
        for (const w of group) w.resolve(byId.get(w.row.id as string) as TaskRow);
      }
    } finally {
      this.flushing = false;
    }
  }
}
