// Puts accepted work back into Redis when Redis lost it (restarted without persistence,
// flushed, or down while a task was accepted before the crash of a previous process). The
// database is the truth: every queued task must have a pending job (its own, or a group job
// that lists it: pending.ts). Runs at start, on each Redis reconnect and every few seconds; a
// task restored while another job still has it is decided once (the dispatcher places only
// tasks still queued).
//
// The same passes age waiting tasks (agedPriority): a job's priority rises one class per
// scheduler.aging_seconds until it is critical.
//
// Two paces. A pass checks up to PAGE tasks from where the last one stopped while catching up
// (at start, after a reconnect, and when Redis lost its data: until every queued task was
// checked once, when Redis gets a mark, reconciledKey). Otherwise it checks the tasks that
// arrived since the pass before last, those queued again since the last pass (a retry, a release:
// their seq is old), STEADY_PAGE more of the backlog, and the tasks that moved
// up an aging class since the last pass (the database finds them: the rest of the backlog has
// nothing to re-rank); and if the mark is gone, Redis lost its data, so it catches up again.
// Checking 10,000 tasks every 5 s whatever happened was what an idle control plane kept doing
// with 100,000 tasks queued, and, until every task was critical, with any backlog that could
// still age (docs/decisions.md).
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { TaskStore } from '../state/task-store.ts';
import type { PendingQueues } from './pending.ts';
import { agedPriority, waitingSince } from './aging.ts';
import { closeOnce, type CloseOptions, type Part } from '../lifecycle/part.ts';
import { type RedisNames } from './queues.ts';
import { PRIORITY_RANK } from '../domain/task.ts';
import { setTimeout as sleep } from 'node:timers/promises';

/** Tasks looked at per pass at most, and per step: a pass reads and checks one step at a time. */
const PAGE = 10_000;
const STEP = 100;
/** Tasks of the backlog looked at per steady pass (beside the new ones): 100,000 in 100 passes. */
const STEADY_PAGE = 1_000;
/** The most aging classes a task moves up: from low to critical. */
const MAX_AGING_CLASSES = PRIORITY_RANK.low - PRIORITY_RANK.critical;
/**
 * How far before the last pass's start a steady pass looks for tasks queued again: a transaction
 * stamps waiting_since when it begins and may commit later, and the two clocks (this process's,
 * the database's) are compared only through durations.
 */
const AGAIN_SLACK_SECONDS = 30;
/** How long after a task was first seen without its job it is looked at again before its job is restored. */
const SECOND_LOOK_MS = 500;

type Step = Awaited<ReturnType<TaskStore['idsInStatus']>>;
/** A job hash's timestamp, priority and finishedOn fields (null when absent). */
type JobFields = [string | null, string | null, string | null];
/** A task's job as read: its fields and its id (the task's own, or a group job's). */
type Found = { fields: JobFields; jobId: string };

/** The task ids a group job's data holds (none when it is not a group's or does not parse). */
function taskIdsOf(data: string | null | undefined): Set<string> {
  if (!data) return new Set();
  try {
    const parsed = JSON.parse(data) as { taskIds?: unknown };
    return new Set(Array.isArray(parsed.taskIds) ? parsed.taskIds.filter((x): x is string => typeof x === 'string') : []);
  } catch {
    return new Set();
  }
}

export class Reconciler implements Part {
  private timer: NodeJS.Timeout | null = null;
  private closer?: (options?: CloseOptions) => Promise<void>;
  private running: Promise<number> | null = null;
  private generation = 0;
  /** Where the next pass's page starts (task seq); 0 = from the oldest. */
  private cursor = 0;
  /** Set by stop(): a paced pass stops between steps. */
  private halted = false;
  /** Until every queued task has been checked once (see the top of this file). */
  private catchingUp = true;
  /** Steady passes read the tasks after this seq (the newest seen by the pass before last)… */
  private newFrom = 0;
  /** …and this is the newest seen so far. */
  private newest = 0;
  /** Counts catchUp() calls: a step read before one does not move the cursor it reset. */
  private catchUps = 0;
  /** When the current catch-up began: every task it checks is aged as of then or later. */
  private catchUpFrom: number | null = null;
  /** Aging is applied up to this time (ms, this clock); null while catching up. */
  private agedUpTo: number | null = null;
  /** Steady passes read the tasks queued again since this time (ms, this clock): the last pass's start. */
  private againSince: number | null = null;

