// Takes queued tasks from the tenants' pending queues (each in priority order, FIFO within a
// priority) and hands each to a node's own queue. The fronts of all tenants' queues meet in one
// batch, where fair share (fair-share.ts) orders them across tenants and enforces quotas. The
// database decides: a job whose task is no longer queued is dropped, and a task already placed
// (we crashed after placing it) is handed over again under the same job id, which BullMQ
// deduplicates. A task that fits nowhere now waits (see "Waiting" below); one that can never fit
// fails at once with the reason.
import type { TenantPolicy } from '../auth/tenant-policy.ts';
import { NodeHandOver } from './hand-over.ts';
import { DelayedError, WaitingError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { NodeStore } from '../state/node-store.ts';
import type { TaskRow } from '../state/schema.ts';
import type { PlacementRequest, TaskStore } from '../state/task-store.ts';
import { Batcher, type BatchEntry, type BatchHandled } from './batcher.ts';
import type { PendingQueues, PendingRow } from './pending.ts';
import { PRIORITY_RANK } from '../domain/task.ts';
import { chooseNode, reserve, roomForAny, type PlacementChoice, type PlacementNode, type PlacementStrategy, type ScanCursor } from './placement.ts';
import { clusterCapacity, FairShareOrder, type Candidate } from './fair-share.ts';
import type { TenantStore } from '../state/tenant-store.ts';
import { TenantUsage } from './tenant-usage.ts';
import { isTenantHold, reasonKind } from '../domain/status-reasons.ts';
import { controlPlaneWorkerOptions, logQueueError, PendingJob, type RedisNames } from './queues.ts';
import { agedPriority } from './aging.ts';
import { closeOnce, type CloseOptions, type Part } from '../lifecycle/part.ts';

export interface DispatcherDeps {
  tasks: TaskStore;
  nodes: NodeStore;
  connection: Redis;
  /** The tenants' pending queues: taken from here, and where released workflow tasks go. */
  pending: PendingQueues;
  /** Tenants' weights and quotas, and what they hold now. */
  tenants: TenantStore;
  /** scheduler.critical_jumps_tenants: critical tasks go first whatever their tenant's share. */
  criticalJumpsTenants?: boolean;
  names: RedisNames;
  logger: Logger;
  logCapBytes: number;
  strategy: PlacementStrategy;
  /** A waiting task gains one priority class per this many seconds. */
  agingSeconds: number;
  /** What each tenant's tasks may ask beyond the restricted container profile (tenants.policies). */
  tenantPolicies?: Record<string, TenantPolicy>;
  /** Called when a task is placed, with the time it waited since it was accepted. */
  onPlaced?(task: TaskRow): void;
  onFailed?(task: TaskRow): void;
}

const WAIT_RETRY_MS = 500;

/**
 * A waiting task stepped aside (the cluster has room, but not for it) is promoted as soon as
 * room appears for its shape (see asideShapes), and failing that comes back after 30 s, doubling
 * each time it is found waiting again, up to 5 minutes, each wait varied by up to a fifth so a
 * large backlog does not come back all at once.
 */
export function waitFailsafeMs(timesTaken: number, random = Math.random()): number {
  const ms = Math.min(300_000, 30_000 * 2 ** Math.max(0, Math.min(timesTaken - 1, 4)));
  return Math.round(ms * (0.8 + 0.2 * random));
}

/** The most shapes of tasks waiting outside the held front remembered (the newest). */
const ASIDE_SHAPES = 64;

/** The most tasks decided together (a 1,000-wide fan-out is one placement transaction). */
const MAX_BATCH = 1000;

/**
 * BullMQ workers per tenant's queue, each taking up to MAX_BATCH / 2 jobs. A BullMQ worker takes
 * jobs one after another, a Redis round trip each: one alone filled batches at about 2,000
 * tasks a second on this 2-core machine, whatever the cluster's size, which capped placement.
 */
const FETCHERS = 4;

/** How often the dispatcher looks for tenants whose pending queue it does not read yet. */
const TENANT_WATCH_MS = 500;

/**
 * Waiting. Of each tenant's tasks that must wait, the best this many (priority, aged, then
 * age) are held in memory (their jobs stay active, their locks renewed), so every batch decided
 * when capacity frees has the front of every waiting tenant's queue in it, and fair share
 * chooses among all of them, not among whichever jobs Redis handed over first. Every batch
 * takes them in, and they are looked at again on every wake and every HELD_RETRY_MS.
 *
 * The tenant's other waiting tasks (docs/decisions.md, "Waiting"):
 * - while the cluster has room for nothing, go back to its queue, in front of their priority
 *   class (BullMQ's moveToWait), and the queue is paused: a backlog on a full cluster costs
 *   nothing while nothing changes. The queue is read again when the front held in memory thins
 *   out, when a task arrives that would go before one held, when room appears that fits the
 *   shape of a task in it (asideShapes), and after a failsafe delay: RESUME_FIRST_MS, doubling
 *   while nothing of the tenant is placed, up to RESUME_MAX_MS (each read of a paused queue
 *   takes up to FETCHERS × MAX_BATCH / 2 jobs and sends back those that still wait);
 * - while there is room, but not for them, step aside into the delayed set (waitFailsafeMs),
 *   so the queue keeps flowing for tasks behind them that fit.
 */
const HELD_PER_TENANT = 100;
const HELD_RETRY_MS = 1_000;
const RESUME_FIRST_MS = 30_000;
const RESUME_MAX_MS = 300_000;
/** A paused queue is read again for arrivals at most this often. */
const ARRIVAL_RESUME_MS = 100;

/**
 * A task waiting in a batch: a pending job taken from a tenant's queue, or a task offered
 * directly (offer(): workflow tasks a finished parent released), which has no job. seq is its
 * arrival (FIFO within a priority, as BullMQ handed it out).
 */
interface Taken {
  job: Job | null;
  token: string | undefined;
  taskId: string;
  /** An offered task's row, to queue it should it have to wait. */
  row?: PendingRow;
  seq: number;
  /** Set when it is held in memory (the tenant it is held under). */
  tenant?: string;
  /** While waiting: its aged priority and creation time, which decide which waiting tasks are held. */
  rank?: number;
  createdAt?: number;
  /** While waiting: what it asks (for remembering the shapes of tasks stepped aside). */
  shape?: Shape;
}
type Pending = BatchEntry<Taken>;

type Waiting = { p: Pending; task: PlacementRequest; reason: string };
type Shape = Pick<PlacementRequest, 'cpu' | 'memoryMb' | 'gpu' | 'nodeSelector'>;

export class Dispatcher implements Part {
  /** FETCHERS BullMQ workers per tenant's pending queue; all feed the one batcher. */
  private readonly workers = new Map<string, Worker[]>();
  private running = false;
  private watch: NodeJS.Timeout | null = null;
  private closer?: (options?: CloseOptions) => Promise<void>;
  private readonly nodes: NodeHandOver;
  private readonly usage: TenantUsage;
  private readonly onTenant = (tenant: string) => {
    if (this.running) this.readTenant(tenant);
  };
  /** Waiting tasks held in memory, by tenant (see HELD_PER_TENANT). */
  private held = new Map<string, Pending[]>();
  private heldTimer: NodeJS.Timeout | null = null;
  private readonly onWake = () => {
    // Tasks held in memory are the front of their queues: they are decided again, and a batch
    // of them that leaves room promotes tasks that stepped aside. Holding none, promote now.
    if (this.holding.size === 0 || ![...this.holding.values()].some((s) => s.size > 0)) void this.deps.pending.promote().catch(() => undefined);
    this.lookAgainAtHeld();
  };
  /**
   * The shapes of tasks waiting outside the held front, stepped aside or in a paused queue (the
   * newest ASIDE_SHAPES): when a batch leaves room that one of them fits, those that stepped aside
   * are promoted and paused queues read again, rather than waiting out a failsafe delay.
   */
  private readonly asideShapes = new Map<string, Shape>();
  /** Tenants whose queue is paused (see Waiting), with when the failsafe reads it again. */
  private readonly paused = new Map<string, { resumeAt: number; backoffMs: number; arrivalAt: number }>();
  private readonly onAdded = (tenant: string, bestRank: number) => this.arrived(tenant, bestRank);
  /** Every task held in memory by tenant, whether in this.held or back in a batch, until its job ends. */
  private readonly holding = new Map<string, Set<Taken>>();

  constructor(private readonly deps: DispatcherDeps) {
    this.nodes = new NodeHandOver(deps);
    this.usage = new TenantUsage(deps.tenants);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.deps.pending.on('tenant', this.onTenant);
    this.deps.pending.on('wake', this.onWake);
    this.deps.pending.on('added', this.onAdded);
    this.heldTimer = setInterval(() => {
      this.resumeThinned();
      this.resumeDue();
      this.lookAgainAtHeld();
    }, HELD_RETRY_MS);
    const look = () => {
      this.deps.pending
        .tenants()
        .then((ts) => ['default', ...ts].forEach((t) => this.onTenant(t)))
        .catch((err) => this.deps.logger.debug({ err }, 'dispatcher: could not list the tenants with pending work'));
    };
    look();
    this.watch = setInterval(look, TENANT_WATCH_MS);
  }

  /** Starts reading a tenant's pending queue (once). */
  private readTenant(tenant: string): void {
    if (this.workers.has(tenant)) return;
    const { names, connection } = this.deps;
    const workers = Array.from({ length: FETCHERS }, () => {
      const worker = new Worker(names.pendingQueue(tenant), (job, token) => this.process(job, token), {
        ...controlPlaneWorkerOptions(connection, names),
        concurrency: MAX_BATCH / 2,
      });
      worker.on('error', (err) => logQueueError(this.deps.logger, 'dispatcher', err));
      worker.on('failed', (job, err) => {
        if (err instanceof DelayedError || err instanceof WaitingError) return;
        this.deps.logger.error({ err, task_id: job?.data?.taskId }, 'dispatcher: could not place a task; it stays queued and the reconciler retries it');
      });
      return worker;
    });
    this.workers.set(tenant, workers);
  }

  /**
   * BullMQ's worker loop can end on errors it does not expect (its keys vanished when Redis was
   * flushed, say): start a new one. Called periodically by the control plane.
   */
  async ensureRunning(): Promise<void> {
    if (!this.running) return;
    for (const [tenant, ws] of this.workers) {
      // A paused queue's loop ends once nothing it took is still being decided.
      if (ws.every((w) => w.isRunning()) || this.paused.has(tenant)) continue;
      this.deps.logger.warn({ tenant }, "dispatcher: a tenant's queue loop had stopped; starting a new one");
      this.workers.delete(tenant);
      await Promise.all(ws.map((w) => w.close().catch(() => undefined)));
      this.readTenant(tenant);
    }
  }

  /** Stops taking jobs (when this replica stops leading); start() takes them again. */
  async stop(force = false): Promise<void> {
    this.running = false;
    this.deps.pending.off('tenant', this.onTenant);
    this.deps.pending.off('wake', this.onWake);
    this.deps.pending.off('added', this.onAdded);
    this.paused.clear();
    if (this.watch) clearInterval(this.watch);
    if (this.heldTimer) clearInterval(this.heldTimer);
    this.watch = this.heldTimer = null;
    // Held jobs go back to their queues (delayed briefly), so closing the workers does not wait on them.
    const held = [...this.held.values()].flat();
    this.held.clear();
    await Promise.all(held.map((p) => this.delay(p, WAIT_RETRY_MS)));
    const ws = [...this.workers.values()].flat();
    this.workers.clear();
    await Promise.all(ws.map((w) => w.close(force)));
  }

  /** Stops for good (see lifecycle/part.ts); force: placements in flight are not waited for. */
  close(options?: CloseOptions): Promise<void> {
    this.closer ??= closeOnce(async ({ force }) => {
      const closing = [this.stop(force), this.nodes.close()];
      for (const r of await Promise.allSettled(closing)) {
        if (r.status === 'rejected') this.deps.logger.warn({ err: r.reason }, 'dispatcher: error while closing');
      }
    });
    return this.closer(options);
  }

  /**
   * Jobs are decided in batches: BullMQ hands out up to `concurrency` jobs (priority, then
   * FIFO) and each waits here until the batch it joined is decided. One batch at a time, sorted
   * by priority then arrival, against one view of the nodes that each decision updates: the
   * highest-priority task gets the free room, and the whole batch costs a few statements
   * instead of a transaction per task. While one batch is stored, the next fills up, so batches
   * grow with the load and a lone task is decided at once.
   */
  private readonly batcher = new Batcher<Taken>(MAX_BATCH, (batch) => this.decideBatch(batch));
  private arrivals = 0;

  private process(job: Job, token: string | undefined): Promise<void> {
    const { taskId } = PendingJob.parse(job.data);
    return this.decide({ job, token, taskId, seq: this.arrivals++, rank: job.priority });
  }

  /**
   * Workflow tasks just released (queued, committed) are decided at once, without a trip
   * through their tenant's queue, while nothing waits for room: with room for all, the queue
   * would only hand them back in the same order, a Redis round trip and two scripts per task
   * later (a 1,000-wide fan-out spent half its release latency there). Returns false, and the
   * caller queues them, when this dispatcher does not run or tasks wait for room (then every
   * tenant's queue order and fair share decide). One that must wait after all, or one not
   * decided when the dispatcher stops, is queued then; a crash before either leaves a queued
   * task without a job, which the reconciler queues.
   */
  offer(rows: PendingRow[]): boolean {
    if (!this.running || this.congested()) return false;
    for (const row of rows) {
      const taken: Taken = { job: null, token: undefined, taskId: row.id, row, seq: this.arrivals++, rank: PRIORITY_RANK[row.priority] };
      this.decide(taken).catch(async (err) => {
        if (err instanceof DelayedError || err instanceof WaitingError) return;
        this.deps.logger.warn({ err, task_id: row.id }, 'dispatcher: could not place a released task at once; queueing it');
        await this.deps.pending.add([row]).catch(() => undefined);
      });
    }
    return true;
  }

  /** Whether tasks wait for room: held in memory, or in a paused tenant's queue. */
  private congested(): boolean {
    if (this.paused.size > 0) return true;
    for (const set of this.holding.values()) if (set.size > 0) return true;
    return false;
  }

  private decide(taken: Taken): Promise<void> {
    const done = this.batcher.add(taken);
    const ended = () => {
      if (taken.tenant) this.holding.get(taken.tenant)?.delete(taken);
    };
    done.then(ended, ended);
    return done;
  }

  private async decideBatch(batch: Pending[]): Promise<BatchHandled> {
    const { tasks, nodes } = this.deps;
    // Every batch has the tasks held in memory in it: room this batch finds goes to the front of
    // each tenant's queue, not to tasks that came after it (read again from a paused queue, say).
    if (this.held.size > 0) {
      for (const p of [...this.held.values()].flat()) {
        if (p.settled || !p.held) continue;
        p.unhold();
        batch.push(p);
      }
      this.held = new Map();
    }
    batch.sort((a, b) => (a.value.rank ?? 0) - (b.value.rank ?? 0) || a.value.seq - b.value.seq);
    const entries = batch.map((p) => ({ p, data: { taskId: p.value.taskId } }));
    const [requests, tenants] = await Promise.all([tasks.placementRequests(entries.map((e) => e.data.taskId)), this.usage.states()]);
    const rows = new Map(requests.map((t) => [t.id, t]));
    const handOver: TaskRow[] = [];
    const placedBefore: string[] = [];
    // Waiting tasks this batch holds in memory: they join this.held once it is decided (the
    // tail then settles only what was not held, so one taken into another batch is left alone).
    const heldHere: Pending[] = [];
    let undecided = entries;
    for (let tries = 0; tries < 3 && undecided.length > 0; tries++) {
      const view = await nodes.placementView();
      const plans: Array<{ taskId: string; nodeId: string }> = [];
      const waits: Waiting[] = [];
      const never: Waiting[] = [];
      const byTask = new Map<string, Pending>();
      const candidates: Array<Candidate & { p: Pending; task: PlacementRequest }> = [];
      for (const { p, data } of undecided) {
        const task = rows.get(data.taskId);
        if (!task || (task.status === 'scheduled' && !task.nodeId) || (task.status !== 'queued' && task.status !== 'scheduled')) {
          p.settle(); // the create was rolled back after the enqueue, or the task moved on
          continue;
        }
        if (task.status === 'scheduled') {
          placedBefore.push(task.id); // placed before a crash: hand it over again (deduplicated)
          byTask.set(task.id, p);
          continue;
        }
        candidates.push({ tenant: task.tenant, priority: task.priority, demand: task, order: p.value.seq, p, task });
      }
      // Within a tenant: priority class, aged by the time waited (held tasks keep their jobs'
      // priority, so it is worked out here), then age (jobs sent back to their queue come back
      // in no particular order within their class), then arrival.
      const now = Date.now();
      for (const c of candidates) {
        c.p.value.rank = agedPriority(c.task.priority, c.task.createdAt, this.deps.agingSeconds, now);
        c.p.value.createdAt = c.task.createdAt.getTime();
        c.p.value.shape = { cpu: c.task.cpu, memoryMb: c.task.memoryMb, gpu: c.task.gpu, nodeSelector: c.task.nodeSelector };
      }
      candidates.sort((a, b) => byRank(a.p, b.p));
      // Fair share across tenants: the candidate of the tenant with the least weighted dominant
      // share goes first; its tenant's quota is checked, and its usage grows as it is placed.
      const order = new FairShareOrder(candidates, tenants, clusterCapacity(view), { criticalJumpsTenants: this.deps.criticalJumpsTenants });
      // Within a batch nodes only fill up: a shape that fitted nowhere fits nowhere for the rest
      // of it, so the many waiting tasks of a full cluster cost one scan of the nodes per shape.
      const noRoom = new Map<string, PlacementChoice>();
      const cursor: ScanCursor = { next: Math.floor(Math.random() * view.length) };
      for (let c = order.next(); c !== null; c = order.next()) {
        const shape = `${c.task.cpu}|${c.task.memoryMb}|${c.task.gpu}|${JSON.stringify(c.task.nodeSelector)}`;
        const choice = noRoom.get(shape) ?? chooseNode(c.task, view, this.deps.strategy, cursor);
        if (choice.kind === 'wait') noRoom.set(shape, choice);
        if (choice.kind === 'node') {
          reserve(choice.node, c.task);
          plans.push({ taskId: c.task.id, nodeId: choice.node.id });
          byTask.set(c.task.id, c.p);
          order.placed(c);
        } else {
          order.unplaced(c);
          if (choice.kind === 'wait') waits.push({ p: c.p, task: c.task, reason: choice.reason });
          else never.push({ p: c.p, task: c.task, reason: choice.reason });
        }
      }
      // Waiting for room while its tenant holds more than its share: fairness is the reason.
      for (const w of waits) w.reason = order.fairnessReason(w.task.tenant) ?? w.reason;
      for (const { candidate, reason } of order.quotaHeld()) waits.push({ p: candidate.p, task: candidate.task, reason });
      for (const n of never) await this.failNever(n.p, n.task, n.reason);
      await this.wait(waits, heldHere, roomForAny(view));
      const { placed, refused, gone } = await tasks.placeMany(plans);
      for (const t of placed) {
        this.deps.onPlaced?.(t);
        handOver.push(t);
        this.usage.placed(tenants, t);
        const pause = this.paused.get(t.tenant);
        if (pause) pause.backoffMs = RESUME_FIRST_MS;
      }
      for (const id of gone) byTask.get(id)!.settle();
      // Room is left after this batch: tasks that were waiting may fit now (a node that came
      // up frees room for many more than one wake brings back).
      if ((placed.length > 0 && waits.length === 0) || this.roomForAside(view)) {
        // Tasks waiting outside the held front may fit: promote those that stepped aside and
        // read the paused queues again.
        void this.deps.pending.promote().catch(() => undefined);
        for (const tenant of [...this.paused.keys()]) this.resume(tenant);
      }
      // A node that changed since the choice (drained, or room taken): choose again.
      const again = new Set(refused);
      undecided = undecided.filter((e) => again.has(e.data.taskId));
    }
    await Promise.all(undecided.map(({ p }) => this.delay(p, WAIT_RETRY_MS)));
    // The next batch is decided while this one's tasks are handed to their nodes; their jobs
    // end only once handed over (a crash before leaves them to be taken again, and a placed
    // task is then handed over again).
    // What the tail settles is fixed now: tasks held from here on may be taken into the next
    // batch (decideBatch pulls every held task in) while this tail still runs.
    const settleAfter = entries.filter(({ p }) => !p.held).map(({ p }) => p);
    await this.keepHeld(heldHere);
    const tail = (async () => {
      try {
        if (placedBefore.length > 0) handOver.push(...(await tasks.getMany(placedBefore)).filter((t) => t.status === 'scheduled' && t.nodeId));
        await this.nodes.handOver(handOver);
        for (const p of settleAfter) p.settle();
      } finally {
        this.resumeThinned();
      }
    })();
    return { tail };
  }

  /** Remembers the shape of a task that waits outside the held front (stepped aside, or in a paused queue). */
  private rememberShape(shape: Shape | undefined): void {
    if (!shape) return;
    const key = JSON.stringify(shape);
    this.asideShapes.delete(key);
    this.asideShapes.set(key, shape);
    if (this.asideShapes.size > ASIDE_SHAPES) this.asideShapes.delete(this.asideShapes.keys().next().value!);
  }

  /**
   * Whether the room the nodes have now fits a task waiting outside the held front (at most
   * ASIDE_SHAPES scans of the nodes, after a cheap look for any room at all). The shapes that fit
   * are forgotten: the tasks brought back for them that still cannot be placed bring them back.
   */
  private roomForAside(view: PlacementNode[]): boolean {
    if (this.asideShapes.size === 0 || !roomForAny(view)) return false;
    let fits = false;
    for (const [key, shape] of this.asideShapes) {
      if (chooseNode(shape, view, this.deps.strategy, { next: 0 }).kind !== 'node') continue;
      this.asideShapes.delete(key);
      fits = true;
    }
    return fits;
  }

  /** Stops taking a tenant's jobs (its waiting tasks beyond those held stay in its queue). */
  private async pause(tenant: string): Promise<void> {
    const workers = this.workers.get(tenant);
    if (!workers || !this.running) return;
    const was = this.paused.get(tenant);
    const backoffMs = was ? Math.min(RESUME_MAX_MS, was.backoffMs * 2) : RESUME_FIRST_MS;
    this.paused.set(tenant, { resumeAt: Date.now() + backoffMs, backoffMs, arrivalAt: was?.arrivalAt ?? 0 });
    await Promise.all(workers.filter((w) => !w.isPaused()).map((w) => w.pause(true)));
  }

  /** Reads a paused tenant's queue again. */
  private resume(tenant: string): void {
    const p = this.paused.get(tenant);
    if (!p) return;
    this.paused.delete(tenant);
    const paused = (this.workers.get(tenant) ?? []).filter((w) => w.isPaused());
    if (paused.length === 0) return;
    Promise.all(paused.map((w) => w.resume()))
      .then(() => this.deps.pending.nudge(tenant, FETCHERS))
      .catch((err) => this.deps.logger.warn({ err, tenant }, "dispatcher: could not read a paused tenant's queue again"));
  }

  /**
   * The failsafe: paused queues whose delay is over are read again, and so are those holding a
   * task that would go before one held (it arrived through another process, an API process of
   * `--processes N`, whose adds this one does not hear of): one ZCOUNT per better class.
   */
  private resumeDue(): void {
    const now = Date.now();
    for (const [tenant, p] of this.paused) {
      if (p.resumeAt <= now) {
        this.resume(tenant);
        continue;
      }
      const worst = this.worstHeldRank(tenant);
      if (worst === null || worst <= 1) continue;
      const better = Array.from({ length: worst - 1 }, (_, i) => i + 1);
      this.deps.pending
        .queue(tenant)
        .getCountsPerPriority(better)
        .then((counts) => {
          if (Object.values(counts).some((n) => n > 0)) this.resume(tenant);
        })
        .catch((err) => this.deps.logger.debug({ err, tenant }, "dispatcher: could not count a paused tenant's queue"));
    }
  }

  /** The lowest class (highest rank) among a tenant's held tasks, or null when it holds fewer than HELD_PER_TENANT. */
  private worstHeldRank(tenant: string): number | null {
    const held = this.holding.get(tenant);
    if (!held || held.size < HELD_PER_TENANT) return null;
    let worst = Number.NEGATIVE_INFINITY;
    for (const h of held) worst = Math.max(worst, h.rank ?? 0);
    return worst;
  }

  /** Tenants whose front held in memory thinned out (placed, or cancelled) read their queue again. */
  private resumeThinned(): void {
    for (const tenant of [...this.paused.keys()]) {
      if ((this.holding.get(tenant)?.size ?? 0) < HELD_PER_TENANT / 2) this.resume(tenant);
    }
  }

  /** Tasks arrived in a paused tenant's queue: it is read if one would go before a task held. */
  private arrived(tenant: string, bestRank: number): void {
    const p = this.paused.get(tenant);
    if (!p) return;
    const worst = this.worstHeldRank(tenant);
    if (worst !== null && bestRank >= worst) return;
    const now = Date.now();
    if (now - p.arrivalAt < ARRIVAL_RESUME_MS) return;
    p.arrivalAt = now;
    this.resume(tenant);
  }

  /** Keeps a batch's held tasks for the next wake; a dispatcher that stopped puts them back in their queues. */
  private async keepHeld(list: Pending[]): Promise<void> {
    if (list.length === 0) return;
    if (!this.running) {
      await Promise.all(list.map((p) => this.delay(p, WAIT_RETRY_MS)));
      return;
    }
    for (const p of list) {
      const tenant = p.value.tenant!;
      const held = this.held.get(tenant);
      if (held) held.push(p);
      else this.held.set(tenant, [p]);
    }
  }

  /**
   * Moves a job to the delayed set and ends its processing. A job that cannot be moved (its lock
   * or key is gone: another taker has it, or it was removed) is let go; the database and the
   * reconciler still have the task.
   */
  private async delay(p: Pending, ms: number): Promise<void> {
    const { job } = p.value;
    if (!job) return this.queueOffered(p);
    try {
      await job.moveToDelayed(Date.now() + ms, p.value.token);
    } catch (err) {
      this.deps.logger.debug({ err, task_id: job.id }, 'dispatcher: could not delay a waiting job; leaving it to the reconciler');
    }
    p.settle(new DelayedError());
  }

  /** An offered task (no job) that must wait after all goes to its tenant's queue. */
  private async queueOffered(p: Pending): Promise<void> {
    try {
      await this.deps.pending.add([p.value.row!]);
    } catch (err) {
      this.deps.logger.warn({ err, task_id: p.value.taskId }, 'dispatcher: could not queue a released task that must wait; the reconciler will');
    }
    p.settle();
  }

  /** Brings the waiting tasks held in memory back into the next batch. */
  private lookAgainAtHeld(): void {
    if (this.held.size === 0) return;
    const all = [...this.held.values()].flat();
    this.held = new Map();
    this.batcher.readd(all);
  }

  /** Fails a task that can never run here (it may release or skip workflow children). */
  private async failNever(p: Pending, task: PlacementRequest, reason: string): Promise<void> {
    const failed = await this.deps.tasks.failQueued(task.id, reason);
    if (failed) {
      this.deps.onFailed?.(failed.task);
      await this.deps.pending.add(failed.released);
    }
    p.settle();
  }

  /**
   * Tasks that fit nowhere now step aside: their status_reason says why; of each tenant's
   * waiting tasks, the best HELD_PER_TENANT (with those already held) are held in memory, and
   * the rest go back to the tenant's queue, which is paused (see Waiting at the top).
   */
  private async wait(waits: Waiting[], heldHere: Pending[], roomForSome: boolean): Promise<void> {
    if (waits.length === 0) return;
    // A hold by fair share or quota also goes into the task's history when it begins.
    await this.deps.tasks.setStatusReasons(
      waits
        .filter((w) => w.task.statusReason !== w.reason)
        .map((w) => ({ taskId: w.task.id, reason: w.reason, event: isTenantHold(w.reason) && reasonKind(w.reason) !== reasonKind(w.task.statusReason) })),
      'queued',
    );
    if (!this.running) {
      await Promise.all(waits.map(({ p }) => this.delay(p, WAIT_RETRY_MS)));
      return;
    }
    // Per tenant, the best of those held already (in memory, or by this batch) and the new are
    // held; the rest go back. Decided synchronously, before any await: a wake may take
    // this.held meanwhile.
    const fresh = new Map<string, Pending[]>();
    for (const { p, task } of waits) {
      p.value.tenant = task.tenant;
      fresh.set(task.tenant, [...(fresh.get(task.tenant) ?? []), p]);
    }
    const back: Pending[] = [];
    const pausing: string[] = [];
    for (const [tenant, news] of fresh) {
      const held = this.held.get(tenant) ?? [];
      const here = heldHere.filter((p) => p.value.tenant === tenant);
      const all = [...held, ...here, ...news].sort(byRank);
      const keep = new Set(all.slice(0, HELD_PER_TENANT));
      if (held.length > 0) this.held.set(tenant, held.filter((p) => keep.has(p)));
      for (const p of here) if (!keep.has(p)) heldHere.splice(heldHere.indexOf(p), 1);
      for (const p of news) {
        if (!keep.has(p)) continue;
        heldHere.push(p);
        p.hold();
        let set = this.holding.get(tenant);
        if (!set) this.holding.set(tenant, (set = new Set()));
        set.add(p.value);
      }
      const dropped = all.slice(HELD_PER_TENANT);
      back.push(...dropped);
      if (dropped.length > 0 && !roomForSome) pausing.push(tenant);
    }
    if (roomForSome) {
      // Room for some shape exists, so the queue must keep flowing: tasks arriving behind these
      // may fit where these do not. They step out of its way into the delayed set.
      await Promise.all(back.map((p) => this.stepAside(p)));
      return;
    }
    // No room for anything: the tenant's queue pauses (before the jobs go back, so they are not
    // taken again at once) and they wait in it, in order, at no cost.
    await Promise.all(pausing.map((t) => this.pause(t)));
    await Promise.all(back.map((p) => this.sendBack(p)));
  }

  /**
   * A waiting task that goes to the delayed set, until a wake that leaves room promotes it or
   * its failsafe delay (waitFailsafeMs) passes; aged as in sendBack.
   */
  private async stepAside(p: Pending): Promise<void> {
    const { job, rank } = p.value;
    if (!job) return this.queueOffered(p);
    this.rememberShape(p.value.shape);
    if (rank !== undefined && rank !== job.priority) await job.changePriority({ priority: rank }).catch(() => undefined);
    await this.delay(p, waitFailsafeMs(job.attemptsStarted));
  }

  /**
   * Sends a waiting task's job back to its tenant's queue, in front of its priority class (which
   * aging may have raised), and ends its processing. A job that cannot be moved (its lock or key
   * is gone) is let go; the database and the reconciler still have the task.
   */
  private async sendBack(p: Pending): Promise<void> {
    const { job, token, rank } = p.value;
    if (!job) return this.queueOffered(p);
    this.rememberShape(p.value.shape);
    try {
      // Aging: a waiting task moves up one priority class per aging_seconds waited, so a
      // steady flow of higher-priority work cannot starve it.
      if (rank !== undefined && rank !== job.priority) await job.changePriority({ priority: rank }).catch(() => undefined);
      await job.moveToWait(token);
    } catch (err) {
      this.deps.logger.debug({ err, task_id: job.id }, 'dispatcher: could not send a waiting job back to its queue; leaving it to the reconciler');
    }
    p.settle(new WaitingError());
  }

  /** Gives placed tasks their node jobs again (the reconciler found them lost). */
  async restorePlaced(ids: string[]): Promise<void> {
    const rows = await this.deps.tasks.getMany(ids);
    await this.nodes.handOver(rows.filter((t) => t.status === 'scheduled' && t.nodeId));
  }
}

/** Waiting order within a tenant: aged priority, then age (creation time, then the time-ordered id), then arrival. */
function byRank(a: Pending, b: Pending): number {
  const x = a.value;
  const y = b.value;
  // Task ids are time-ordered (domain/ids.ts): within a millisecond they keep creation order.
  const byId = x.taskId === y.taskId ? 0 : x.taskId < y.taskId ? -1 : 1;
  return (x.rank ?? 0) - (y.rank ?? 0) || (x.createdAt ?? 0) - (y.createdAt ?? 0) || byId || x.seq - y.seq;
}
