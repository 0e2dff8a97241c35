// The dispatcher's waiting room: what happens to tasks that found no room (docs/decisions.md,
// "Waiting"). Each tenant's best waiting tasks are held in memory, the front every batch
// decides again; the rest wait in the tenant's queue, paused while the cluster has room for
// nothing, or step aside into the delayed set while there is room but not for them. It knows
// when to read a paused queue again or promote tasks that stepped aside: the front thinned out,
// a better task arrived, room appeared for a waiting shape, or a failsafe delay passed.
import { DelayedError, WaitingError, type Job, type Worker } from 'bullmq';
import type { Logger } from 'pino';
import type { BatchEntry } from './batcher.ts';
import type { PendingQueues, PendingRow } from './pending.ts';
import { chooseNode, type PlacementNode, type PlacementStrategy } from './placement.ts';
import type { PlacementRequest } from '../state/task-store.ts';
import type { GroupReturn, TaskGroup } from './task-group.ts';

export const WAIT_RETRY_MS = 500;

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

/**
 * Waiting. Of each tenant's tasks that must wait, the best this many (priority, aged, then
 * age) are held in memory (their jobs stay active, their locks renewed), so every batch decided
 * when capacity frees has the front of every waiting tenant's queue in it, and fair share
 * chooses among all of them, not among whichever jobs Redis handed over first. Every batch
 * takes them in, and they are looked at again on every wake, and by the dispatcher's failsafe
 * (HELD_RETRY_MS) when the nodes or tenants changed since it last looked, or HELD_RECHECK_MS
 * passed.
 *
 * The tenant's other waiting tasks (docs/decisions.md, "Waiting"):
 * - while the cluster has room for nothing, go back to its queue, in front of their priority
 *   class (BullMQ's moveToWait), and the queue is paused: a backlog on a full cluster costs
 *   nothing while nothing changes. The queue is read again when the front held in memory thins
 *   out, when a task arrives that would go before one held, when room appears that fits the
 *   shape of a task in it (asideShapes), and after a failsafe delay: RESUME_FIRST_MS, doubling
 *   while nothing of the tenant is placed, up to RESUME_MAX_MS (each read of a paused queue
 *   takes as many jobs as its fetchers hold, and sends back those that still wait);
 * - while there is room, but not for them, step aside into the delayed set (waitFailsafeMs),
 *   so the queue keeps flowing for tasks behind them that fit.
 */
const HELD_PER_TENANT = 100;
export const HELD_RETRY_MS = 1_000;
export const HELD_RECHECK_MS = 10_000;
const RESUME_FIRST_MS = 30_000;
const RESUME_MAX_MS = 300_000;
/** A paused queue is read again for arrivals at most this often. */
const ARRIVAL_RESUME_MS = 100;

/**
 * A task waiting in a batch: a pending job taken from a tenant's queue, or a task offered
 * directly (offer(): workflow tasks a finished parent released), which has no job. seq is its
 * arrival (FIFO within a priority, as BullMQ handed it out).
 */
export interface Taken {
  job: Job | null;
  token: string | undefined;
  taskId: string;
  /** An offered task's row (or a group's task's), to queue it should it have to wait. */
  row?: PendingRow;
  /**
   * A task submitted in this process (Dispatcher.offerSubmitted): what placing it needs, as just
   * stored, so its first batch does not read it back. Used once: a later decision reads it again.
   */
  request?: PlacementRequest;
  /** The group job it came in (task-group.ts): while the group is open, a task that must wait goes back with it. */
  group?: TaskGroup;
  seq: number;
  /** Set when it is held in memory (the tenant it is held under). */
  tenant?: string;
  /** While waiting: its aged priority and creation time, which decide which waiting tasks are held. */
  rank?: number;
  createdAt?: number;
  /** While waiting: what it asks (for remembering the shapes of tasks stepped aside). */
  shape?: Shape;
}
export type Pending = BatchEntry<Taken>;

export type Waiting = { p: Pending; task: PlacementRequest; reason: string };
export type Shape = Pick<PlacementRequest, 'cpu' | 'memoryMb' | 'gpu' | 'nodeSelector'>;

