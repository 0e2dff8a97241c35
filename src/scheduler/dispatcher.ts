// Takes queued tasks from the tenants' pending queues (each in priority order, FIFO within a
// priority) and hands each to a node's own queue. The fronts of all tenants' queues meet in one
// batch, where fair share (fair-share.ts) orders them across tenants and enforces quotas. A
// group job's tasks are decided one by one (task-group.ts). The database decides: a task no
// longer queued is dropped, and a task already placed (we crashed after placing it) is handed
// over again, which its attempt's record deduplicates (hand-over.ts). A task that fits nowhere
// now waits (waiting-room.ts); one that can never fit fails at once with the reason, as does one
// whose tenant's policy (tenants.policies, as configured now) no longer allows it.
import { policyFor, policyRefusal, type TenantPolicy } from '../auth/tenant-policy.ts';
import { NodeHandOver } from './hand-over.ts';
import { DelayedError, WaitingError, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { NodeStore } from '../state/node-store.ts';
import type { TaskRow } from '../state/schema.ts';
import type { PlacementRequest, TaskStore } from '../state/task-store.ts';
import { Batcher, type BatchHandled } from './batcher.ts';
import type { PendingQueues, PendingRow } from './pending.ts';
import { PRIORITY_RANK, type Priority } from '../domain/task.ts';
import { GroupGate, movedError, TaskGroup, type GroupReturn } from './task-group.ts';
import { roomForAny, type PlacementStrategy } from './placement.ts';
import { decidePlacements } from './batch-placement.ts';
import type { Candidate } from './fair-share.ts';
import type { TenantStore } from '../state/tenant-store.ts';
import { TenantUsage } from './tenant-usage.ts';
import { isRecordedHold, reasonKind } from '../domain/status-reasons.ts';
import { RoomKeeper } from './room-keeper.ts';
import { PendingJob, type RedisNames } from './queues.ts';
import { agedPriority, waitingSince } from './aging.ts';
import { TenantReaders } from './tenant-readers.ts';
import { byRank, HELD_RECHECK_MS, HELD_RETRY_MS, WAIT_RETRY_MS, WaitingRoom, type Pending, type Taken, type Waiting } from './waiting-room.ts';
import { KeptView, type View } from './kept-view.ts';
import { CountedSet } from './counted-set.ts';
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
  /**
   * scheduler.keep_room_after_seconds: room is kept on a node for the task that goes first but
   * fits nowhere now only once it has waited this long (room-keeper.ts); 0: from its first wait.
   */
  keepRoomAfterSeconds: number;
  /** scheduler.idle_tenant_seconds, in ms: a tenant's queue readers close after this long idle. */
  idleTenantMs?: number;
  /** See KeptView (kept-view.ts); default VIEW_REUSE_MS. */
  viewReuseMs?: number;
  /**
   * What each tenant's tasks may ask beyond the restricted container profile (tenants.policies):
   * checked again before a task is placed (see refusedByPolicy).
   */
  tenantPolicies: Record<string, TenantPolicy>;
  /** Called when a task is placed, with the time it waited since it was accepted. */
  onPlaced?(task: TaskRow): void;
  onFailed?(task: TaskRow): void;
}

/** The most tasks decided together (a 1,000-wide fan-out is one placement transaction). */
const MAX_BATCH = 1000;

/** How often the dispatcher looks for tenants whose pending queue it does not read yet. */
const TENANT_WATCH_MS = 500;