  constructor(
    private readonly deps: {
      tasks: TaskStore;
      connection: Redis;
      names: RedisNames;
      logger: Logger;
      intervalMs: number;
      agingSeconds: number;
      /** Hands placed tasks whose node jobs were lost to their nodes again. */
      restorePlaced(ids: string[]): Promise<void>;
      /**
       * Whether this process's dispatcher has the task in hand without a job (offered to it
       * directly, and being decided or handed to its node): not lost.
       */
      inHand?(taskId: string): boolean;
      /** Told how many tasks whose jobs were lost it restored: queued again, or handed to their nodes again. */
      onRestored?(kind: 'queued' | 'placed', count: number): void;
      pending: PendingQueues;
    },
  ) {}

  start(): void {
    if (this.timer) return;
    this.halted = false;
    this.catchUp();
    const generation = ++this.generation;
    const tick = () => {
      this.reconcile()
        .catch((err) => this.deps.logger.warn({ err }, 'reconciler: pass failed; will try again'))
        .finally(() => {
          if (this.timer && generation === this.generation) this.timer = setTimeout(tick, this.deps.intervalMs);
        });
    };
    this.timer = setTimeout(tick, 0);
  }

  /** Stops the periodic passes (when this replica stops leading). */
  async stop(force = false): Promise<void> {
    this.generation++;
    this.halted = true; // a pass under way ends after its current step (the next resumes there)
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (!force) await this.running?.catch(() => undefined);
  }

  /** The next passes check every queued task from the oldest (Redis may have lost its data). */
  catchUp(): void {
    this.catchingUp = true;
    this.cursor = 0;
    this.catchUps++;
    this.catchUpFrom = null;
    this.agedUpTo = null;
    this.againSince = null;
  }

  /** One pass; returns how many jobs it had to put back. */
  reconcile(): Promise<number> {
    this.running ??= this.pass().finally(() => (this.running = null));
    return this.running;
  }

