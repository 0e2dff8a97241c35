// What jarvis_tasks shows: tasks by status, read at scrape time. The unfinished statuses (pending,
// queued, scheduled, running) are counted on every scrape; they are the figures an operator
// watches (the backlog, what runs), and their count grows with the work in flight only
// (tasks_status_idx). The final statuses hold every task that retention keeps, a table that only
// grows: counting them took ~110 ms a scrape at 1.1 million tasks. They are counted at most once
// every `metrics.final_counts_seconds`: a scrape that finds them older starts a count in the
// background and shows the previous figures meanwhile; one count at a time. A scrape waits only
// when there are no figures yet (the first scrape, or after a count failed), so a count that
// fails is seen by the next scrape rather than hidden behind old figures.
import { FINAL_STATUSES, UNFINISHED_STATUSES, type TaskStatus } from '../domain/task.ts';

export type StatusCounts = Partial<Record<TaskStatus, number>>;

export interface TaskCountsOptions {
  /** Tasks in these statuses, by status (TaskStore.countByStatus). */
  count(statuses: readonly TaskStatus[]): Promise<StatusCounts>;
  /** How old the final statuses' figures may be before a scrape counts them again; 0: every scrape waits for a count. */
  finalMaxAgeMs: number;
  /** A monotonic clock, ms (tests). */
  now?: () => number;
}

export class TaskCounts {
  private final: { counts: StatusCounts; countedAt: number } | null = null;
  private counting: Promise<StatusCounts> | null = null;
  private readonly now: () => number;

  constructor(private readonly options: TaskCountsOptions) {
    this.now = options.now ?? (() => performance.now());
  }

  /** Tasks by status: the unfinished counted now, the final as of their last count. */
  async read(): Promise<StatusCounts> {
    const [unfinished, final] = await Promise.all([this.options.count(UNFINISHED_STATUSES), this.finalCounts()]);
    return { ...final, ...unfinished };
  }

  private finalCounts(): Promise<StatusCounts> {
    const kept = this.final;
    const fresh = kept !== null && this.now() - kept.countedAt < this.options.finalMaxAgeMs;
    if (fresh) return Promise.resolve(kept.counts);
    const counting = this.countFinal();
    return kept === null || this.options.finalMaxAgeMs === 0 ? counting : Promise.resolve(kept.counts);
  }

  /** Counts the final statuses, or joins the count under way. */
  private countFinal(): Promise<StatusCounts> {
    if (this.counting) return this.counting;
    // Their age counts from the count's start: a task that ends during it may be left out.
    const startedAt = this.now();
    const run = this.options
      .count(FINAL_STATUSES)
      .then(
        (counts) => {
          this.final = { counts, countedAt: startedAt };
          return counts;
        },
        (err: unknown) => {
          // The next scrape waits for a count of its own, and reports the source down if that fails too.
          this.final = null;
          throw err;
        },
      )
      .finally(() => {
        if (this.counting === run) this.counting = null;
      });
    // A count in the background has no one waiting on it; its failure is seen by the next scrape.
    run.catch(() => undefined);
    this.counting = run;
    return run;
  }
}