export class Dispatcher implements Part {
  /** Each tenant's queue readers (BullMQ workers); all feed the one batcher. */
  private readonly readers: TenantReaders;
  private running = false;
  private watch: NodeJS.Timeout | null = null;
  private closer?: (options?: CloseOptions) => Promise<void>;
  private readonly nodes: NodeHandOver;
  private readonly usage: TenantUsage;
  private readonly onTenant = (tenant: string) => {
    if (this.running) this.readers.read(tenant);
  };
  private heldTimer: NodeJS.Timeout | null = null;
  /** The nodes' and tenants' signature when the held tasks were last decided again by the failsafe, and when. */
  private heldLook = { signature: null as string | null, at: 0 };
  /** Tasks that found no room (waiting-room.ts). */
  private readonly room: WaitingRoom;
  /** The nodes' view the last batch left (kept-view.ts). */
  private readonly view: KeptView;
  /** Room kept on a node for the task that goes first but fits nowhere now, once it has waited keepRoomAfterSeconds (room-keeper.ts). */
  private readonly keeper: RoomKeeper;
  private readonly onWake = () => {
    this.view.drop(); // room freed, or a node came: the next batch reads the nodes again
    this.room.wake();
  };
  private readonly onAdded = (tenant: string, bestRank: number) => {
    if (this.running) this.readers.arrived(tenant);
    this.room.arrived(tenant, bestRank);
  };

  constructor(private readonly deps: DispatcherDeps) {
    this.view = new KeptView(() => deps.nodes.placementView(), deps.viewReuseMs);
    this.keeper = new RoomKeeper({ keepAfterMs: deps.keepRoomAfterSeconds * 1000 });
    this.nodes = new NodeHandOver(deps);
    this.usage = new TenantUsage(deps.tenants);
    this.room = new WaitingRoom({
      pending: deps.pending,
      logger: deps.logger,
      strategy: deps.strategy,
      isRunning: () => this.running,
      fetchersOf: (tenant) => this.readers.of(tenant),
      readd: (entries) => this.batcher.readd(entries),
    });
    this.readers = new TenantReaders({
      connection: deps.connection,
      names: deps.names,
      pending: deps.pending,
      logger: deps.logger,
      concurrency: MAX_BATCH / 2,
      idleTenantMs: deps.idleTenantMs ?? 300_000,
      take: (job, token, tenant) => this.process(job, token, tenant),
      busy: (tenant) => this.room.isPaused(tenant) || this.room.holds(tenant),
    });
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.deps.pending.on('tenant', this.onTenant);
    this.deps.pending.on('wake', this.onWake);
    this.deps.pending.on('added', this.onAdded);
    this.heldTimer = setInterval(() => {
      this.room.resumeThinned();
      this.room.resumeDue();
      void this.lookAgainIfRoomChanged();
    }, HELD_RETRY_MS);
    const look = () => {
      this.deps.pending
        .tenants()
        .then((ts) => this.readers.watch(['default', ...ts], () => this.running))
        .catch((err) => this.deps.logger.debug({ err }, 'dispatcher: could not list the tenants with pending work'));
    };
    look();
    this.watch = setInterval(look, TENANT_WATCH_MS);
  }

  /**
   * The failsafe for tasks held in memory (waiting-room.ts): they are decided again when the
   * nodes or the tenants' settings changed since the last look (a change no wake reported: a node
   * back from unhealthy by its heartbeat, a node resumed or a task cancelled through another
   * process, a quota raised), and every HELD_RECHECK_MS regardless. Deciding them every second
   * whatever happened cost ~8–11 ms each time with 1,000 nodes, which the p99 of POST /tasks
   * with a backlog queued showed (bench (e)); the signature is one small query.
   */
  private async lookAgainIfRoomChanged(): Promise<void> {
    if (!this.room.hasHeld()) return;
    const signature = await this.deps.nodes.roomSignature().catch(() => null);
    const now = Date.now();
    if (signature !== null && signature === this.heldLook.signature && now - this.heldLook.at < HELD_RECHECK_MS) return;
    this.heldLook = { signature, at: now };
    this.view.drop();
    this.room.lookAgainAtHeld();
  }

  /** See TenantReaders.ensureRunning; called periodically by the control plane. */
  async ensureRunning(): Promise<void> {
    if (this.running) await this.readers.ensureRunning((tenant) => this.room.isPaused(tenant));
  }

