// The leader's schedule ticker: each pass plans the due schedules' ticks (schedule/tick-planner.ts)
// and claims each with a compare-and-set on last_tick in the transaction that creates its run
// (state/schedule-store.ts claimTick), so a tick starts once however many control planes run a
// pass — during a leader change both may, for a moment — and a restart finds handled ticks
// handled. Missed ticks while down: at most one catch-up, within starting_deadline_seconds.
// It sleeps until the earliest next tick (at most maxSleepMs), so a tick's run is submitted
// within a few milliseconds of it.
import { PassLoop } from '../lifecycle/pass-loop.ts';
import type { Logger } from 'pino';
import type { CloseOptions, Part } from '../lifecycle/part.ts';
import { compileCron } from '../schedule/cron.ts';
import { admitRun, planTicks, type TickPlan } from '../schedule/tick-planner.ts';
import type { ScheduleStore, TickClaim } from '../state/schedule-store.ts';
import type { ScheduleRow, TaskRow } from '../state/schema.ts';
import type { ControlDeps } from './deps.ts';
import { countSubmitted, createScheduleRun, runRefusal, scheduledTaskRow } from './schedule-runs.ts';
import { Forbidden } from '../domain/errors.ts';
import { afterCancels, afterTaskCancel, enqueueWithin, type CancelledTask } from './queueing.ts';
import type { ReleasedTask } from '../state/task-store.ts';
import type { Tx } from '../state/tx.ts';

const BATCH = 1_000;

/** What a replace cancelled, for the steps after its commit. */
interface Replaced {
  /** The tasks of the workflow runs it cancelled. */
  workflowTasks: CancelledTask[];
  tasks: Array<{ task: TaskRow; wasOnNode: boolean; released: ReleasedTask[] }>;
}
const CRON_CACHE = 10_000;

export interface ScheduleTickerDeps extends Pick<ControlDeps, 'config' | 'workflows' | 'tasks' | 'releaser' | 'pending' | 'redis' | 'names' | 'metrics'> {
  schedules: ScheduleStore;
  logger: Logger;
  /** Called with each run started and how late it was (ms after its tick), for metrics and the bench. */
  onRun?(s: ScheduleRow, runId: string, lagMs: number): void;
  maxSleepMs?: number;
}

export class ScheduleTicker implements Part {
  private readonly loop: PassLoop;
  /** Compiled crons by expression and time zone: compiling costs more than planning. */
  private readonly crons = new Map<string, ReturnType<typeof compileCron>>();

  constructor(private readonly deps: ScheduleTickerDeps) {
    // After a pass, sleep until the earliest next tick (at most maxSleepMs: a schedule created or
    // changed meanwhile is seen within it).
    const maxSleep = deps.maxSleepMs ?? 1_000;
    this.loop = new PassLoop(
      async () => {
        await this.pass();
        const next = await this.deps.schedules.earliestNext();
        return next ? Math.max(5, Math.min(maxSleep, next.getTime() - Date.now() + 2)) : maxSleep;
      },
      (err) => this.deps.logger.warn({ err }, 'schedules: pass failed; will try again'),
      maxSleep,
    );
  }

  private compiled(cron: string, timezone: string) {
    const key = `${cron}\u0000${timezone}`;
    let c = this.crons.get(key);
    if (!c) {
      if (this.crons.size >= CRON_CACHE) this.crons.clear();
      c = compileCron(cron, timezone);
      this.crons.set(key, c);
    }
    return c;
  }

  start(): void {
    this.loop.start();
  }

  /** Stops ticking (when this control plane stops leading); waits for a pass under way. */
  stop(force = false): Promise<void> {
    return this.loop.stop(force);
  }

  close(options?: CloseOptions): Promise<void> {
    return this.loop.close(options);
  }