  private async pass(): Promise<number> {
    // Queued tasks need a pending job; placed tasks not yet started need their node job.
    // The same pass ages waiting tasks: their job's priority follows agedPriority().
    // Up to 10,000 tasks per pass (PAGE; STEADY_PAGE when nothing can age, see the top),
    // resuming where the last pass stopped, so any backlog is covered within a few passes
    // without one pass growing with it. They are read and checked
    // 100 at a time, with a pause between steps that spreads a full pass over about half the
    // interval (at most 20 ms a step): one read of 10,000 rows held an API process's requests
    // for ~80 ms every pass, and 100 steps back to back still made a burst that requests queued
    // behind (p99 of POST /tasks at half rate, bench (a): 97 ms in one read; 22–36 ms in
    // unpaced steps; ~14 ms with no reconciler at all).
    const pause = Math.min(20, this.deps.intervalMs / 2 / (PAGE / STEP));
    const { connection, names } = this.deps;
    if (!this.catchingUp && (await connection.exists(names.reconciledKey)) === 0) {
      this.deps.logger.warn('reconciler: Redis lost its data (its mark is gone); checking every queued task again');
      this.catchUp();
    }
    const passStart = Date.now();
    if (this.catchingUp) this.catchUpFrom ??= passStart;
    const suspects: Step = [];
    let firstSeen = 0;
    const checked = new Set<string>(); // a new task may be in the backlog's slice too
    const checkStep = async (step: Step) => {
      const queued = step.filter((t) => !checked.has(t.id));
      for (const t of queued) {
        checked.add(t.id);
        this.newest = Math.max(this.newest, t.seq);
      }
      const jobless = await this.check(queued);
      if (jobless.length > 0 && suspects.length === 0) firstSeen = Date.now();
      suspects.push(...jobless);
    };
    // Steady: the tasks that arrived since the pass before last first (one accepted by a process
    // that died between its commit and its enqueue is found within two passes; reading from the
    // pass before last covers transactions that committed after a later seq was read).
    if (!this.catchingUp) {
      let from = this.newFrom;
      this.newFrom = this.newest;
      for (let seen = 0; seen < PAGE && !this.halted; seen += STEP) {
        const queued = await this.deps.tasks.idsInStatus(['queued', 'scheduled'], from, STEP);
        await checkStep(queued);
        if (queued.length < STEP) break;
        from = queued[queued.length - 1].seq;
        await sleep(pause);
      }
      // The tasks queued again since the last pass (a retry, a release, a lost attempt, a
      // workflow's ready task): their seq is old, so only the backlog's slice would reach them,
      // ~100 passes later with 100,000 queued.
      const againFor = (passStart - (this.againSince ?? passStart)) / 1000 + AGAIN_SLACK_SECONDS;
      this.againSince = passStart;
      let againAfter: string | null = null;
      for (let seen = 0; seen < PAGE && !this.halted; seen += STEP) {
        const again = await this.deps.tasks.queuedAgain(againFor, againAfter, STEP);
        await checkStep(again);
        if (again.length < STEP) break;
        againAfter = again[again.length - 1].page;
        await sleep(pause);
      }
      // The tasks that moved up an aging class since the last pass (all of them: a burst of
      // tasks crosses together), then the slice of the backlog below.
      const agedFrom = this.agedUpTo ?? passStart;
      let afterSeq = 0;
      let crossedAll = true;
      for (;;) {
        if (this.halted) {
          crossedAll = false;
          break;
        }
        const crossed = await this.deps.tasks.crossedAgingClass(agedFrom, passStart, this.deps.agingSeconds, MAX_AGING_CLASSES, afterSeq, STEP);
        await checkStep(crossed);
        if (crossed.length < STEP) break;
        afterSeq = crossed[crossed.length - 1].seq;
        await sleep(pause);
      }
      if (crossedAll) this.agedUpTo = passStart;
    }
    const page = this.catchingUp ? PAGE : STEADY_PAGE;
    for (let seen = 0; seen < page && !this.halted; seen += STEP) {
      const epoch = this.catchUps;
      const queued = await this.deps.tasks.idsInStatus(['queued', 'scheduled'], this.cursor, STEP);
      await checkStep(queued);
      if (epoch !== this.catchUps) continue; // caught up from the oldest meanwhile (a reconnect)
      this.cursor = queued.length === STEP ? queued[queued.length - 1].seq : 0;
      if (this.cursor === 0) {
        // A round of the backlog is over. Every queued task has been checked (and aged) once
        // since catching up began: mark Redis; aging goes on from when the catch-up began.
        if (this.catchingUp && !this.halted) {
          await connection.set(names.reconciledKey, String(Date.now()));
          this.catchingUp = false;
          this.newFrom = this.newest;
          this.agedUpTo = this.catchUpFrom ?? passStart;
          this.againSince = this.catchUpFrom ?? passStart;
        }
        break;
      }
      await sleep(pause);
    }
    if (suspects.length === 0) return 0;
    // A second look before restoring anything. Accepting a task commits its row and then adds its
    // job, and placing one commits the placement and then hands the node its job: a task read in
    // between has no job yet and is not lost. Restoring it was harmless (adding an existing job id
    // is a no-op) but the warning below then cried data loss in most busy runs (bench (e): once or
    // twice in 7 of 8). A job lost for real is still missing SECOND_LOOK_MS later.
    await sleep(Math.max(0, SECOND_LOOK_MS - (Date.now() - firstSeen)));
    if (this.halted) return 0; // stopped leading meanwhile: the next leader's pass looks again
    const { missing: jobless, deadIds } = await this.jobless(suspects);
    const missing = jobless.filter((t) => !this.deps.inHand?.(t.id));
    const lostQueued = missing.filter((t) => t.status === 'queued' || !t.nodeId);
    const lostPlaced = missing.filter((t) => t.status === 'scheduled' && t.nodeId);
    for (const t of lostQueued) if (deadIds.has(t.id)) await this.deps.pending.remove(t.id, t.tenant).catch(() => undefined);
    if (lostQueued.length > 0) await this.deps.pending.add(lostQueued);
    if (lostPlaced.length > 0) await this.deps.restorePlaced(lostPlaced.map((t) => t.id));
    if (lostQueued.length > 0) this.deps.onRestored?.('queued', lostQueued.length);
    if (lostPlaced.length > 0) this.deps.onRestored?.('placed', lostPlaced.length);
    const restored = missing.length;
    if (restored > 0) this.deps.logger.warn({ restored, task_ids: missing.slice(0, 10).map((t) => t.id) }, 'reconciler: re-enqueued queued or placed tasks whose jobs Redis had lost');
    return restored;
  }