  /** Stops taking jobs (when this replica stops leading); start() takes them again. */
  async stop(force = false): Promise<void> {
    this.running = false;
    this.deps.pending.off('tenant', this.onTenant);
    this.deps.pending.off('wake', this.onWake);
    this.deps.pending.off('added', this.onAdded);
    if (this.watch) clearInterval(this.watch);
    if (this.heldTimer) clearInterval(this.heldTimer);
    this.watch = this.heldTimer = null;
    // Held jobs go back to their queues (delayed briefly), so closing the workers does not wait on
    // them; group jobs waiting at the gate see the dispatcher stopped and go back too.
    await this.room.stop();
    this.keeper.restore(null); // a new leader keeps room again once its own batches find a task that needs it
    this.gate.openAll();
    await this.readers.close(force);
  }

  /** Stops for good (see lifecycle/part.ts); force: placements in flight are not waited for. */
  close(options?: CloseOptions): Promise<void> {
    this.closer ??= closeOnce(async ({ force }) => {
      await this.stop(force).catch((err) => this.deps.logger.warn({ err }, 'dispatcher: error while closing'));
    });
    return this.closer(options);
  }

  /**
   * Jobs are decided in batches: BullMQ hands out up to `concurrency` jobs (priority, then
   * FIFO) and each waits here until the batch it joined is decided. One batch at a time, sorted
   * by priority then arrival, against one view of the nodes that each decision updates (read, or
   * the one the last batch left: kept-view.ts): the
   * highest-priority task gets the free room, and the whole batch costs a few statements
   * instead of a transaction per task. While one batch is stored, the next fills up, so batches
   * grow with the load and a lone task is decided at once.
   */
  private readonly batcher = new Batcher<Taken>(MAX_BATCH, (batch) => this.decideBatch(batch));
  private arrivals = 0;

  /**
   * Tasks offered (no job) and not yet ended: placed and handed over, queued to wait, or failed.
   * Counted: a task can be in hand twice for a moment (counted-set.ts).
   */
  private readonly offered = new CountedSet<string>();

  /** Whether a task offered to this dispatcher (it has no job) is still in its hands; see Reconciler. */
  holdsWithoutJob(taskId: string): boolean {
    return this.offered.has(taskId);
  }

  /** Jobs taken from the tenants' queues and not yet ended (placed, sent back, held…). */
  private fromQueues = 0;
  /** Whether the last batch left room for a task of some shape (placement.ts, roomForAny). */
  private roomLeft = true;

  private process(job: Job, token: string | undefined, tenant: string): Promise<void> {
    const data = PendingJob.parse(job.data);
    if ('taskIds' in data) return this.processGroup(job, token, tenant, data);
    const { taskId } = data;
    this.fromQueues++;
    const done = this.decide({ job, token, taskId, seq: this.arrivals++, rank: job.priority });
    const ended = () => {
      this.fromQueues--;
    };
    done.then(ended, ended);
    return done;
  }

  /**
   * Tasks of group jobs in hand, per tenant (task-group.ts): two batches' worth, so the next batch
   * is decided while the last one's tasks are handed to their nodes (they are resolved only then).
   */
  private readonly gate = new GroupGate(2 * MAX_BATCH);