export interface WaitingRoomDeps {
  pending: PendingQueues;
  logger: Logger;
  strategy: PlacementStrategy;
  /** Whether the dispatcher runs (a stopped one puts waiting tasks back in their queues). */
  isRunning(): boolean;
  /** The BullMQ workers that read a tenant's queue. */
  fetchersOf(tenant: string): Worker[];
  /** Brings held tasks back into the next batch. */
  readd(entries: Pending[]): void;
}

export class WaitingRoom {
  /** Waiting tasks held in memory, by tenant (see HELD_PER_TENANT). */
  private held = new Map<string, Pending[]>();
  /**
   * The shapes of tasks waiting outside the held front, stepped aside or in a paused queue (the
   * newest ASIDE_SHAPES): when a batch leaves room that one of them fits, those that stepped aside
   * are promoted and paused queues read again, rather than waiting out a failsafe delay.
   */
  private readonly asideShapes = new Map<string, Shape>();
  /** Tenants whose queue is paused (see Waiting), with when the failsafe reads it again. */
  private readonly paused = new Map<string, { resumeAt: number; backoffMs: number; arrivalAt: number }>();
  /** Every task held in memory by tenant, whether in this.held or back in a batch, until its job ends. */
  private readonly holding = new Map<string, Set<Taken>>();

  constructor(private readonly deps: WaitingRoomDeps) {}

  /** Capacity changed: the held front is decided again; holding none, tasks that stepped aside are promoted. */
  wake(): void {
    // Tasks held in memory are the front of their queues: they are decided again, and a batch
    // of them that leaves room promotes tasks that stepped aside. Holding none, promote now.
    if (this.heldCount() === 0) void this.deps.pending.promote().catch(() => undefined);
    this.lookAgainAtHeld();
  }

  /** Every held task not in a batch now, for the batch about to be decided (each unheld). */
  takeHeld(): Pending[] {
    if (this.held.size === 0) return [];
    const out: Pending[] = [];
    for (const p of [...this.held.values()].flat()) {
      if (p.settled || !p.held) continue;
      p.unhold();
      out.push(p);
    }
    this.held = new Map();
    return out;
  }

  /** A task's job ended (placed, dropped, sent back…): it is no longer held. */
  ended(taken: Taken): void {
    if (taken.tenant) this.holding.get(taken.tenant)?.delete(taken);
  }

  /** A task of the tenant was placed: its paused queue's failsafe starts again from the first delay. */
  placedFor(tenant: string): void {
    const pause = this.paused.get(tenant);
    if (pause) pause.backoffMs = RESUME_FIRST_MS;
  }

  /** After a batch's decisions: tasks waiting outside the held front may fit; promote them and read paused queues. */
  afterBatch(view: PlacementNode[], leftRoom: boolean, roomForSome: boolean): void {
    if (!leftRoom && !(roomForSome && this.roomForAside(view))) return;
    void this.deps.pending.promote().catch(() => undefined);
    for (const tenant of [...this.paused.keys()]) this.resume(tenant);
  }

  isPaused(tenant: string): boolean {
    return this.paused.has(tenant);
  }

  /** Whether the tenant has tasks held in memory (in this.held or in a batch). */
  holds(tenant: string): boolean {
    return (this.holding.get(tenant)?.size ?? 0) > 0;
  }

  /** The dispatcher stops: held tasks go back to their queues (delayed briefly), paused queues are forgotten. */
  async stop(): Promise<void> {
    this.paused.clear();
    const held = [...this.held.values()].flat();
    this.held.clear();
    await this.delayAll(held, WAIT_RETRY_MS);
  }

  /**
   * Of each tenant's waiting tasks, the best HELD_PER_TENANT (with those already held) are held
   * in memory (added to heldHere, the batch's list); the rest go back to the tenant's paused
   * queue, or step aside (see Waiting at the top).
   */
  async park(waits: Waiting[], heldHere: Pending[], roomForSome: boolean): Promise<void> {
    // An offered task (no job) that must wait goes to its tenant's queue at once and comes back
    // with a job: every waiting task is then in a queue (the queue-depth metrics and the board
    // count it), and none is in memory without a job for the reconciler to restore.
    // A task of a group job is parked as a job is: held, or back (with its group while that is open).
    const offered = waits.filter((w) => !w.p.value.job && !w.p.value.group);
    if (offered.length === 0) return this.parkJobs(waits, heldHere, roomForSome);
    await Promise.all([this.parkJobs(waits.filter((w) => w.p.value.job || w.p.value.group), heldHere, roomForSome), this.queueOffered(...offered.map((w) => w.p))]);
  }