  /** One pass over the due schedules. */
  async pass(now = new Date()): Promise<void> {
    // Bounded: ticks that keep failing stay due and must not hold the pass.
    for (let page = 0; page < 20; page++) {
      const due = await this.deps.schedules.due(now, BATCH);
      // A tick whose run is one task and that needs no look at earlier runs (allow, or no run
      // active) is claimed together with the others in one transaction; the rest one by one.
      const plain: Array<{ s: ScheduleRow; plan: TickPlan }> = [];
      const single: ScheduleRow[] = [];
      // Schedules on the same cron, last tick and deadline share one plan (croner's search is
      // the costly part of a pass over many schedules).
      const plans = new Map<string, TickPlan | null>();
      for (const s of due) {
        const key = `${s.cron}\u0000${s.timezone}\u0000${s.lastTick.getTime()}\u0000${s.startingDeadlineSeconds}`;
        let plan = plans.get(key);
        if (plan === undefined) {
          const cron = this.compiled(s.cron, s.timezone);
          plan = cron.ok ? planTicks(cron.cron, { starting_deadline_seconds: s.startingDeadlineSeconds, paused: s.paused }, s.lastTick, now) : null;
          plans.set(key, plan);
        }
        if (plan?.run && s.task && s.concurrency === 'allow') plain.push({ s, plan });
        else single.push(s);
      }
      await Promise.all([
        this.tickTogether(plain).catch(async (err) => {
          for (const p of plain) await this.failed(p.s, err);
        }),
        ...single.map((s) => this.tick(s, now).catch((err) => this.failed(s, err))),
      ]);
      if (due.length < BATCH) return;
    }
  }

  private async tickTogether(all: Array<{ s: ScheduleRow; plan: TickPlan }>): Promise<void> {
    if (all.length === 0) return;
    const batch: typeof all = [];
    const claims = [];
    for (const { s, plan } of all) {
      const claim = { from: s.lastTick, handledThrough: plan.handledThrough, next: plan.next, missed: plan.missed };
      const task = scheduledTaskRow(this.deps, s, plan.run);
      const refusal = runRefusal(this.deps, s.tenant, [task], false);
      if (refusal) await this.refused(s, claim, plan.run!, refusal);
      else {
        batch.push({ s, plan });
        claims.push({ id: s.id, claim, task });
      }
    }
    const started = await this.deps.schedules.claimTicksWithTasks(claims);
    countSubmitted(this.deps, started);
    await enqueueWithin(this.deps, started).catch((err) =>
      this.deps.logger.warn({ err, runs: started.length }, 'schedules: runs stored, Redis unavailable; the reconciler will enqueue them'),
    );
    const bySchedule = new Map(batch.map((b) => [b.s.id, b]));
    for (const t of started) {
      const b = bySchedule.get(t.scheduleId!);
      if (b?.plan.run) this.deps.onRun?.(b.s, t.id, Date.now() - b.plan.run.getTime());
    }
  }

  /**
   * A run the tenant's policy refuses now (narrowed since the schedule was made): the tick is
   * handled without a run, since trying again would be refused again, and last_error says why,
   * as for a run that could not start.
   */
  private async refused(s: ScheduleRow, claim: TickClaim, tick: Date, reason: string): Promise<void> {
    if (!(await this.deps.schedules.claimTick(s.id, claim))) return; // another control plane took this tick
    this.deps.logger.warn({ schedule_id: s.id, tenant: s.tenant, tick: tick.toISOString(), reason }, "schedules: a run refused by its tenant's policy; the tick is skipped");
    await this.deps.schedules.noteError(s.id, `the run of ${tick.toISOString()} was refused: ${reason}`);
  }

  private async failed(s: ScheduleRow, err: unknown): Promise<void> {
    const msg = (err as Error).message ?? String(err);
    this.deps.logger.warn({ err, schedule_id: s.id }, 'schedules: could not start a run; will try again while the tick is within its deadline');
    await this.deps.schedules.noteError(s.id, msg).catch(() => undefined);
  }

