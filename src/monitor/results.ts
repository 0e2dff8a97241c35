// Records what workers report: a container started, an attempt ended. Reports travel through a
// BullMQ queue, so they survive a control-plane restart and are applied at least once; the
// task store fences them by attempt, so applying one twice, or a stale one, changes nothing.
import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { TaskRow } from '../state/schema.ts';
import type { FinishReport, ReleasedTask, TaskStore } from '../state/task-store.ts';
import { Batcher, type BatchEntry } from '../scheduler/batcher.ts';
import { closeOnce, type CloseOptions, type Part } from '../lifecycle/part.ts';
import type { PendingQueues } from '../scheduler/pending.ts';
import { closeWorkers, controlPlaneWorkerOptions, EventsQueueJob, logQueueError, type TaskEventJob, type RedisNames } from '../scheduler/queues.ts';

export interface ResultRecorderDeps {
  tasks: TaskStore;
  /** Released workflow tasks and retries are enqueued here. */
  pending: PendingQueues;
  /** Released workflow tasks go to the dispatcher at once when it takes them (Dispatcher.offer), else to pending. */
  offer?(rows: ReleasedTask[]): boolean;
  connection: Redis;
  /** A non-blocking connection for reading log streams. */
  redis: Redis;
  names: RedisNames;
  logger: Logger;
  onFinished?(task: TaskRow): void;
  onRetry?(task: TaskRow): void;
}

/** The most "started" reports stored in one transaction. */
const STARTED_BATCH = 500;
/** The most "finished" reports stored in one transaction, and the most log text it holds. */
const FINISHED_BATCH = 200;
const FINISHED_LOG_BYTES = 16 * 1024 * 1024;
/**
 * Readers of the events queue, and the jobs each holds at once. A BullMQ worker fetches its jobs
 * one after another, a Redis round trip each, and starts none of them (nor renews their locks)
 * until it holds `concurrency` or the queue is empty. One reader holding 1,400 (what this was)
 * fell behind a 1,000-node drain: under load a fetch took ~60 ms, reports piled up in the queue
 * (400 jobs), and one run of 400 fetches took 25 s, longer than the 10 s lock of the jobs fetched
 * first. Those stalled, were fetched again, stalled again and failed ("job stalled more than
 * allowable limit", 6–168 a bench (e) run; applied all the same by their first taker). Four
 * readers fetch four at a time (as the dispatcher's do, scheduler/tenant-readers.ts), and each
 * holds at most a quarter of two batches of "finished" reports (one being stored, the next
 * filling) as if each report were a job of its own, and a few more, so a run of fetches is
 * short. A report is a job of its own when it comes from an older worker, or from a worker
 * process with one node whose attempts end one at a time; a process with many nodes sends up to
 * 200 in a job (worker/reports.ts). See docs/decisions.md.
 */
const READERS = 4;
const JOBS_PER_READER = (2 * FINISHED_BATCH + 16) / READERS;

type StartedEvent = Extract<TaskEventJob, { type: 'started' }>;
type FinishedEvent = Extract<TaskEventJob, { type: 'finished' }>;

/** How long a finished task's live log stream lingers for followers still reading it. */
const LOG_STREAM_TTL_SECONDS = 120;

export class ResultRecorder implements Part {
  private workers: Worker[] = [];
  private closer?: (options?: CloseOptions) => Promise<void>;
  constructor(private readonly deps: ResultRecorderDeps) {}

  start(): void {
    if (this.workers.length > 0) return;
    this.workers = Array.from({ length: READERS }, () => this.reader());
  }

  private reader(): Worker {
    const { names, connection } = this.deps;
    const worker = new Worker(names.eventsQueue, (job) => this.process(job), { ...controlPlaneWorkerOptions(connection, names), concurrency: JOBS_PER_READER });
    worker.on('error', (err) => logQueueError(this.deps.logger, 'results', err));
    worker.on('failed', (job, err) => {
      // BullMQ says so after every try: a try that will be tried again is routine while the
      // database is away (every 15 s per job, worker/reports.ts), the last one is not.
      const last = !job || job.attemptsMade >= (job.opts.attempts ?? 1);
      if (last) this.deps.logger.error({ err, task_id: job?.data?.taskId }, 'results: could not record a worker report; its tries are used up, BullMQ keeps it in the failed set');
      else this.deps.logger.debug({ err: { message: err.message }, task_id: job.data?.taskId, tries: job.attemptsMade }, 'results: could not record a worker report yet; will try again');
    });
    return worker;
  }

  /** See Dispatcher.ensureRunning: a queue loop that ended is started again. */
  async ensureRunning(): Promise<void> {
    for (const [i, old] of this.workers.entries()) {
      if (old.isRunning()) continue;
      this.deps.logger.warn('results: its queue loop had stopped; starting a new one');
      this.workers[i] = this.reader();
      await old.close().catch(() => undefined);
    }
  }

