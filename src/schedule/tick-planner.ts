// Which tick of a schedule to run now, with Kubernetes CronJob semantics, and what comes next.
//   planTicks(cron, schedule, lastHandled, now) — call on every scheduler pass (and after a
//     restart or a leader change) with the last tick already handled (or the schedule's creation
//     time). It returns at most one tick to run: the most recent one not yet handled, and only if
//     it is within starting_deadline_seconds; every other tick since lastHandled is missed.
//   admitRun(policy, active) — what the concurrency policy says about starting that run.
// Exactly-once is the caller's: store `handledThrough` with a compare-and-set on the old
// lastHandled in the same transaction that submits the run, so two control planes cannot both
// start the tick.
import type { CompiledCron } from './cron.ts';

/** Kubernetes caps its count of missed start times at 100; so does this. */
export const MAX_COUNTED_MISSED = 100;

export interface TickInput {
  starting_deadline_seconds?: number | null;
  paused?: boolean;
}

export interface TickPlan {
  /** The scheduled time to start a run for now, or null. */
  run: Date | null;
  /** Ticks after lastHandled that will never run (at most MAX_COUNTED_MISSED counted). */
  missed: number;
  /** The new "last handled tick": the latest tick at or before now (lastHandled if none). */
  handledThrough: Date;
  /** The first tick after now (for next_run_at); null when paused or the cron never fires again. */
  next: Date | null;
}

export function planTicks(cron: CompiledCron, schedule: TickInput, lastHandled: Date, now: Date): TickPlan {
  const next = schedule.paused ? null : cron.nextAfter(now);
  const latest = cron.latestAtOrBefore(now);
  if (latest === null || latest <= lastHandled) return { run: null, missed: 0, handledThrough: lastHandled, next };
  let earlier = 0;
  for (let t = cron.nextAfter(lastHandled); t !== null && t < latest && earlier < MAX_COUNTED_MISSED; t = cron.nextAfter(t)) earlier++;
  const deadline = schedule.starting_deadline_seconds;
  const tooLate = deadline !== null && deadline !== undefined && now.getTime() - latest.getTime() > deadline * 1000;
  // Paused: ticks pass as missed and are not caught up on resume (unlike a suspended CronJob
  // without a deadline, which starts its last missed job at once — rarely what was meant).
  if (schedule.paused || tooLate) return { run: null, missed: Math.min(earlier + 1, MAX_COUNTED_MISSED), handledThrough: latest, next };
  return { run: latest, missed: earlier, handledThrough: latest, next };
}

export const CONCURRENCY_POLICIES = ['allow', 'forbid', 'replace'] as const;
export type ConcurrencyPolicy = (typeof CONCURRENCY_POLICIES)[number];

export type Admission =
  | { action: 'start' }
  /** Cancel these runs of the schedule, then start. */
  | { action: 'replace'; cancel: string[] }
  /**
   * Do not start and do not store the plan: the tick stays unhandled, so a later pass starts it
   * if the previous run has ended by then and it is still the latest tick within the deadline
   * (as a CronJob with Forbid does); a newer tick makes it missed.
   */
  | { action: 'wait'; reason: string };

/** `active`: ids of this schedule's runs that have not ended. */
export function admitRun(policy: ConcurrencyPolicy, active: string[]): Admission {
  if (active.length === 0 || policy === 'allow') return { action: 'start' };
  if (policy === 'replace') return { action: 'replace', cancel: active };
  return { action: 'wait', reason: `concurrency is forbid and ${active.length === 1 ? `run ${active[0]} is` : `${active.length} runs are`} still running` };
}
