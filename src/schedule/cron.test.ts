import { describe, expect, it } from 'vitest';
import { compileCron } from './cron.ts';

const error = (expr: string, tz = 'UTC') => {
  const c = compileCron(expr, tz);
  return c.ok ? 'ok' : c.error;
};

describe('compileCron', () => {
  it('takes five fields, six with seconds, and the @ nicknames', () => {
    for (const e of ['0 2 * * *', '*/10 * * * * *', '*/15 9-17 * * MON-FRI', '0 0 1 * *', '@daily', '@hourly', '  @weekly ']) expect(error(e), e).toBe('ok');
  });

  it('says what is wrong and what to write', () => {
    expect(error('61 * * * *')).toBe(
      'cron "61 * * * *" is not valid: Invalid value for minute: 61; write five fields (minute hour day-of-month month day-of-week), e.g. "0 2 * * *", or six with seconds first ("*/10 * * * * *"), or @hourly, @daily, @weekly, @monthly, @yearly',
    );
    expect(error('* * * * * * *')).toMatch(/^cron "\* \* \* \* \* \* \*" is not valid: .*7 parts/);
    expect(error('2030-01-23T00:00:00')).toMatch(/is not a cron expression: write five fields/);
    expect(error('@reboot')).toMatch(/is not valid/);
    expect(error('0 0 30 2 *')).toBe('cron "0 0 30 2 *" never fires (no date matches it, e.g. February 30); check the day and month fields');
    expect(error('0 2 * * *', 'Mars/Base')).toBe('timezone "Mars/Base" is not an IANA time zone name; use one such as "UTC", "Europe/Berlin" or "America/New_York"');
    expect(error('0 2 * * *', '')).toMatch(/is not an IANA time zone name/);
  });

  it('reads the expression in its time zone', () => {
    const c = compileCron('0 2 * * *', 'Asia/Kolkata');
    expect(c.ok && c.cron.nextAfter(new Date('2026-01-01T00:00:00Z'))?.toISOString()).toBe('2026-01-01T20:30:00.000Z');
    expect(c.ok && c.cron.latestAtOrBefore(new Date('2026-01-01T20:30:00Z'))?.toISOString()).toBe('2026-01-01T20:30:00.000Z');
  });
});