  /** Stops for good (see lifecycle/part.ts); force: reports being stored are not waited for (BullMQ hands them out again). */
  close(options?: CloseOptions): Promise<void> {
    this.closer ??= closeOnce(async ({ force }) => {
      const workers = this.workers;
      this.workers = [];
      // Waited for at most a few seconds (scheduler/queues.ts, closeWorkers).
      await closeWorkers(workers, force ?? false, this.deps.logger, 'results');
    });
    return this.closer(options);
  }

  /**
   * Reports are applied in batches, one transaction per batch ("started" and "finished" ones
   * separately), one batch of each kind at a time: while one batch is stored the next fills
   * up. A flood of reports so costs a few transactions, and never takes every database
   * connection from the API and the dispatcher.
   */
  private readonly started = new Batcher<StartedEvent>(STARTED_BATCH, (batch) => this.storeStarted(batch));
  private readonly finished = new Batcher<FinishedEvent>(FINISHED_BATCH, (batch) => this.storeFinished(batch));

  private process(job: Job): Promise<void> {
    const event = EventsQueueJob.parse(job.data);
    switch (event.type) {
      case 'started-many':
        return Promise.all(event.reports.map((r) => this.started.add(r))).then(() => undefined);
      case 'finished-many':
        return Promise.all(event.reports.map((r) => this.finished.add(r))).then(() => undefined);
      case 'finished':
        return this.finished.add(event);
      case 'started':
        return this.started.add(event);
    }
  }

  private async storeStarted(batch: Array<BatchEntry<StartedEvent>>): Promise<void> {
    await this.deps.tasks.markRunningMany(batch.map(({ value: e }) => ({ taskId: e.taskId, attempt: e.attempt, startedAt: new Date(e.at) })));
    for (const b of batch) b.settle();
  }

  private async storeFinished(batch: Array<BatchEntry<FinishedEvent>>): Promise<void> {
    const { tasks, logger } = this.deps;
    // One report per task in a transaction (two attempts' reports can arrive together), and at
    // most FINISHED_LOG_BYTES of logs in memory: the rest wait for the next batch.
    const take: Array<{ entry: BatchEntry<FinishedEvent>; report: FinishReport }> = [];
    const seen = new Set<string>();
    let bytes = 0;
    for (const entry of batch) {
      const e = entry.value;
      if (seen.has(e.taskId) || (take.length > 0 && bytes >= FINISHED_LOG_BYTES)) {
        entry.defer();
        continue;
      }
      seen.add(e.taskId);
      const logs = await this.readLogs(e.taskId, e.attempt);
      bytes += logs.length;
      take.push({
        entry,
        report: {
          taskId: e.taskId,
          attempt: e.attempt,
          status: e.status === 'error' ? 'failed' : e.status,
          exitCode: e.exitCode,
          error: e.error,
          startedAt: e.startedAt ? new Date(e.startedAt) : null,
          finishedAt: new Date(e.finishedAt),
          logs,
          truncated: e.truncated,
          outputs: e.outputs,
          result: e.result,
        },
      });
    }
    const { results, released } = await tasks.finishMany(take.map((t) => t.report));
    // After the commit: a crash before these adds leaves queued rows the reconciler enqueues.
    const retries = new Map<number, TaskRow[]>();
    for (const [i, result] of results.entries()) {
      const e = take[i].entry.value;
      if (!result) {
        logger.info({ task_id: e.taskId, attempt: e.attempt }, 'results: ignored a report for an attempt the task no longer has');
        continue;
      }
      if (result.retryInMs === null) continue;
      const list = retries.get(result.retryInMs);
      if (list) list.push(result.task);
      else retries.set(result.retryInMs, [result.task]);
    }
    for (const [delay, rows] of retries) await this.deps.pending.add(rows, delay);
    if (released.length > 0 && !this.deps.offer?.(released)) await this.deps.pending.add(released);
    const pipe = this.deps.redis.pipeline();
    for (const { report } of take) pipe.expire(this.deps.names.logStream(report.taskId), LOG_STREAM_TTL_SECONDS);
    await pipe.exec();
    for (const [i, result] of results.entries()) {
      take[i].entry.settle();
      if (!result) continue;
      if (result.retryInMs !== null) this.deps.onRetry?.(result.task);
      else if (result.changed) this.deps.onFinished?.(result.task);
    }
  }

  private async readLogs(taskId: string, attempt: number): Promise<string> {
    const entries = await this.deps.redis.xrange(this.deps.names.logStream(taskId), '-', '+');
    const parts: string[] = [];
    for (const [, fields] of entries) {
      const f = fieldsOf(fields);
      if (f.a === String(attempt) && f.d !== undefined) parts.push(f.d);
    }
    // PostgreSQL text cannot hold NUL; a container printing binary output must not lose its log.
    const text = parts.join('');
    parts.length = 0;
    return text.includes('\u0000') ? text.replaceAll('\u0000', '\uFFFD') : text;
  }
}

export function fieldsOf(fields: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) out[fields[i]] = fields[i + 1];
  return out;
}
