// A worker process's reports leave it in batches, one kind per job: while one job of reports is
// being added to the events queue, the next fills up, so a process whose nodes start and end
// hundreds of attempts a second (many simulated nodes, or one big node taking a burst) adds a few
// jobs, and a lone report leaves at once. Each job saves the events queue three Redis scripts per
// report, and the control plane a job fetch; it stores reports in batches anyway
// (monitor/results.ts). A report resolves once the job holding it is in the queue: only then
// may its inbox entry be acknowledged.
//
// A "finished" report also marks its attempt's record in Redis as reported, once its job is
// queued: the control plane's node health check (monitor/node-health.ts) takes a running task
// its node stopped listing for one whose result was lost, unless the report is waiting in the
// events queue, and a job of many reports has no id to look for.
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { Batcher } from '../scheduler/batcher.ts';
import { RECORD_AFTER_DONE_S, type FinishedReports, type RedisNames, type StartedReports, type TaskEventJob } from '../scheduler/queues.ts';

type Started = Extract<TaskEventJob, { type: 'started' }>;
type Finished = Extract<TaskEventJob, { type: 'finished' }>;

/** The most "started" reports in one job. */
const MAX_STARTED = 500;
/** The most "finished" reports in one job ... */
const MAX_FINISHED = 200;
/**
 * ... and about the most JSON they make (a report may carry up to 64 KiB of `result` and its
 * outputs): a report that would pass it starts the next job. A report larger than this alone
 * goes in a job of its own.
 */
const MAX_FINISHED_BYTES = 256 * 1024;

const JOB_OPTIONS = { attempts: 20, backoff: { type: 'exponential', delay: 250 }, removeOnComplete: true, removeOnFail: { count: 1000 } } as const;

export class Reports {
  private readonly starts = new Batcher<Started>(MAX_STARTED, async (batch) => {
    const job: StartedReports = { type: 'started-many', reports: batch.map((b) => b.value) };
    // Retried by BullMQ if recording fails; a report applied twice changes nothing (fenced by attempt).
    await this.events.add(job.type, job, JOB_OPTIONS);
    for (const b of batch) b.settle();
  });

  private readonly ends = new Batcher<Finished>(MAX_FINISHED, async (batch) => {
    const jobs: FinishedReports[] = [];
    let bytes = 0;
    for (const { value } of batch) {
      const size = JSON.stringify(value).length;
      const last = jobs.at(-1);
      if (last && bytes + size <= MAX_FINISHED_BYTES) {
        last.reports.push(value);
        bytes += size;
      } else {
        jobs.push({ type: 'finished-many', reports: [value] });
        bytes = size;
      }
    }
    // As above: applied at least once, fenced by attempt in the task store.
    await this.events.addBulk(jobs.map((data) => ({ name: data.type, data, opts: JOB_OPTIONS })));
    // Only after the jobs are queued: a mark without its report would keep a lost result lost.
    const pipe = this.records.connection.pipeline();
    for (const { value: r } of batch) {
      const key = this.records.names.attemptKey(r.taskId, r.attempt);
      pipe.hset(key, 'reported', Date.now()).expire(key, RECORD_AFTER_DONE_S);
    }
    await pipe.exec();
    for (const b of batch) b.settle();
  });

  /** records: where the attempts' records are (the nodes' connection, not the events queue's). */
  constructor(
    private readonly events: Queue,
    private readonly records: { connection: Redis; names: RedisNames },
  ) {}

  /** Resolves once the report is in the events queue (with the others of its batch). */
  started(event: Started): Promise<void> {
    return this.starts.add(event);
  }

  /** Resolves once the report is in the events queue (with the others of its batch). */
  finished(event: Finished): Promise<void> {
    return this.ends.add(event);
  }
}