  /**
   * A group job (task-group.ts): once the tenant has room in hand for it (GroupGate), its tasks
   * are decided one by one as offered tasks are, each in hand without a job of its own (the
   * reconciler asks holdsWithoutJob); the job ends, or moves back with the tasks that must wait,
   * once each is resolved. A group that gets its turn while its tenant's queue is paused (room
   * for nothing) goes back whole, unread; one whose turn comes as the dispatcher stops, to the
   * delayed set briefly, as held jobs do.
   */
  private async processGroup(job: Job, token: string | undefined, tenant: string, data: { taskIds: string[]; priority: Priority }): Promise<void> {
    const rows: PendingRow[] = [...new Set(data.taskIds)].map((id) => ({ id, tenant, priority: data.priority }));
    this.fromQueues++; // in hand while it waits at the gate: submitted tasks do not go round it
    try {
      await this.gate.enter(tenant, rows.length);
    } finally {
      this.fromQueues--;
    }
    if (!this.running || this.room.isPaused(tenant)) {
      this.gate.leave(tenant, rows.length);
      const how = this.running ? ({ kind: 'back' } as const) : ({ kind: 'later', ms: WAIT_RETRY_MS } as const);
      await this.moveGroup(job, token, how);
      throw movedError(how.kind);
    }
    const group = new TaskGroup(job, rows.map((r) => r.id), () => this.gate.leave(tenant));
    for (const row of rows) {
      const taken: Taken = { job: null, token: undefined, taskId: row.id, row, seq: this.arrivals++, rank: job.priority, group };
      this.offered.add(row.id);
      this.fromQueues++;
      const ended = () => {
        this.offered.delete(row.id);
        this.fromQueues--;
        group.resolve(row.id);
      };
      this.decide(taken).then(ended, async (err: unknown) => {
        const failed = !(err instanceof DelayedError || err instanceof WaitingError);
        if (failed) this.deps.logger.warn({ err, task_id: row.id }, 'dispatcher: could not place a task of a group job; it goes back to its queue');
        // Given back before it counts as ended, so the group moves with it.
        const back = failed && group.open;
        if (back) group.giveBack(row, { kind: 'back' });
        ended();
        if (failed && !back) await this.deps.pending.add([row]).catch(() => undefined);
      });
    }
    await group.resolved;
    const plan = group.plan();
    const kept = new Set(plan.keep.map((r) => r.id));
    await this.deps.pending
      .groupChanged(tenant, job.id!, plan.rank ?? job.priority, rows.filter((r) => !kept.has(r.id)).map((r) => r.id), kept.size)
      .catch((err) => this.deps.logger.debug({ err }, "dispatcher: could not update a group job's marks; the reconciler checks its tasks"));
    if (!plan.move) return;
    await this.moveGroup(job, token, plan.move, { taskIds: [...kept], priority: data.priority }, plan.rank);
    throw movedError(plan.move.kind);
  }

  /** Moves a group job back to its queue or to the delayed set, with the tasks it keeps (data). */
  private async moveGroup(job: Job, token: string | undefined, how: GroupReturn, data?: { taskIds: string[]; priority: Priority }, rank?: number | null): Promise<void> {
    try {
      if (data) await job.updateData(data);
      if (rank !== undefined && rank !== null && rank !== job.priority) await job.changePriority({ priority: rank }).catch(() => undefined);
      if (how.kind === 'back') await job.moveToWait(token);
      else await job.moveToDelayed(Date.now() + how.ms, token);
    } catch (err) {
      this.deps.logger.debug({ err, job_id: job.id }, 'dispatcher: could not move a group job back; leaving it to the reconciler');
    }
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
    if (!this.running || this.room.congested()) return false;
    this.decideOffered(rows);
    return true;
  }