  private async parkJobs(waits: Waiting[], heldHere: Pending[], roomForSome: boolean): Promise<void> {
    if (waits.length === 0) return;
    if (!this.deps.isRunning()) {
      await this.delayAll(waits.map(({ p }) => p), WAIT_RETRY_MS);
      return;
    }
    // Per tenant, the best of those held already (in memory, or by this batch) and the new are
    // held; the rest go back. Decided synchronously, before any await: a wake may take
    // this.held meanwhile.
    const fresh = new Map<string, Pending[]>();
    for (const { p, task } of waits) {
      p.value.tenant = task.tenant;
      const list = fresh.get(task.tenant);
      if (list) list.push(p);
      else fresh.set(task.tenant, [p]);
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
        p.value.group?.resolve(p.value.taskId); // held: no longer the group job's
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
      await this.each(back, (p) => this.stepAside(p));
      return;
    }
    // No room for anything: the tenant's queue pauses (before the jobs go back, so they are not
    // taken again at once) and they wait in it, in order, at no cost.
    await Promise.all(pausing.map((t) => this.pause(t)));
    await this.each(back, (p) => this.sendBack(p));
  }

  /** Whether tasks wait for room: held in memory, or in a paused tenant's queue. */
  congested(): boolean {
    return this.anyPaused() || this.heldCount() > 0;
  }

  /** Whether a tenant's queue is paused (the cluster had room for nothing). */
  anyPaused(): boolean {
    return this.paused.size > 0;
  }

  /** How many tasks are held in memory, over all tenants (each a job taken from its queue). */
  heldCount(): number {
    let n = 0;
    for (const set of this.holding.values()) n += set.size;
    return n;
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
   * ASIDE_SHAPES scans of the nodes; afterBatch asks only when the nodes have room at all). The shapes that fit
   * are forgotten: the tasks brought back for them that still cannot be placed bring them back.
   */
  private roomForAside(view: PlacementNode[]): boolean {
    if (this.asideShapes.size === 0) return false;
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
    const workers = this.deps.fetchersOf(tenant);
    if (!workers || !this.deps.isRunning()) return;
    const was = this.paused.get(tenant);
    const backoffMs = was ? Math.min(RESUME_MAX_MS, was.backoffMs * 2) : RESUME_FIRST_MS;
    this.paused.set(tenant, { resumeAt: Date.now() + backoffMs, backoffMs, arrivalAt: was?.arrivalAt ?? 0 });
    await Promise.all(workers.filter((w) => !w.isPaused()).map((w) => w.pause(true)));
  }

  /** Reads a paused tenant's queue again. */
  resume(tenant: string): void {
    const p = this.paused.get(tenant);
    if (!p) return;
    this.paused.delete(tenant);
    const paused = (this.deps.fetchersOf(tenant) ?? []).filter((w) => w.isPaused());
    if (paused.length === 0) return;
    Promise.all(paused.map((w) => w.resume()))
      .then(() => this.deps.pending.nudge(tenant, this.deps.fetchersOf(tenant).length))
      .catch((err) => this.deps.logger.warn({ err, tenant }, "dispatcher: could not read a paused tenant's queue again"));
  }

