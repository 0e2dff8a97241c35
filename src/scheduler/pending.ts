// The pending queues: one BullMQ queue per tenant, each in priority order (FIFO within a
// priority), so a tenant that floods its queue never stands in front of another tenant's work:
// the dispatcher takes the front of every tenant's queue into one batch and fair share decides
// among them (dispatcher.ts, fair-share.ts). The job id is the task id, so adding a task that
// already has a job is a no-op: callers (the API, the reconciler, the result recorder) may
// overlap safely. Tenants with a queue are listed in a Redis set the dispatcher watches.
import { EventEmitter } from 'node:events';
import { Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { TaskRow } from '../state/schema.ts';
import { PRIORITY_RANK } from '../domain/task.ts';
import type { RedisNames } from './queues.ts';

export type PendingRow = Pick<TaskRow, 'id' | 'priority' | 'tenant'>;

/** How many waiting tasks one change of capacity wakes, over all tenants. */
const WAKE_COUNT = 1_000;
/** ... and at least this many of each tenant's, however many tenants wait. */
const WAKE_MIN_PER_TENANT = 50;
/** How long a tenant's listing (SADD to the set of tenants) stands before an add sends it again. */
const LIST_EVERY_MS = 1_000;

/**
 * Events in this process: `tenant` the first time a tenant's queue is used, `wake` when capacity
 * changed, `added` (tenant, the best priority rank added) after tasks were queued.
 */
export class PendingQueues extends EventEmitter<{ tenant: [string]; wake: []; added: [string, number] }> {
  private readonly queues = new Map<string, Queue>();
  private readonly known = new Set<string>();
  private readonly listings = new Map<string, { at: number; done: Promise<unknown> }>();
  private wakeState: { again: boolean; done: Promise<void> } | null = null;

  constructor(
    private readonly connection: Redis,
    private readonly names: RedisNames,
    private readonly onError: (err: Error) => void = () => undefined,
  ) {
    super();
    // A new connection may be to a Redis that lost the set (a restart without persistence).
    connection.on('ready', () => this.listings.clear());
  }

  /** The tenant's pending queue (made on first use). */
  queue(tenant: string): Queue {
    let q = this.queues.get(tenant);
    if (!q) {
      q = new Queue(this.names.pendingQueue(tenant), { connection: this.connection, prefix: this.names.bullPrefix });
      q.on('error', this.onError);
      this.queues.set(tenant, q);
    }
    return q;
  }

  /** Queues the tasks, each in its tenant's queue; delayMs: a retry's backoff, which waking does not cut short. */
  async add(rows: PendingRow[], delayMs = 0): Promise<void> {
    const byTenant = new Map<string, PendingRow[]>();
    for (const r of rows) {
      const list = byTenant.get(r.tenant);
      if (list) list.push(r);
      else byTenant.set(r.tenant, [r]);
    }
    for (const [tenant, list] of byTenant) {
      const q = this.queue(tenant);
      const adds: Array<Promise<unknown>> = [];
      for (let i = 0; i < list.length; i += 1000) {
        adds.push(
          q.addBulk(
            list.slice(i, i + 1000).map((t) => ({
              name: 'place',
              data: delayMs > 0 ? { taskId: t.id, notBefore: Date.now() + delayMs } : { taskId: t.id },
              opts: {
                jobId: t.id,
                priority: PRIORITY_RANK[t.priority],
                delay: delayMs > 0 ? delayMs : undefined,
                removeOnComplete: true,
                removeOnFail: { count: 1000 },
              },
            })),
          ),
        );
      }
      adds.push(this.list(tenant));
      await Promise.all(adds);
      if (!this.known.has(tenant)) {
        this.known.add(tenant);
        this.emit('tenant', tenant);
      }
      this.emit('added', tenant, list.reduce((best, t) => Math.min(best, PRIORITY_RANK[t.priority]), Number.POSITIVE_INFINITY));
    }
  }

  /**
   * Lists the tenant in the set of tenants with a queue, which is how a scheduler in another
   * process learns of it. Not once per process: Redis may have lost the set without this
   * connection dropping (FLUSHALL), so it is sent again at most every LIST_EVERY_MS. Not on every
   * add either: a lone SADD on the shared connection costs a pipeline of its own, and ioredis copies
   * all of BullMQ's scripts onto each (about 50 µs, half that copy's cost on POST /tasks). Adds
   * within the window wait for the same SADD, so each add still fails if its listing failed.
   */
  private list(tenant: string): Promise<unknown> {
    const now = Date.now();
    const last = this.listings.get(tenant);
    if (last && now - last.at < LIST_EVERY_MS) return last.done;
    const done = this.connection.sadd(this.names.pendingTenantsKey, tenant).catch((err: unknown) => {
      if (this.listings.get(tenant)?.done === done) this.listings.delete(tenant);
      throw err;
    });
    this.listings.set(tenant, { at: now, done });
    return done;
  }

  /**
   * Wakes a worker waiting on a tenant's queue for a job to arrive. Jobs sent back to the front
   * of their class (Job.moveToWait) add no marker for a prioritized job in BullMQ, so a worker
   * blocked on the queue's marker would only see them at its next poll (up to 10 s later); this
   * adds the marker BullMQ adds for a new job (score 0), once per worker that may be blocked
   * (each blocked BZPOPMIN takes one member).
   */
  async nudge(tenant: string, workers = 1): Promise<void> {
    const members = Array.from({ length: workers }, (_, i) => [0, String(i)] as const).flat();
    await this.connection.zadd(this.queue(tenant).keys.marker, ...members);
  }

  /** Every tenant that has (had) a pending queue. */
  async tenants(): Promise<string[]> {
    const listed = await this.connection.smembers(this.names.pendingTenantsKey);
    for (const t of listed) this.known.add(t);
    return [...new Set([...listed, ...this.queues.keys()])].sort();
  }

  /** Every tenant's queue (for the board and the metrics). */
  async all(): Promise<Queue[]> {
    return (await this.tenants()).map((t) => this.queue(t));
  }

  /** Takes a task's job out of its tenant's queue (a cancelled task), if it is not being decided now. */
  async remove(taskId: string, tenant: string): Promise<void> {
    await this.queue(tenant).remove(taskId);
  }

  /**
   * Moves a task's job to another priority (aging), without reading the job first: BullMQ's
   * script needs only its id, and fails (a negative code, thrown) when the job is gone.
   */
  changePriority(taskId: string, tenant: string, priority: number): Promise<void> {
    return new Job(this.queue(tenant), 'place', undefined, {}, taskId).changePriority({ priority });
  }

  /**
   * Capacity changed (a task ended or was cancelled, a node registered or resumed): tasks that
   * were waiting for room are looked at now rather than at their next delay, the oldest of
   * every tenant, so one tenant's many waiting tasks do not crowd out another's.
   */
  wake(opts: { promote?: boolean } = {}): Promise<void> {
    // The dispatcher in this process looks again at the tasks it holds in memory (the front of
    // each tenant's queue), and promotes tasks that stepped aside once that leaves room. With
    // no dispatcher here (an API process of `--processes N`), or new nodes (`promote`: room
    // that may fit what the front does not), tasks that stepped aside are promoted now.
    this.emit('wake');
    if (opts.promote || this.listenerCount('wake') === 0) return this.promote();
    return Promise.resolve();
  }

  /** Promotes the oldest tasks that stepped aside for room, a share per tenant (see wake). */
  promote(): Promise<void> {
    // Many tasks ending at once need one promotion, not one each: while one runs, further calls
    // only ask for one more pass after it.
    if (this.wakeState) {
      this.wakeState.again = true;
      return this.wakeState.done;
    }
    const s = { again: false, done: Promise.resolve() };
    this.wakeState = s;
    s.done = (async () => {
      try {
        do {
          s.again = false;
          const tenants = await this.tenants();
          const each = Math.max(WAKE_MIN_PER_TENANT, Math.floor(WAKE_COUNT / Math.max(1, tenants.length)));
          await Promise.all(tenants.map((t) => promoteWaiting(this.queue(t), each)));
        } while (s.again);
      } finally {
        this.wakeState = null;
      }
    })();
    return s.done;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.queues.values()].map((q) => q.close()));
  }
}

async function promoteWaiting(queue: Queue, count: number): Promise<void> {
  // Job by job: Queue.promoteJobs moves delayed jobs to the plain wait list, which would lose
  // their priority order; Job.promote puts each back among the prioritized jobs.
  const waiting = await queue.getDelayed(0, count - 1);
  const now = Date.now();
  const forRoom = waiting.filter((job) => !(job.data?.notBefore > now));
  // BullMQ numbers jobs as they enter the prioritized set, which is FIFO within a priority:
  // promote them oldest first (the delayed set is ordered by when each delay ends instead).
  forRoom.sort((a, b) => a.timestamp - b.timestamp);
  await Promise.all(forRoom.map((job) => job.promote().catch(() => undefined)));
}
