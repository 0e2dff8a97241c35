// The pending queues: one BullMQ queue per tenant, each in priority order (FIFO within a
// priority), so a tenant that floods its queue never stands in front of another tenant's work:
// the dispatcher takes the front of every tenant's queue into one batch and fair share decides
// among them (dispatcher.ts, fair-share.ts). Tenants with a queue are listed in a Redis set the
// dispatcher watches.
//
// A task added alone (or after a delay: a retry's backoff) gets a job of its own, whose id is the
// task id, so adding it again is a no-op. Tasks added together (a batch, a workflow's released
// tasks, the reconciler's restores) go in GROUP jobs: up to GROUP_MAX tasks of one tenant and
// priority per job, `{taskIds, priority}`. BullMQ's scripts cost the same per job whatever it
// carries (an add when queued; a take and a finish when placed: most of Redis's work in a drain),
// so a group of 100 costs what one task did (docs/decisions.md, "Group jobs"). A group's id is
// its own, so a task may be in two jobs (a caller added it again): the dispatcher places only
// tasks still queued, and one task once per batch. Beside each group, Redis keeps which group
// holds each of its tasks (groupedTasks, for the reconciler) and its size (groupSizes, for the
// queue depth in tasks); both are written before the job, so a crash between leaves a mark
// without a job, which the reconciler sees as a task without one.
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { TaskRow } from '../state/schema.ts';
import { PRIORITY_RANK } from '../domain/task.ts';
import type { RedisNames } from './queues.ts';

export type PendingRow = Pick<TaskRow, 'id' | 'priority' | 'tenant'>;

/** The most tasks in one group job. */
export const GROUP_MAX = 100;