  /**
   * The failsafe: paused queues whose delay is over are read again, and so are those holding a
   * task that would go before one held (it arrived through another process, an API process of
   * `--processes N`, whose adds this one does not hear of): one ZCOUNT per better class.
   */
  resumeDue(): void {
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
  resumeThinned(): void {
    for (const tenant of [...this.paused.keys()]) {
      if ((this.holding.get(tenant)?.size ?? 0) < HELD_PER_TENANT / 2) this.resume(tenant);
    }
  }

  /** Tasks arrived in a paused tenant's queue: it is read if one would go before a task held. */
  arrived(tenant: string, bestRank: number): void {
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
  async keepHeld(list: Pending[]): Promise<void> {
    if (list.length === 0) return;
    if (!this.deps.isRunning()) {
      await this.delayAll(list, WAIT_RETRY_MS);
      return;
    }
    for (const p of list) {
      const tenant = p.value.tenant!;
      const held = this.held.get(tenant);
      if (held) held.push(p);
      else this.held.set(tenant, [p]);
    }
  }

  /** delay() for many: see each(). */
  delayAll(ps: Pending[], ms: number): Promise<void> {
    return this.each(ps, (p) => this.delay(p, ms));
  }

  /**
   * Sends waiting tasks back with `how`, except those without a job of their own or an open group
   * to go back with (offered, or held after their group moved on): they go to their queues
   * together, in group jobs, rather than in a job each.
   */
  private async each(ps: Pending[], how: (p: Pending) => Promise<void>): Promise<void> {
    const loose = ps.filter((p) => !p.value.job && !p.value.group?.open);
    const rest = loose.length === 0 ? ps : ps.filter((p) => p.value.job || p.value.group?.open);
    await Promise.all([...rest.map(how), this.queueOffered(...loose)]);
  }

  /**
   * Moves a job to the delayed set and ends its processing. A job that cannot be moved (its lock
   * or key is gone: another taker has it, or it was removed) is let go; the database and the
   * reconciler still have the task.
   */
  async delay(p: Pending, ms: number): Promise<void> {
    const { job } = p.value;
    if (!job) return this.jobless(p, { kind: 'later', ms }, false);
    try {
      await job.moveToDelayed(Date.now() + ms, p.value.token);
    } catch (err) {
      this.deps.logger.debug({ err, task_id: job.id }, 'dispatcher: could not delay a waiting job; leaving it to the reconciler');
    }
    p.settle(new DelayedError());
  }

  /**
   * A task without a job of its own that must wait: one of an open group goes back with its group
   * job (task-group.ts), its shape remembered when it waits outside the held front (aside); any
   * other (offered, or of a group that has moved on) goes to its tenant's queue.
   */
  private async jobless(p: Pending, how: GroupReturn, aside = true): Promise<void> {
    const { group, row, rank } = p.value;
    if (!group?.open) return this.queueOffered(p);
    if (aside) this.rememberShape(p.value.shape);
    group.giveBack(row!, how, rank);
    p.settle();
  }

  /** Offered tasks (no job) that must wait after all go to their tenants' queues, together (in group jobs). */
  private async queueOffered(...ps: Pending[]): Promise<void> {
    if (ps.length === 0) return;
    try {
      await this.deps.pending.add(ps.map((p) => p.value.row!));
    } catch (err) {
      this.deps.logger.warn({ err, task_ids: ps.slice(0, 10).map((p) => p.value.taskId) }, 'dispatcher: could not queue offered tasks that must wait; the reconciler will');
    }
    for (const p of ps) p.settle();
  }

  /** Whether tasks are held in memory, not in a batch now (what lookAgainAtHeld would decide again). */
  hasHeld(): boolean {
    return this.held.size > 0;
  }

  /** Brings the waiting tasks held in memory back into the next batch. */
  lookAgainAtHeld(): void {
    if (this.held.size === 0) return;
    const all = [...this.held.values()].flat();
    this.held = new Map();
    this.deps.readd(all);
  }

  /**
   * A waiting task that goes to the delayed set, until a wake that leaves room promotes it or
   * its failsafe delay (waitFailsafeMs) passes; aged as in sendBack.
   */
  private async stepAside(p: Pending): Promise<void> {
    const { job, rank } = p.value;
    if (!job) return this.jobless(p, { kind: 'later', ms: waitFailsafeMs(p.value.group?.job.attemptsStarted ?? 1) });
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
    if (!job) return this.jobless(p, { kind: 'back' });
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
}

/** Waiting order within a tenant: aged priority, then age (creation time, then the time-ordered id), then arrival. */
export function byRank(a: Pending, b: Pending): number {
  const x = a.value;
  const y = b.value;
  // Task ids are time-ordered (domain/ids.ts): within a millisecond they keep creation order.
  const byId = x.taskId === y.taskId ? 0 : x.taskId < y.taskId ? -1 : 1;
  return (x.rank ?? 0) - (y.rank ?? 0) || (x.createdAt ?? 0) - (y.createdAt ?? 0) || byId || x.seq - y.seq;
}
