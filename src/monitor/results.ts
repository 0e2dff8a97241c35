// Records what workers report: a container started, an attempt ended. Reports travel through a
// BullMQ queue, so they survive a control-plane restart and are applied at least once; the
// task store fences them by attempt, so applying one twice, or a stale one, changes nothing.
import { Worker, type Job, type Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import pLimit from 'p-limit';
import type { TaskRow } from '../state/schema.ts';
import type { TaskStore } from '../state/task-store.ts';
import { enqueuePending } from '../scheduler/pending.ts';
import { controlPlaneWorkerOptions, TaskEventJob, type RedisNames } from '../scheduler/queues.ts';

export interface ResultRecorderDeps {
  tasks: TaskStore;
  /** Released workflow tasks and retries are enqueued here. */
  pendingQueue: Queue;
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
/** How many "finished" reports are stored at once. */
const FINISH_CONCURRENCY = 16;

/** How long a finished task's live log stream lingers for followers still reading it. */
const LOG_STREAM_TTL_SECONDS = 120;

export class ResultRecorder {
  private worker: Worker | null = null;
  constructor(private readonly deps: ResultRecorderDeps) {}

  start(): void {
    const { names, connection } = this.deps;
    this.worker = new Worker(names.eventsQueue, (job) => this.process(job), { ...controlPlaneWorkerOptions(connection, names), concurrency: STARTED_BATCH * 2 });
    this.worker.on('error', (err) => this.deps.logger.error({ err }, 'results: queue error'));
    this.worker.on('failed', (job, err) =>
      this.deps.logger.error({ err, task_id: job?.data?.taskId }, 'results: could not record a worker report; BullMQ keeps it in the failed set'),
    );
  }

  /** See Dispatcher.ensureRunning: a queue loop that ended is started again. */
  async ensureRunning(): Promise<void> {
    if (!this.worker || this.worker.isRunning()) return;
    this.deps.logger.warn('results: its queue loop had stopped; starting a new one');
    const old = this.worker;
    this.worker = null;
    await old.close().catch(() => undefined);
    this.start();
  }

  async close(): Promise<void> {
    await this.worker?.close();
  }

  /**
   * "Started" reports are applied in batches, one transaction each, while the previous batch is
   * stored; "finished" ones one by one, at most FINISH_CONCURRENCY at once, so a flood of them
   * cannot take every database connection from the API and the dispatcher.
   */
  private started: Array<{ report: { taskId: string; attempt: number; startedAt: Date }; resolve(): void; reject(err: Error): void }> = [];
  private storingStarted = false;
  private readonly finishSlots = pLimit(FINISH_CONCURRENCY);

  private process(job: Job): Promise<void> {
    const event = TaskEventJob.parse(job.data);
    if (event.type === 'finished') return this.finishSlots(() => this.finished(event));
    return new Promise<void>((resolve, reject) => {
      this.started.push({ report: { taskId: event.taskId, attempt: event.attempt, startedAt: new Date(event.at) }, resolve, reject });
      if (!this.storingStarted) {
        this.storingStarted = true;
        setImmediate(() => void this.storeStarted());
      }
    });
  }

  private async storeStarted(): Promise<void> {
    try {
      while (this.started.length > 0) {
        const batch = this.started.splice(0, STARTED_BATCH);
        try {
          await this.deps.tasks.markRunningMany(batch.map((b) => b.report));
          for (const b of batch) b.resolve();
        } catch (err) {
          for (const b of batch) b.reject(err as Error);
        }
      }
    } finally {
      this.storingStarted = false;
    }
  }

  private async finished(event: Extract<TaskEventJob, { type: 'finished' }>): Promise<void> {
    const { tasks, logger } = this.deps;
    const logs = await this.readLogs(event.taskId, event.attempt);
    const status = event.status === 'error' ? 'failed' : event.status;
    const result = await tasks.finish({
      taskId: event.taskId,
      attempt: event.attempt,
      status,
      exitCode: event.exitCode,
      error: event.error,
      startedAt: event.startedAt ? new Date(event.startedAt) : null,
      finishedAt: new Date(event.finishedAt),
      logs,
      truncated: event.truncated,
    });
    if (!result) {
      logger.info({ task_id: event.taskId, attempt: event.attempt }, 'results: ignored a report for an attempt the task no longer has');
      return;
    }
    // After the commit: a crash before these adds leaves queued rows the reconciler enqueues.
    if (result.retryInMs !== null) {
      await enqueuePending(this.deps.pendingQueue, [result.task], result.retryInMs);
      this.deps.onRetry?.(result.task);
    }
    await enqueuePending(this.deps.pendingQueue, result.released);
    await this.deps.redis.expire(this.deps.names.logStream(event.taskId), LOG_STREAM_TTL_SECONDS);
    if (result.changed && result.retryInMs === null) this.deps.onFinished?.(result.task);
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