  /**
   * Tasks just submitted, offered as released ones are (offer()), but only while every job this
   * dispatcher took from the queues has been decided (none, or only tasks held waiting for room)
   * and no queue is paused: a task submitted to a cluster with room skips its tenant's queue (a
   * Redis round trip and three scripts, ~4 ms of a lone task's wait), while a backlog being
   * worked through keeps its order (its jobs are in hand, or come from the queue that new tasks
   * then join). Held tasks do not stop a lone task while the last batch left room: they are
   * decided again in every batch, the new task's included, in priority order and fair share, so
   * it takes only room they cannot use. Several tasks at once (a batch, or requests grouped into
   * one commit), or no room left, queue then: a task offered that must wait is decided twice
   * (here, then from the queue it goes to), which halved POST /tasks/batch's rate on a cluster
   * without nodes (bench (a)) and kept a flood of tasks that fit nowhere out of the delayed set
   * for a while (test/priority.e2e.test.ts). Offered tasks being decided do not count either:
   * at a steady rate every task goes directly, and the tenants' queue readers can stay closed.
   * With a queue paused (room for nothing) it queues. Only while Redis answers: with it down the
   * task is refused (503, nothing stored), as through the queue, instead of being placed on a
   * node its hand-over cannot reach.
   */
  offerSubmitted(rows: TaskRow[]): boolean {
    if (!this.running || this.deps.connection.status !== 'ready' || this.room.anyPaused()) return false;
    const held = this.room.heldCount();
    if (this.fromQueues !== held || (held > 0 && (!this.roomLeft || rows.length > 1))) return false;
    this.decideOffered(rows, true);
    return true;
  }

  /**
   * Decides tasks that have no job (see offer()); one that must wait is queued then. `stored`:
   * the rows are whole, as just stored (a submission), and their first batch takes its placement
   * fields from them instead of reading them back.
   */
  private decideOffered(rows: PendingRow[] | TaskRow[], stored = false): void {
    for (const row of rows) {
      const taken: Taken = { job: null, token: undefined, taskId: row.id, row, seq: this.arrivals++, rank: PRIORITY_RANK[row.priority], request: stored ? (row as TaskRow) : undefined };
      this.offered.add(row.id);
      const done = this.decide(taken);
      const ended = () => {
        this.offered.delete(row.id);
      };
      done.then(ended, ended);
      done.catch(async (err) => {
        if (err instanceof DelayedError || err instanceof WaitingError) return;
        this.deps.logger.warn({ err, task_id: row.id }, 'dispatcher: could not place an offered task at once; queueing it');
        await this.deps.pending.add([row]).catch(() => undefined);
      });
    }
  }

  private decide(taken: Taken): Promise<void> {
    const done = this.batcher.add(taken);
    const ended = () => {
      this.room.ended(taken);
    };
    done.then(ended, ended);
    return done;
  }