/** How many waiting tasks one change of capacity wakes, over all tenants. */
const WAKE_COUNT = 1_000;
/** ... and at least this many of each tenant's, however many tenants wait. */
const WAKE_MIN_PER_TENANT = 50;
/** How long a tenant's listing (SADD to the set of tenants) stands before an add sends it again. */
const LIST_EVERY_MS = 1_000;
/** Job removals in flight at once (removeMany). */
const REMOVE_AT_ONCE = 500;

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

  /**
   * Queues the tasks in their tenants' queues: alone, or in groups when several of a tenant's
   * share a priority (see the top); delayMs: a retry's backoff, which waking does not cut short
   * (such tasks get jobs of their own).
   */
  async add(rows: PendingRow[], delayMs = 0): Promise<void> {
    const byTenant = new Map<string, PendingRow[]>();
    for (const r of rows) {
      const list = byTenant.get(r.tenant);
      if (list) list.push(r);
      else byTenant.set(r.tenant, [r]);
    }
    for (const [tenant, list] of byTenant) {
      const q = this.queue(tenant);
      const { singles, groups } = delayMs > 0 ? { singles: list, groups: [] } : grouped(list);
      const jobs: Parameters<Queue['addBulk']>[0] = singles.map((t) => ({
        name: 'place',
        data: delayMs > 0 ? { taskId: t.id, notBefore: Date.now() + delayMs } : { taskId: t.id },
        opts: {
          jobId: t.id,
          priority: PRIORITY_RANK[t.priority],
          delay: delayMs > 0 ? delayMs : undefined,
          removeOnComplete: true,
          removeOnFail: { count: 1000 },
        },
      }));
      const adds: Array<Promise<unknown>> = [];
      if (groups.length > 0) {
        // The marks go first, on the same connection as the add (see the top).
        const marks: string[] = [];
        const sizes: string[] = [];
        for (const g of groups) {
          const jobId = `g-${randomUUID()}`;
          const rank = PRIORITY_RANK[g[0].priority];
          for (const t of g) marks.push(t.id, jobId);
          sizes.push(jobId, `${rank}:${g.length}`);
          jobs.push({
            name: 'place',
            data: { taskIds: g.map((t) => t.id), priority: g[0].priority },
            opts: { jobId, priority: rank, removeOnComplete: true, removeOnFail: { count: 1000 } },
          });
        }
        adds.push(this.connection.hset(this.names.groupedTasks(tenant), ...marks), this.connection.hset(this.names.groupSizes(tenant), ...sizes));
      }
      for (let i = 0; i < jobs.length; i += 1000) adds.push(q.addBulk(jobs.slice(i, i + 1000)));
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
   * A group job ended or goes back to its queue with `left` of its tasks (none: it ended): the
   * other tasks' marks go, and its size becomes what is left.
   */
  async groupChanged(tenant: string, jobId: string, rank: number, gone: string[], left: number): Promise<void> {
    const writes: Array<Promise<unknown>> = [];
    if (gone.length > 0) writes.push(this.connection.hdel(this.names.groupedTasks(tenant), ...gone));
    if (left > 0) writes.push(this.connection.hset(this.names.groupSizes(tenant), jobId, `${rank}:${left}`));
    else writes.push(this.connection.hdel(this.names.groupSizes(tenant), jobId));
    await Promise.all(writes);
  }

  /**
   * Tasks waiting in each tenant's queue (prioritized, not taken) by priority rank: BullMQ's count
   * of jobs per priority (one ZCOUNT each), plus what the group jobs among them hold beyond one
   * (one script per tenant, over its groups). Over every tenant, or those named.
   */
  async depthByRank(ranks: number[], tenants?: string[]): Promise<Record<string, number>> {
    const out: Record<string, number> = Object.fromEntries(ranks.map((r) => [String(r), 0]));
    await Promise.all(
      (tenants ?? (await this.tenants())).map(async (tenant) => {
        const q = this.queue(tenant);
        const [jobs, extra] = await Promise.all([
          q.getCountsPerPriority(ranks),
          this.connection.eval(GROUP_DEPTH, 2, this.names.groupSizes(tenant), q.keys.prioritized) as Promise<Array<[string, number]> | null>,
        ]);
        for (const r of ranks) out[String(r)] += jobs[String(r)] ?? 0;
        for (const [rank, n] of extra ?? []) if (rank in out) out[rank] += Number(n);
      }),
    );
    return out;
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
   * remove() for many tasks (a workflow's cancelled ones): at most REMOVE_AT_ONCE in flight, so
   * a wide workflow's thousands go out in pipelines rather than as one burst of commands.
   */
  async removeMany(rows: Array<Pick<PendingRow, 'id' | 'tenant'>>): Promise<void> {
    for (let i = 0; i < rows.length; i += REMOVE_AT_ONCE) {
      await Promise.all(rows.slice(i, i + REMOVE_AT_ONCE).map((r) => this.queue(r.tenant).remove(r.id)));
    }
  }

  /**
   * Moves a job (a task's, or a group's) to another priority (aging), without reading the job
   * first: BullMQ's script needs only its id, and fails (a negative code, thrown) when the job is gone.
   */
  async changePriority(jobId: string, tenant: string, priority: number): Promise<void> {
    await new Job(this.queue(tenant), 'place', undefined, {}, jobId).changePriority({ priority });
    if (jobId.startsWith('g-')) {
      const size = await this.connection.hget(this.names.groupSizes(tenant), jobId);
      if (size) await this.connection.hset(this.names.groupSizes(tenant), jobId, `${priority}:${size.split(':')[1]}`);
    }
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

/** A tenant's tasks split into those queued alone and groups of one priority (at most GROUP_MAX each, two or more). */
function grouped(list: PendingRow[]): { singles: PendingRow[]; groups: PendingRow[][] } {
  if (list.length < 2) return { singles: list, groups: [] };
  const byPriority = new Map<string, PendingRow[]>();
  for (const r of list) {
    const l = byPriority.get(r.priority);
    if (l) l.push(r);
    else byPriority.set(r.priority, [r]);
  }
  const singles: PendingRow[] = [];
  const groups: PendingRow[][] = [];
  for (const l of byPriority.values()) {
    for (let i = 0; i < l.length; i += GROUP_MAX) {
      const g = l.slice(i, i + GROUP_MAX);
      if (g.length === 1) singles.push(g[0]);
      else groups.push(g);
    }
  }
  return { singles, groups };
}

/**
 * KEYS[1] a tenant's group sizes (job id → "rank:tasks"), KEYS[2] its queue's prioritized set: for
 * the groups waiting there, the tasks they hold beyond one, summed by rank, as [rank, n] pairs.
 */
const GROUP_DEPTH = `
local sizes = redis.call('HGETALL', KEYS[1])
local extra = {}
for i = 1, #sizes, 2 do
  if redis.call('ZSCORE', KEYS[2], sizes[i]) then
    local rank, n = string.match(sizes[i + 1], '^(%d+):(%d+)$')
    if rank then extra[rank] = (extra[rank] or 0) + tonumber(n) - 1 end
  end
end
local out = {}
for rank, n in pairs(extra) do out[#out + 1] = {rank, n} end
return out`;
