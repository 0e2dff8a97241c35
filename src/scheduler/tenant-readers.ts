// The readers of the tenants' pending queues: FETCHERS BullMQ workers per tenant, all handing
// the jobs they take to the dispatcher. A tenant's readers start the first time its queue is
// seen, restart when BullMQ's loop ended unexpectedly, and close after a while with nothing
// taken and nothing waiting (each is a Redis connection), to start again when work comes.
import { DelayedError, WaitingError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { PendingQueues } from './pending.ts';
import { closeWorkers, controlPlaneWorkerOptions, logQueueError, type RedisNames } from './queues.ts';

/**
 * BullMQ workers per tenant's queue. A BullMQ worker takes jobs one after another, a Redis round
 * trip each: one alone filled the dispatcher's batches at about 2,000 tasks a second on this
 * 2-core machine, whatever the cluster's size, which capped placement (eight did no better
 * than four: by then both cores are busy).
 */
export const FETCHERS = 4;

export interface TenantReadersDeps {
  connection: Redis;
  names: RedisNames;
  pending: PendingQueues;
  logger: Logger;
  /** How many jobs each reader takes at once. */
  concurrency: number;
  /** scheduler.idle_tenant_seconds, in ms. */
  idleTenantMs: number;
  /** Takes a job of the tenant's queue (the dispatcher's batch). */
  take(job: Job, token: string | undefined, tenant: string): Promise<void>;
  /** Whether the tenant has tasks waiting in the dispatcher's hands (held, or its queue paused): not idle. */
  busy(tenant: string): boolean;
}

export class TenantReaders {
  private readonly readers = new Map<string, Worker[]>();
  /** Tenants whose readers closed for idleness, and when each tenant's queue last handed out a job. */
  private readonly retired = new Set<string>();
  private readonly lastTaken = new Map<string, number>();

  constructor(private readonly deps: TenantReadersDeps) {}

  /** A tenant's readers (none while it is not read). */
  of(tenant: string): Worker[] {
    return this.readers.get(tenant) ?? [];
  }

  /**
   * Starts reading a tenant's queue (once), or again after its readers closed for idleness.
   *
   * Each reader's concurrency ramps up, one more job for each job it hands out, to the
   * dispatcher's `concurrency`; it starts over (from the jobs it still holds, plus one) when its
   * paused queue is read again. BullMQ's worker fetches jobs one Redis round trip after another
   * until it holds `concurrency` of them, and only then hands out the first: started, or resumed,
   * on a long queue with 500 per reader, the dispatcher got nothing for 2,000 round trips (1.8–6 s
   * in bench (e)'s drain at 1,000 nodes, with nothing placed meanwhile). Ramping, each job is
   * handed out as soon as it is fetched; the fetches are as many as before (docs/decisions.md,
   * "A reader's first job").
   */
  read(tenant: string): void {
    if (this.readers.has(tenant)) return;
    this.retired.delete(tenant);
    this.lastTaken.set(tenant, Date.now());
    const { names, connection, logger } = this.deps;
    const max = this.deps.concurrency;
    const workers = Array.from({ length: FETCHERS }, () => {
      // Jobs this reader's processor holds (handed to the dispatcher, not yet settled).
      let inHand = 0;
      const worker: Worker = new Worker(
        names.pendingQueue(tenant),
        (job, token) => {
          this.lastTaken.set(tenant, Date.now());
          inHand++;
          if (worker.concurrency < max) worker.concurrency = Math.min(max, Math.max(worker.concurrency, inHand) + 1);
          let taken: Promise<void>;
          try {
            taken = this.deps.take(job, token, tenant);
          } catch (err) {
            // take() threw before it returned a promise (a job it could not read): nothing is in hand.
            inHand--;
            throw err;
          }
          const settled = () => {
            inHand--;
          };
          taken.then(settled, settled);
          return taken;
        },
        // Starts at one job and ramps up (see read()).
        { ...controlPlaneWorkerOptions(connection, names), concurrency: 1 },
      );
      const restart = () => {
        worker.concurrency = Math.min(max, inHand + 1);
      };
      worker.on('resumed', restart);
      worker.on('error', (err) => logQueueError(logger, 'dispatcher', err));
      worker.on('failed', (job, err) => {
        if (err instanceof DelayedError || err instanceof WaitingError) return;
        logger.error({ err, task_id: job?.data?.taskId }, 'dispatcher: could not place a task; it stays queued and the reconciler retries it');
      });
      return worker;
    });
    this.readers.set(tenant, workers);
  }

  /** A task arrived for the tenant (in this process): its queue is read if its readers had closed. */
  arrived(tenant: string): void {
    if (this.retired.has(tenant)) this.read(tenant);
  }

  /**
   * Periodically, with every tenant that has a queue: those not read yet are read; one whose
   * readers closed is read again once its queue holds a job (one count each); idle readers close.
   */
  async watch(tenants: string[], running: () => boolean): Promise<void> {
    for (const tenant of new Set(tenants)) {
      if (this.readers.has(tenant) || !running()) continue;
      if (!this.retired.has(tenant) || (await this.queuedJobs(tenant)) > 0) this.read(tenant);
    }
    await this.retireIdle(running);
  }

  /** Jobs in a tenant's queue that a reader would take now or later. */
  private queuedJobs(tenant: string): Promise<number> {
    return this.deps.pending.queue(tenant).getJobCountByTypes('wait', 'prioritized', 'delayed');
  }

  /** Closes the readers of tenants whose queue handed out nothing for idleTenantMs and that hold nothing. */
  private async retireIdle(running: () => boolean): Promise<void> {
    const now = Date.now();
    for (const [tenant, ws] of [...this.readers]) {
      if (now - (this.lastTaken.get(tenant) ?? now) < this.deps.idleTenantMs || this.deps.busy(tenant)) continue;
      if ((await this.queuedJobs(tenant).catch(() => 1)) > 0 || !running() || this.readers.get(tenant) !== ws) continue;
      this.readers.delete(tenant);
      this.retired.add(tenant);
      this.deps.logger.debug({ tenant }, "dispatcher: closed an idle tenant's queue readers");
      await this.closeAll(ws);
    }
  }

  /**
   * BullMQ's worker loop can end on errors it does not expect (its keys vanished when Redis was
   * flushed, say): start new readers. A paused queue's loops end on their own (not restarted).
   */
  async ensureRunning(paused: (tenant: string) => boolean): Promise<void> {
    for (const [tenant, ws] of [...this.readers]) {
      if (ws.every((w) => w.isRunning()) || paused(tenant)) continue;
      this.deps.logger.warn({ tenant }, "dispatcher: a tenant's queue loop had stopped; starting a new one");
      this.readers.delete(tenant);
      await this.closeAll(ws);
      this.read(tenant);
    }
  }

  /** Closes every reader (the dispatcher stops); read() starts them again. */
  async close(force: boolean): Promise<void> {
    this.retired.clear();
    const ws = [...this.readers.values()].flat();
    this.readers.clear();
    await this.closeAll(ws, force);
  }

  /** Waited for at most a few seconds (queues.ts, closeWorkers: a BullMQ close can hang after Redis was away). */
  private closeAll(ws: Worker[], force = false): Promise<void> {
    return closeWorkers(ws, force, this.deps.logger, 'dispatcher');
  }
}