  private async decideBatch(batch: Pending[]): Promise<BatchHandled> {
    const { tasks } = this.deps;
    // Every batch has the tasks held in memory in it: room this batch finds goes to the front of
    // each tenant's queue, not to tasks that came after it (read again from a paused queue, say).
    batch.push(...this.room.takeHeld());
    batch.sort((a, b) => (a.value.rank ?? 0) - (b.value.rank ?? 0) || a.value.seq - b.value.seq);
    // A task in two jobs (added again while queued: the ids of group jobs are their own,
    // pending.ts) is decided once: the first in order decides it, the other's job ends.
    const seen = new Set<string>();
    const entries: Array<{ p: Pending; data: { taskId: string } }> = [];
    for (const p of batch) {
      if (seen.has(p.value.taskId)) p.settle();
      else {
        seen.add(p.value.taskId);
        entries.push({ p, data: { taskId: p.value.taskId } });
      }
    }
    // The three reads at once (the nodes' view may be the one the last batch left, kept-view.ts;
    // it is read again for a second try, below).
    let firstView: Promise<View> | null = this.view.take();
    firstView.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
    // A task just submitted here comes with its placement fields (once; see Taken.request).
    const given: PlacementRequest[] = [];
    const toRead: string[] = [];
    for (const { p } of entries) {
      if (p.value.request) given.push(p.value.request);
      else toRead.push(p.value.taskId);
      p.value.request = undefined;
    }
    const [requests, tenants] = await Promise.all([tasks.placementRequests(toRead), this.usage.states()]);
    const rows = new Map([...given, ...requests].map((t) => [t.id, t]));
    const handOver: TaskRow[] = [];
    const placedBefore: string[] = [];
    // Waiting tasks this batch holds in memory: they join this.held once it is decided (the
    // tail then settles only what was not held, so one taken into another batch is left alone).
    const heldHere: Pending[] = [];
    let undecided = entries;
    for (let tries = 0; tries < 3 && undecided.length > 0; tries++) {
      const current = await (firstView ?? this.view.fresh());
      const view = current.nodes;
      firstView = null;
      const plans: Array<{ taskId: string; nodeId: string }> = [];
      const waits: Waiting[] = [];
      const never: Waiting[] = [];
      const notAllowed: Waiting[] = [];
      const byTask = new Map<string, Pending>();
      const candidates: Array<Candidate & { p: Pending; task: PlacementRequest }> = [];
      for (const { p, data } of undecided) {
        const task = rows.get(data.taskId);
        if (!task || (task.status === 'scheduled' && !task.nodeId) || (task.status !== 'queued' && task.status !== 'scheduled')) {
          this.keeper.forget(data.taskId);
          p.settle(); // the create was rolled back after the enqueue, or the task moved on
          continue;
        }
        if (task.status === 'scheduled') {
          placedBefore.push(task.id); // placed before a crash: hand it over again (deduplicated)
          this.keeper.forget(task.id);
          byTask.set(task.id, p);
          continue;
        }
        const refusal = this.refusedByPolicy(task);
        if (refusal !== null) {
          this.keeper.forget(task.id);
          notAllowed.push({ p, task, reason: refusal });
          continue;
        }
        candidates.push({ tenant: task.tenant, priority: task.priority, demand: task, order: p.value.seq, p, task });
      }
      for (const n of notAllowed) await this.failNever(n.p, n.task, n.reason);
      // Within a tenant: priority class, aged by the time waited (held tasks keep their jobs'
      // priority, so it is worked out here), then age (jobs sent back to their queue come back
      // in no particular order within their class), then arrival.
      const now = Date.now();
      for (const c of candidates) {
        c.p.value.rank = agedPriority(c.task.priority, waitingSince(c.task), this.deps.agingSeconds, now);
        c.p.value.createdAt = c.task.createdAt.getTime();
        c.p.value.shape = { cpu: c.task.cpu, memoryMb: c.task.memoryMb, gpu: c.task.gpu, nodeSelector: c.task.nodeSelector };
      }
      candidates.sort((a, b) => byRank(a.p, b.p));
      // Fair share across tenants, then a node for each, with room kept for the task that goes
      // first but fits nowhere now, once it has waited keepRoomAfterSeconds since waitingSince
      // (batch-placement.ts, room-keeper.ts).
      const keptBefore = this.keeper.snapshot();
      const decided = decidePlacements(candidates, tenants, view, { strategy: this.deps.strategy, criticalJumpsTenants: this.deps.criticalJumpsTenants, keeper: this.keeper });
      const { order } = decided;
      for (const { c, node } of decided.placed) {
        plans.push({ taskId: c.task.id, nodeId: node.id });
        byTask.set(c.task.id, c.p);
      }
      // The task room is kept for: its reason names the node, and fairness (below) leaves it.
      let keptFor: Waiting | null = null;
      for (const { c, reason, kept } of decided.waits) {
        waits.push({ p: c.p, task: c.task, reason });
        if (kept) keptFor = waits[waits.length - 1];
      }
      for (const { c, reason } of decided.never) never.push({ p: c.p, task: c.task, reason });
      // A task waits, or fails as fitting no node, only on a fresh read: a kept view may not show
      // room freed or a node that came meanwhile. Nothing was written yet; the tasks taken as
      // candidates are decided again (the others were settled or set aside above).
      if (current.kept && (waits.length > 0 || never.length > 0)) {
        this.keeper.restore(keptBefore);
        const again = new Set(candidates.map((c) => c.task.id));
        undecided = undecided.filter((e) => again.has(e.data.taskId));
        tries--;
        continue;
      }
      // Waiting for room while its tenant holds more than its share: fairness is the reason.
      for (const w of waits) if (w !== keptFor) w.reason = order.fairnessReason(w.task.tenant) ?? w.reason;
      for (const { candidate, reason } of order.quotaHeld()) waits.push({ p: candidate.p, task: candidate.task, reason });
      for (const n of never) await this.failNever(n.p, n.task, n.reason);
      // Room left for a task of some shape after this batch's choices (the view holds them).
      const roomForSome = roomForAny(view);
      this.roomLeft = roomForSome;
      await this.wait(waits, heldHere, roomForSome);
      const { placed, refused, gone } = await tasks.placeMany(plans);
      for (const t of placed) {
        this.deps.onPlaced?.(t);
        handOver.push(t);
        this.usage.placed(tenants, t);
        this.room.placedFor(t.tenant);
      }
      for (const id of gone) {
        this.keeper.forget(id);
        byTask.get(id)!.settle();
      }
      // Room is left after this batch (a node that came up frees room for many more than one
      // wake brings back), or room for the shape of a task waiting outside the held front.
      this.room.afterBatch(view, placed.length > 0 && waits.length === 0, roomForSome);
      // Kept room was counted against its node until here (none of the above saw it as room);
      // a view kept for the next batch does not count it (that batch counts it again).
      this.keeper.end();
      // The view holds this try's reservations; the next batch may start from it if the database
      // made them all (a task gone or refused left room reserved in it that is not).
      if (refused.length === 0 && gone.length === 0) this.view.keep(current);
      // A node that changed since the choice (drained, or room taken): choose again.
      const again = new Set(refused);
      undecided = undecided.filter((e) => again.has(e.data.taskId));
    }
    await this.room.delayAll(undecided.map(({ p }) => p), WAIT_RETRY_MS);
    // The next batch is decided while this one's tasks are handed to their nodes; their jobs
    // end only once handed over (a crash before leaves them to be taken again, and a placed
    // task is then handed over again).
    // What the tail settles is fixed now: tasks held from here on may be taken into the next
    // batch (decideBatch pulls every held task in) while this tail still runs.
    const settleAfter = entries.filter(({ p }) => !p.held).map(({ p }) => p);
    await this.room.keepHeld(heldHere);
    const tail = (async () => {
      try {
        if (placedBefore.length > 0) handOver.push(...(await tasks.getMany(placedBefore)).filter((t) => t.status === 'scheduled' && t.nodeId));
        await this.nodes.handOver(handOver);
        for (const p of settleAfter) p.settle();
      } finally {
        this.room.resumeThinned();
      }
    })();
    return { tail };
  }

