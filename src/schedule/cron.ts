// Cron expressions with their time zone, through croner: parsed once, then asked for ticks.
//   compileCron(cron, timezone) → { ok, cron } or { ok: false, error } naming the field to fix.
// Five fields (minute hour day-of-month month day-of-week) or @hourly/@daily/@weekly/@monthly/
// @yearly, as Kubernetes CronJob takes them, or six with a leading seconds field (croner's form,
// an extension Kubernetes does not have: `*/10 * * * * *` is every 10 s); day-of-month and
// day-of-week combine with OR (Vixie cron). DST follows Vixie cron as croner does: a fixed time in the skipped hour runs right after
// the gap, a fixed time in the repeated hour runs once (the first), interval jobs run in real time.
import { Cron } from 'croner';

export const CRON_FORMS =
  'five fields (minute hour day-of-month month day-of-week), e.g. "0 2 * * *", or six with seconds first ("*/10 * * * * *"), or @hourly, @daily, @weekly, @monthly, @yearly';

export interface CompiledCron {
  /** First tick strictly after `from`, or null if there is none. */
  nextAfter(from: Date): Date | null;
  /** Last tick at or before `at`, or null. */
  latestAtOrBefore(at: Date): Date | null;
}

export type CronResult = { ok: true; cron: CompiledCron } | { ok: false; error: string };

/** Whether `tz` is an IANA time zone name this Node knows. */
export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return tz.length > 0;
  } catch {
    return false;
  }
}

export function timeZoneError(tz: string): string {
  return `timezone "${tz}" is not an IANA time zone name; use one such as "UTC", "Europe/Berlin" or "America/New_York"`;
}

export function compileCron(expression: string, timezone: string): CronResult {
  if (!isTimeZone(timezone)) return { ok: false, error: timeZoneError(timezone) };
  const pattern = expression.trim();
  // croner also takes an ISO date as a one-off "pattern"; a schedule is recurring.
  if (!pattern.startsWith('@') && !/\s/.test(pattern)) return { ok: false, error: `cron "${expression}" is not a cron expression: write ${CRON_FORMS}` };
  let job: Cron;
  try {
    job = new Cron(pattern, { timezone, paused: true, mode: '5-or-6-parts' });
  } catch (e) {
    const why = (e as Error).message.replace(/^CronPattern:\s*/, '');
    return { ok: false, error: `cron "${expression}" is not valid: ${why}; write ${CRON_FORMS}` };
  }
  if (job.nextRun(new Date()) === null && job.previousRuns(1, new Date()).length === 0) {
    return { ok: false, error: `cron "${expression}" never fires (no date matches it, e.g. February 30); check the day and month fields` };
  }
  return {
    ok: true,
    cron: {
      nextAfter: (from) => job.nextRun(from),
      latestAtOrBefore: (at) => job.previousRuns(1, new Date(at.getTime() + 1))[0] ?? null,
    },
  };
}
