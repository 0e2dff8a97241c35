import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileCron, type CompiledCron } from './cron.ts';
import { admitRun, MAX_COUNTED_MISSED, planTicks } from './tick-planner.ts';

const cron = (expr: string, tz = 'UTC'): CompiledCron => {
  const c = compileCron(expr, tz);
  if (!c.ok) throw new Error(c.error);
  return c.cron;
};
const at = (iso: string) => new Date(iso);
const iso = (d: Date | null) => d?.toISOString() ?? null;
const plan = (c: CompiledCron, last: string, now: string, opts = {}) => {
  const p = planTicks(c, opts, at(last), at(now));
  return { run: iso(p.run), missed: p.missed, handledThrough: iso(p.handledThrough), next: iso(p.next) };
};

describe('planTicks', () => {
  const hourly = cron('0 * * * *');

  it('runs the tick that just passed, once', () => {
    expect(plan(hourly, '2026-01-01T01:00:00Z', '2026-01-01T02:00:05Z')).toEqual({
      run: '2026-01-01T02:00:00.000Z',
      missed: 0,
      handledThrough: '2026-01-01T02:00:00.000Z',
      next: '2026-01-01T03:00:00.000Z',
    });
    // The same pass again (another control plane, or a retry) finds nothing left to run.
    expect(plan(hourly, '2026-01-01T02:00:00Z', '2026-01-01T02:00:06Z').run).toBeNull();
    expect(plan(hourly, '2026-01-01T01:00:00Z', '2026-01-01T01:59:59Z')).toMatchObject({ run: null, missed: 0, handledThrough: '2026-01-01T01:00:00.000Z' });
  });

  it('after downtime starts one catch-up run, for the latest tick, the others missed', () => {
    expect(plan(hourly, '2026-01-01T01:00:00Z', '2026-01-01T06:10:00Z')).toMatchObject({ run: '2026-01-01T06:00:00.000Z', missed: 4 });
  });

  it('misses even the latest tick when it is older than starting_deadline_seconds', () => {
    expect(plan(hourly, '2026-01-01T01:00:00Z', '2026-01-01T06:10:00Z', { starting_deadline_seconds: 300 })).toMatchObject({
      run: null,
      missed: 5,
      handledThrough: '2026-01-01T06:00:00.000Z',
    });
    expect(plan(hourly, '2026-01-01T01:00:00Z', '2026-01-01T06:05:00Z', { starting_deadline_seconds: 300 })).toMatchObject({ run: '2026-01-01T06:00:00.000Z', missed: 4 });
  });

  it('counts at most 100 missed ticks however long it was down', () => {
    expect(plan(cron('* * * * *'), '2026-01-01T00:00:00Z', '2026-01-08T00:00:30Z')).toMatchObject({ run: '2026-01-08T00:00:00.000Z', missed: MAX_COUNTED_MISSED });
  });

  it('while paused, lets ticks pass as missed, with no next run', () => {
    expect(plan(hourly, '2026-01-01T01:00:00Z', '2026-01-01T03:00:01Z', { paused: true })).toEqual({
      run: null,
      missed: 2,
      handledThrough: '2026-01-01T03:00:00.000Z',
      next: null,
    });
  });

  describe('DST in Europe/Berlin', () => {
    const nightly = cron('30 2 * * *', 'Europe/Berlin');
    it('spring forward (2026-03-29, 02:00 → 03:00): 02:30 does not exist, the run is at 03:00 CEST that day', () => {
      expect(plan(nightly, '2026-03-28T01:30:00Z', '2026-03-29T01:00:30Z')).toEqual({
        run: '2026-03-29T01:00:00.000Z',
        missed: 0,
        handledThrough: '2026-03-29T01:00:00.000Z',
        next: '2026-03-30T00:30:00.000Z',
      });
    });
    it('fall back (2026-10-25, 03:00 → 02:00): 02:30 happens twice, the run is once, at the first', () => {
      expect(plan(nightly, '2026-10-24T00:30:00Z', '2026-10-25T00:30:10Z')).toMatchObject({ run: '2026-10-25T00:30:00.000Z', next: '2026-10-26T01:30:00.000Z' });
      // An hour later the wall clock reads 02:30 again: nothing more to run.
      expect(plan(nightly, '2026-10-25T00:30:00Z', '2026-10-25T01:30:10Z')).toMatchObject({ run: null, missed: 0 });
    });
  });

  it('DST in America/New_York: an hourly schedule runs 25 times on the fall-back day and 23 on the spring-forward day', () => {
    const c = cron('0 * * * *', 'America/New_York');
    const count = (from: string, to: string) => {
      let n = 0;
      for (let t = c.nextAfter(at(from)); t && t < at(to); t = c.nextAfter(t)) n++;
      return n;
    };
    // Local midnight to midnight: EDT (-4) before, EST (-5) after on 2026-11-01; the reverse on 2026-03-08.
    expect(count('2026-11-01T03:59:59Z', '2026-11-02T05:00:00Z')).toBe(25);
    expect(count('2026-03-08T04:59:59Z', '2026-03-09T04:00:00Z')).toBe(23);
  });

  // The planner against a model: the ticks in (lastHandled, now] enumerated one by one.
  const crons = ['*/20 * * * *', '*/7 * * * *', '0 * * * *', '30 2 * * *', '15 1,2,3 * * *', '0 0 * * MON', '@daily'];
  const zones = ['UTC', 'Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kolkata'];
  // Around both 2026 DST changes in Europe and North America.
  const instant = fc.oneof(
    fc.integer({ min: Date.parse('2026-03-07T00:00:00Z'), max: Date.parse('2026-03-31T00:00:00Z') }),
    fc.integer({ min: Date.parse('2026-10-24T00:00:00Z'), max: Date.parse('2026-11-02T12:00:00Z') }),
  );
  it('starts at most one run, the latest tick in (lastHandled, now], within the deadline, and counts the rest as missed (property)', () => {
    fc.assert(
      fc.property(fc.constantFrom(...crons), fc.constantFrom(...zones), instant, fc.integer({ min: 0, max: 36 * 3_600_000 }), fc.option(fc.integer({ min: 1, max: 7200 })), (expr, tz, lastMs, gap, deadline) => {
        const c = cron(expr, tz);
        const last = new Date(lastMs);
        const now = new Date(lastMs + gap);
        const ticks: Date[] = [];
        for (let t = c.nextAfter(last); t && t <= now; t = c.nextAfter(t)) ticks.push(t);
        const p = planTicks(c, { starting_deadline_seconds: deadline }, last, now);
        const latest = ticks.at(-1) ?? null;
        expect(iso(p.handledThrough)).toBe(iso(latest ?? last));
        const inTime = latest !== null && (deadline === null || now.getTime() - latest.getTime() <= deadline * 1000);
        expect(iso(p.run)).toBe(inTime ? iso(latest) : null);
        expect(p.missed + (p.run ? 1 : 0)).toBe(Math.min(ticks.length, MAX_COUNTED_MISSED + (p.run ? 1 : 0)));
        expect(p.next === null || p.next > now).toBe(true);
        // Handing the plan back: the same tick is never planned twice.
        const again = planTicks(c, { starting_deadline_seconds: deadline }, p.handledThrough, now);
        expect(again.run).toBeNull();
      }),
      { numRuns: 100 },
    );
  });
});

describe('admitRun', () => {
  it('follows allow, forbid and replace', () => {
    expect(admitRun('forbid', [])).toEqual({ action: 'start' });
    expect(admitRun('allow', ['r1'])).toEqual({ action: 'start' });
    expect(admitRun('replace', ['r1', 'r2'])).toEqual({ action: 'replace', cancel: ['r1', 'r2'] });
    expect(admitRun('forbid', ['r1'])).toEqual({ action: 'wait', reason: 'concurrency is forbid and run r1 is still running' });
    expect(admitRun('forbid', ['r1', 'r2'])).toEqual({ action: 'wait', reason: 'concurrency is forbid and 2 runs are still running' });
  });
});