  /**
   * The tasks of `batch` that have no job in Redis (or, queued, only a pending job that ended)
   * and are still as the batch read them in the database: a task placed or started since the
   * batch was read is not missing. A queued task's job is its own (its id is the task's) or a
   * group job (pending.ts) that its mark names and whose tasks still include it.
   */
  private async jobless(batch: Step): Promise<{ missing: Step; deadIds: Set<string>; found: Array<Found | undefined> }> {
    if (batch.length === 0) return { missing: [], deadIds: new Set(), found: [] };
    const { connection, names } = this.deps;
    const jobKey = (tenant: string, jobId: string) => `${names.bullPrefix}:${names.pendingQueue(tenant)}:${jobId}`;
    const pending = (t: Step[number]) => t.status === 'queued' || !t.nodeId;
    const pipe = connection.pipeline();
    for (const t of batch) {
      // A job hash always has its timestamp, and an attempt's record (scheduler/hand-over.ts)
      // when it was handed over; a missing field means a missing job.
      if (pending(t)) pipe.hmget(jobKey(t.tenant, t.id), 'timestamp', 'priority', 'finishedOn').hget(names.groupedTasks(t.tenant), t.id);
      else pipe.hmget(names.attemptKey(t.id, t.attempts), 'at');
    }
    const replies = ((await pipe.exec()) ?? []).map((r) => r?.[1]);
    const found: Array<Found | undefined> = [];
    const marks = new Map<number, string>(); // batch index → the group job its mark names
    let k = 0;
    for (const [j, t] of batch.entries()) {
      const fields = replies[k++] as JobFields | undefined;
      if (!pending(t)) {
        found[j] = fields ? { fields, jobId: t.id } : undefined;
        continue;
      }
      const mark = replies[k++] as string | null | undefined;
      found[j] = fields ? { fields, jobId: t.id } : undefined;
      if (!fields?.[0] && mark) marks.set(j, mark);
    }
    if (marks.size > 0) {
      // The groups named, each read once: its fields, and whether its tasks still include the task.
      const groups = new Map<string, { tenant: string; jobId: string }>();
      for (const [j, jobId] of marks) groups.set(`${batch[j].tenant}\n${jobId}`, { tenant: batch[j].tenant, jobId });
      const list = [...groups.values()];
      const gp = connection.pipeline();
      for (const g of list) gp.hmget(jobKey(g.tenant, g.jobId), 'timestamp', 'priority', 'finishedOn', 'data');
      const read = ((await gp.exec()) ?? []).map((r) => r?.[1] as [string | null, string | null, string | null, string | null] | undefined);
      const byKey = new Map(list.map((g, i) => [`${g.tenant}\n${g.jobId}`, { jobId: g.jobId, fields: read[i], tasks: taskIdsOf(read[i]?.[3]) }]));
      for (const [j, jobId] of marks) {
        const g = byKey.get(`${batch[j].tenant}\n${jobId}`);
        if (g?.fields?.[0] && g.tasks.has(batch[j].id)) found[j] = { fields: [g.fields[0], g.fields[1], g.fields[2]], jobId: g.jobId };
      }
    }
    // A pending job that ended (it failed: a batch that threw fails its jobs) while its task is
    // still queued would keep the task from ever being enqueued again: it counts as missing.
    const dead = (t: Step[number], j: number) => t.status === 'queued' && !!found[j]?.fields[2];
    const noJob = batch.filter((t, j) => !found[j]?.fields[0] || dead(t, j));
    // Its own job that ended is removed before the task is queued again (a group's is left: its id is not the task's).
    const deadIds = new Set(batch.filter((t, j) => found[j]?.fields[0] && dead(t, j) && found[j]?.jobId === t.id).map((t) => t.id));
    if (noJob.length === 0) return { missing: [], deadIds, found };
    const now = new Map((await this.deps.tasks.getMany(noJob.map((t) => t.id))).map((t) => [t.id, t]));
    const missing = noJob.filter((t) => {
      const n = now.get(t.id);
      return n !== undefined && n.status === t.status && n.attempts === t.attempts;
    });
    return { missing, deadIds, found };
  }

  /** Checks one step's tasks against Redis and ages their jobs; returns those without a job (a first look). */
  private async check(batch: Step): Promise<Step> {
    if (batch.length === 0) return [];
    const { missing, found } = await this.jobless(batch);
    // The step's changes go out together, in one write (auto-pipelined). One at a time, each
    // read its job and then changed it, two round trips and two writes per task: after a
    // 100,000-task burst that took up to a third of a core, a fifth of it ioredis copying
    // BullMQ's ~50 scripts onto a new pipeline per write (docs/decisions.md, "Idle work";
    // bench/after-burst.ts). A group job is moved once, to the best rank its tasks have aged to.
    const changes = new Map<string, { tenant: string; rank: number }>();
    for (const [j, t] of batch.entries()) {
      const current = found[j];
      if (t.status !== 'queued' || !current?.fields[0]) continue;
      const aged = agedPriority(t.priority, waitingSince(t), this.deps.agingSeconds);
      const was = Number(current.fields[1] ?? PRIORITY_RANK[t.priority]);
      const change = changes.get(current.jobId);
      if (aged < (change?.rank ?? was)) changes.set(current.jobId, { tenant: t.tenant, rank: aged });
    }
    // A job gone meanwhile (its task placed or cancelled) fails the change; the next pass sees
    // the task as it is then.
    await Promise.all([...changes].map(([jobId, c]) => this.deps.pending.changePriority(jobId, c.tenant, c.rank).catch(() => undefined)));
    return missing;
  }

  /** Stops for good (see lifecycle/part.ts); force: a pass under way is not waited for. */
  close(options?: CloseOptions): Promise<void> {
    this.closer ??= closeOnce(async ({ force }) => {
      await this.stop(force);
    });
    return this.closer(options);
  }
}
