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
//
// A job Redis refuses (out of memory under maxmemory, a replica that became read-only, a script
// error) is tried again, 250 ms then doubling to 5 s apart, for up to five minutes: the attempt
// stays listed as running by its node meanwhile, so its result is recorded once Redis takes it,
// rather than the task taken for lost and run again. Only after that, or once the worker is
// forced to stop (a graceful stop waits for the tries, up to its grace), does the report fail;
// its inbox entry then stays pending (worker/agent.ts).
import { setTimeout as sleep } from 'node:timers/promises';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
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

/**
 * How often the control plane tries again a job of reports it could not record (PostgreSQL
 * away): a fixed wait, so a report is applied within about this long once PostgreSQL is back.
 * The jobs backed off exponentially before (250 ms doubling, 20 attempts): after 34 minutes of
 * failures the next try came 34 minutes later, past the attempt's `reported` mark (below), and
 * node health then took the attempt for lost and ran the task again, its own report ignored as
 * stale when it came. Every wait is counted in Redis and every failed try logged by the control
 * plane, so not much shorter.
 */
const RETRY_EVERY_MS = 15_000;
/** What one failed try may take (the control plane's pool gives up connecting after 5 s). */
const TRY_MS = 5_000;
/** How long a job may wait in the queue before its first try (a control plane restarting, or behind). */
const FIRST_TRY_WITHIN_MS = 10 * 60_000;
/**
 * As many tries as end, with their waits, within the life of the attempt's `reported` mark
 * (RECORD_AFTER_DONE_S from when the job is queued): 150, over about 50 minutes. The mark is not
 * kept longer instead: there is one per attempt ended in its lifetime, in the nodes' Redis, and
 * the 20 exponential tries would have needed it for 36 hours. A job whose tries are all refused
 * fails (the control plane logs it); its mark then expires, and node health runs the task again.
 */
export const REPORT_ATTEMPTS = Math.floor((RECORD_AFTER_DONE_S * 1000 - FIRST_TRY_WITHIN_MS + RETRY_EVERY_MS) / (RETRY_EVERY_MS + TRY_MS));

const JOB_OPTIONS = { attempts: REPORT_ATTEMPTS, backoff: { type: 'fixed', delay: RETRY_EVERY_MS }, removeOnComplete: true, removeOnFail: { count: 1000 } } as const;

export interface RetryPolicy {
  /** How long a refused job is tried again before its reports fail (ms). */
  forMs: number;
  /** The first wait (ms); each next one doubles, up to maxDelayMs. */
  delayMs: number;
  maxDelayMs: number;
}

const RETRY: RetryPolicy = { forMs: 5 * 60_000, delayMs: 250, maxDelayMs: 5_000 };

export class Reports {
  private readonly starts = new Batcher<Started>(MAX_STARTED, async (batch) => {
    const job: StartedReports = { type: 'started-many', reports: batch.map((b) => b.value) };
    // Retried by BullMQ if recording fails; a report applied twice changes nothing (fenced by attempt).
    await this.retried(() => this.events.add(job.type, job, JOB_OPTIONS), `${batch.length} started report(s)`);
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
    await this.retried(() => this.events.addBulk(jobs.map((data) => ({ name: data.type, data, opts: JOB_OPTIONS }))), `${batch.length} finished report(s)`);
    // Only after the jobs are queued: a mark without its report would keep a lost result lost.
    // The reports are queued whatever becomes of the marks: they settle either way (a report
    // failed here would leave its inbox entry pending, and the attempt run again at the next start).
    await this.retried(async () => {
      const pipe = this.records.connection.pipeline();
      for (const { value: r } of batch) {
        const key = this.records.names.attemptKey(r.taskId, r.attempt);
        pipe.hset(key, 'reported', Date.now()).expire(key, RECORD_AFTER_DONE_S);
      }
      for (const [err] of (await pipe.exec()) ?? []) if (err) throw err;
    }, 'the marks of reported attempts').catch((err) =>
      this.logger?.warn({ err }, 'worker: reports were queued but their attempts could not be marked reported; the node health check may take one for lost and run it again'),
    );
    for (const b of batch) b.settle();
  });

  private stopping = false;
  private readonly stopped = new AbortController();

  /** records: where the attempts' records are (the nodes' connection, not the events queue's). */
  constructor(
    private readonly events: Queue,
    private readonly records: { connection: Redis; names: RedisNames },
    private readonly logger?: Logger,
    private readonly retry: RetryPolicy = RETRY,
  ) {}

  /** The worker is forced to stop: a refused job is not tried again, its reports fail at once. */
  stop(): void {
    this.stopping = true;
    this.stopped.abort();
  }

  /** Runs fn, again after a wait while Redis refuses it, within the retry policy. */
  private async retried<T>(fn: () => Promise<T>, what: string): Promise<T> {
    const since = Date.now();
    let delay = this.retry.delayMs;
    for (let refused = 0; ; refused++) {
      try {
        const out = await fn();
        if (refused > 0) this.logger?.info({ refused, seconds: Math.round((Date.now() - since) / 1000) }, `worker: Redis took ${what} after refusing them`);
        return out;
      } catch (err) {
        if (this.stopping || Date.now() + delay > since + this.retry.forMs) throw err;
        if (refused === 0) this.logger?.warn({ err }, `worker: Redis refused ${what}; trying again for up to ${Math.round(this.retry.forMs / 1000)} s`);
        await sleep(delay, undefined, { signal: this.stopped.signal }).catch(() => undefined);
        delay = Math.min(delay * 2, this.retry.maxDelayMs);
      }
    }
  }

  /** Resolves once the report is in the events queue (with the others of its batch). */
  started(event: Started): Promise<void> {
    return this.starts.add(event);
  }

  /** Resolves once the report is in the events queue (with the others of its batch). */
  finished(event: Finished): Promise<void> {
    return this.ends.add(event);
  }
}