  /**
   * Cancels a schedule's earlier runs (replace) in the caller's transaction; returns what must
   * follow once it has committed, as the cancel use cases do: the workflow runs' tasks (for
   * afterCancels) and the task runs (for afterTaskCancel).
   */
  private async cancelIn(tx: Tx, s: ScheduleRow, runIds: string[]): Promise<Replaced> {
    const out: Replaced = { workflowTasks: [], tasks: [] };
    for (const id of runIds) {
      // A run that ended meanwhile is left as it ended.
      if (s.workflow) {
        const r = await this.deps.workflows.cancelIn(tx, id);
        if (typeof r === 'object' && 'cancelled' in r) out.workflowTasks.push(...r.cancelled);
      } else {
        const r = await this.deps.tasks.cancelIn(tx, id, 'replaced by the next run of its schedule (concurrency replace)');
        if (typeof r === 'object' && 'wasOnNode' in r) out.tasks.push(r);
      }
    }
    return out;
  }

  private async tick(s: ScheduleRow, now: Date): Promise<void> {
    const { schedules, logger } = this.deps;
    const cron = this.compiled(s.cron, s.timezone);
    if (!cron.ok) {
      // Checked at create and patch; a Node with other time zone data could still refuse it.
      await schedules.update(s.id, { nextTick: null });
      await schedules.noteError(s.id, cron.error);
      return;
    }
    const plan = planTicks(cron.cron, { starting_deadline_seconds: s.startingDeadlineSeconds, paused: s.paused }, s.lastTick, now);
    const claim = { from: s.lastTick, handledThrough: plan.handledThrough, next: plan.next, missed: plan.missed };
    if (!plan.run) {
      await schedules.claimTick(s.id, claim);
      if (plan.missed > 0) logger.info({ schedule_id: s.id, missed: plan.missed }, 'schedules: ticks missed (past starting_deadline_seconds, or while down)');
      return;
    }
    const tickAt = plan.run;
    const active = s.concurrency === 'allow' ? [] : await schedules.activeRuns(s);
    const admission = admitRun(s.concurrency, active);
    if (admission.action === 'wait') {
      // Not handled: a later pass starts it if the run ends in time (CronJob's Forbid). Until
      // then the schedule stays due; look again in a second rather than at every pass.
      await schedules.update(s.id, { nextTick: new Date(now.getTime() + 1_000) });
      return;
    }
    const claimed = await schedules.claimTick(s.id, claim, async (tx) => {
      // Refused by the tenant's policy (Forbidden): nothing is made, nor cancelled (refused below).
      // replace: the runs it replaces are cancelled in the transaction that claims the tick and
      // makes the new run, so no crash leaves both running (cancelled after the commit, a crash
      // between the two left the old run going until the next tick, for a daily cron a day).
      const replaced = admission.action === 'replace' ? await this.cancelIn(tx, s, admission.cancel) : null;
      const run = await createScheduleRun(this.deps, tx, s, tickAt);
      return { result: { run, replaced }, runId: run.runId };
    }).catch(async (err: unknown) => {
      if (!(err instanceof Forbidden)) throw err;
      await this.refused(s, claim, tickAt, err.message);
      return null;
    });
    if (!claimed?.result) return; // another control plane took this tick
    const { run, replaced } = claimed.result;
    countSubmitted(this.deps, run.made);
    // Told after the commit; a crash before it is covered by the node health check, which tells
    // again the nodes that still list a cancelled attempt.
    if (replaced) {
      await afterCancels(this.deps, replaced.workflowTasks);
      for (const r of replaced.tasks) await afterTaskCancel(this.deps, r);
    }
    await enqueueWithin(this.deps, run.queued).catch((err) =>
      logger.warn({ err, schedule_id: s.id }, 'schedules: run stored, Redis unavailable; the reconciler will enqueue it'),
    );
    this.deps.onRun?.(s, run.runId, Date.now() - tickAt.getTime());
  }
}
