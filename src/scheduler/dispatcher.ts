// Takes queued tasks from the tenants' pending queues (each in priority order, FIFO within a
// priority) and hands each to a node's own queue. The fronts of all tenants' queues meet in one
// batch, where fair share (fair-share.ts) orders them across tenants and enforces quotas. The
// database decides: a job whose task is no longer queued is dropped, and a task already placed
// (we crashed after placing it) is handed over again under the same job id, which BullMQ
// deduplicates. A task that fits nowhere now is delayed and tried again; one that can never fit
// fails at once with the reason.
import type { TenantPolicy } from '../auth/tenant-policy.ts';
import { NodeHandOver } from './hand-over.ts';
import { DelayedError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { NodeStore } from '../state/node-store.ts';
import type { TaskRow } from '../state/schema.ts';
import type { PlacementRequest, TaskStore } from '../state/task-store.ts';
import { Batcher, type BatchEntry, type BatchHandled } from './batcher.ts';
import type { PendingQueues } from './pending.ts';
import { chooseNode, reserve, type PlacementChoice, type PlacementStrategy } from './placement.ts';
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
 * A task that fits nowhere waits until capacity changes (a task ends or is cancelled, a node
 * registers or resumes: wakeWaitingTasks promotes the waiting jobs, which BullMQ then hands
 * out by priority) or, failing that, for a failsafe delay: 5 s, doubling each time the task is
 * found waiting again, up to 5 minutes. Waiting tasks barely poll, so a large backlog on a full
 * cluster costs little while nothing changes.
 */
export function waitFailsafeMs(timesTaken: number): number {
  return Math.min(300_000, 5_000 * 2 ** Math.max(0, Math.min(timesTaken - 1, 6)));
}




/** The most jobs decided together (and, with some headroom, the pending worker's concurrency). */
const MAX_BATCH = 500;

/** How often the dispatcher looks for tenants whose pending queue it does not read yet. */
const TENANT_WATCH_MS = 500;

/**
 * Of each tenant's tasks that must wait, the first this many are held in memory (their jobs
 * stay active, their locks renewed) rather than delayed, so every batch decided when capacity
 * frees has the front of every waiting tenant's queue in it, and fair share chooses among all
 * of them, not among whichever jobs Redis handed over first. They are looked at again on every
 * wake and every HELD_RETRY_MS.
 */
const HELD_PER_TENANT = 100;
const HELD_RETRY_MS = 1_000;

/** A pending job waiting in a batch; seq is its arrival (FIFO within a priority, as BullMQ handed it out). */
interface Taken {
  job: Job;
  token: string | undefined;
  seq: number;
  /** Set when it is held in memory (the tenant it is held under). */
  tenant?: string;
}
type Pending = BatchEntry<Taken>;

type Waiting = { p: Pending; task: PlacementRequest; reason: string };

export class Dispatcher implements Part {
  /** One BullMQ worker per tenant's pending queue; all feed the one batcher. */
  private readonly workers = new Map<string, Worker>();
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
  private readonly onWake = () => this.lookAgainAtHeld();

  constructor(private readonly deps: DispatcherDeps) {
    this.nodes = new NodeHandOver(deps);
    this.usage = new TenantUsage(deps.tenants);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.deps.pending.on('tenant', this.onTenant);
    this.deps.pending.on('wake', this.onWake);
    this.heldTimer = setInterval(this.onWake, HELD_RETRY_MS);
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
    const worker = new Worker(names.pendingQueue(tenant), (job, token) => this.process(job, token), {
      ...controlPlaneWorkerOptions(connection, names),
      concurrency: MAX_BATCH,
    });
    worker.on('error', (err) => logQueueError(this.deps.logger, 'dispatcher', err));
    worker.on('failed', (job, err) => {
      if (err instanceof DelayedError) return;
      this.deps.logger.error({ err, task_id: job?.data?.taskId }, 'dispatcher: could not place a task; it stays queued and the reconciler retries it');
    });
    this.workers.set(tenant, worker);
  }

  /**
   * BullMQ's worker loop can end on errors it does not expect (its keys vanished when Redis was
   * flushed, say): start a new one. Called periodically by the control plane.
   */
  async ensureRunning(): Promise<void> {
    if (!this.running) return;
    for (const [tenant, w] of this.workers) {
      if (w.isRunning()) continue;
      this.deps.logger.warn({ tenant }, "dispatcher: a tenant's queue loop had stopped; starting a new one");
      this.workers.delete(tenant);
      await w.close().catch(() => undefined);
      this.readTenant(tenant);
    }
  }

  /** Stops taking jobs (when this replica stops leading); start() takes them again. */
  async stop(force = false): Promise<void> {
    this.running = false;
    this.deps.pending.off('tenant', this.onTenant);
    this.deps.pending.off('wake', this.onWake);
    if (this.watch) clearInterval(this.watch);
    if (this.heldTimer) clearInterval(this.heldTimer);
    this.watch = this.heldTimer = null;
    // Held jobs go back to their queues (delayed briefly), so closing the workers does not wait on them.
    const held = [...this.held.values()].flat();
    this.held.clear();
    await Promise.all(held.map((p) => this.delay(p, WAIT_RETRY_MS)));
    const ws = [...this.workers.values()];
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
    return this.batcher.add({ job, token, seq: this.arrivals++ });
  }

  private async decideBatch(batch: Pending[]): Promise<BatchHandled> {
    const { tasks, nodes } = this.deps;
    batch.sort((a, b) => (a.value.job.priority ?? 0) - (b.value.job.priority ?? 0) || a.value.seq - b.value.seq);
    const entries = batch.map((p) => ({ p, data: PendingJob.parse(p.value.job.data) }));
    const [requests, tenants] = await Promise.all([tasks.placementRequests(entries.map((e) => e.data.taskId)), this.usage.states()]);
    const rows = new Map(requests.map((t) => [t.id, t]));
    const handOver: TaskRow[] = [];
    const placedBefore: string[] = [];
    // Waiting tasks this batch holds in memory: they join this.held only once the batch is
    // done (its tail included), so a wake cannot bring one back while this batch still settles.
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
      // priority, so it is worked out here), then arrival.
      const now = Date.now();
      const rank = new Map(candidates.map((c) => [c, agedPriority(c.task.priority, c.task.createdAt, this.deps.agingSeconds, now)]));
      candidates.sort((a, b) => rank.get(a)! - rank.get(b)! || a.p.value.seq - b.p.value.seq);
      // Fair share across tenants: the candidate of the tenant with the least weighted dominant
      // share goes first; its tenant's quota is checked, and its usage grows as it is placed.
      const order = new FairShareOrder(candidates, tenants, clusterCapacity(view), { criticalJumpsTenants: this.deps.criticalJumpsTenants });
      // Within a batch nodes only fill up: a shape that fitted nowhere fits nowhere for the rest
      // of it, so the many waiting tasks of a full cluster cost one scan of the nodes per shape.
      const noRoom = new Map<string, PlacementChoice>();
      for (let c = order.next(); c !== null; c = order.next()) {
        const shape = `${c.task.cpu}|${c.task.memoryMb}|${c.task.gpu}|${JSON.stringify(c.task.nodeSelector)}`;
        const choice = noRoom.get(shape) ?? chooseNode(c.task, view, this.deps.strategy);
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
      await this.wait(waits, heldHere);
      const { placed, refused, gone } = await tasks.placeMany(plans);
      for (const t of placed) {
        this.deps.onPlaced?.(t);
        handOver.push(t);
        this.usage.placed(tenants, t);
      }
      for (const id of gone) byTask.get(id)!.settle();
      // Room is left after this batch: tasks that were waiting may fit now (a node that came
      // up frees room for many more than one wake brings back).
      if (placed.length > 0 && waits.length === 0) void this.deps.pending.wake().catch(() => undefined);
      // A node that changed since the choice (drained, or room taken): choose again.
      const again = new Set(refused);
      undecided = undecided.filter((e) => again.has(e.data.taskId));
    }
    await Promise.all(undecided.map(({ p }) => this.delay(p, WAIT_RETRY_MS)));
    // The next batch is decided while this one's tasks are handed to their nodes; their jobs
    // end only once handed over (a crash before leaves them to be taken again, and a placed
    // task is then handed over again).
    const tail = (async () => {
      try {
        if (placedBefore.length > 0) handOver.push(...(await tasks.getMany(placedBefore)).filter((t) => t.status === 'scheduled' && t.nodeId));
        await this.nodes.handOver(handOver);
        for (const { p } of entries) if (!p.held) p.settle();
      } finally {
        await this.keepHeld(heldHere);
      }
    })();
    return { tail };
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
    try {
      await p.value.job.moveToDelayed(Date.now() + ms, p.value.token);
    } catch (err) {
      this.deps.logger.debug({ err, task_id: p.value.job.id }, 'dispatcher: could not delay a waiting job; leaving it to the reconciler');
    }
    p.settle(new DelayedError());
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
   * Tasks that fit nowhere now step aside: their status_reason says why, and their job is
   * delayed until capacity changes (wakeWaitingTasks) or the failsafe delay passes.
   */
  private async wait(waits: Waiting[], heldHere: Pending[]): Promise<void> {
    if (waits.length === 0) return;
    // A hold by fair share or quota also goes into the task's history when it begins.
    await this.deps.tasks.setStatusReasons(
      waits
        .filter((w) => w.task.statusReason !== w.reason)
        .map((w) => ({ taskId: w.task.id, reason: w.reason, event: isTenantHold(w.reason) && reasonKind(w.reason) !== reasonKind(w.task.statusReason) })),
      'queued',
    );
    const count = new Map<string, number>();
    for (const [tenant, list] of this.held) count.set(tenant, list.length);
    for (const p of heldHere) count.set(p.value.tenant!, (count.get(p.value.tenant!) ?? 0) + 1);
    const delayed = waits.filter(({ p, task }) => {
      const n = count.get(task.tenant) ?? 0;
      if (!this.running || n >= HELD_PER_TENANT) return true;
      count.set(task.tenant, n + 1);
      p.value.tenant = task.tenant;
      heldHere.push(p);
      p.hold();
      return false;
    });
    await Promise.all(
      delayed.map(async ({ p, task }) => {
        // Aging: a waiting task moves up one priority class per aging_seconds waited, so a
        // steady flow of higher-priority work cannot starve it. (On a delayed job BullMQ keeps
        // the new priority for when the job is promoted.)
        const aged = agedPriority(task.priority, task.createdAt, this.deps.agingSeconds);
        if (aged !== p.value.job.priority) await p.value.job.changePriority({ priority: aged }).catch(() => undefined);
        await this.delay(p, waitFailsafeMs(p.value.job.attemptsStarted));
      }),
    );
  }

  /** Gives placed tasks their node jobs again (the reconciler found them lost). */
  async restorePlaced(ids: string[]): Promise<void> {
    const rows = await this.deps.tasks.getMany(ids);
    await this.nodes.handOver(rows.filter((t) => t.status === 'scheduled' && t.nodeId));
  }
}