  /**
   * Why the task's tenant policy, as configured now, refuses the task, or null. The policy is
   * checked at submit, at a schedule's run and at a retry; this covers what was accepted before
   * an admin narrowed it (tasks queued then, a workflow's later tasks, automatic retries and
   * attempts lost with their node): such a task fails instead of running its image.
   */
  private refusedByPolicy(task: PlacementRequest): string | null {
    const refusal = policyRefusal(task, task.tenant, policyFor(this.deps.tenantPolicies, task.tenant));
    return refusal === null ? null : `${refusal}; checked again before placing it, the policy having changed since the task was accepted`;
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
    // A hold by fair share or quota, or room kept for it, also goes into the task's history when it begins.
    await this.deps.tasks.setStatusReasons(
      waits
        .filter((w) => w.task.statusReason !== w.reason)
        .map((w) => ({ taskId: w.task.id, reason: w.reason, event: isRecordedHold(w.reason) && reasonKind(w.reason) !== reasonKind(w.task.statusReason) })),
      'queued',
    );
    await this.room.park(waits, heldHere, roomForSome);
  }

  /** Gives placed tasks their node jobs again (the reconciler found them lost). */
  async restorePlaced(ids: string[]): Promise<void> {
    const rows = await this.deps.tasks.getMany(ids);
    await this.nodes.handOver(rows.filter((t) => t.status === 'scheduled' && t.nodeId));
  }
}

