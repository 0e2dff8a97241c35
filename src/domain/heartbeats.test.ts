import { describe, expect, it } from 'vitest';
import { heartbeatPeriodSeconds, silenceSeconds } from './heartbeats.ts';

describe('heartbeat period', () => {
  it('is the configured period until the cluster would pass the rate, then grows with it', () => {
    expect(heartbeatPeriodSeconds(10, 5, 50)).toBe(5);
    expect(heartbeatPeriodSeconds(250, 5, 50)).toBe(5);
    expect(heartbeatPeriodSeconds(1000, 5, 50)).toBe(20);
    expect(heartbeatPeriodSeconds(333, 5, 50)).toBe(6.7);
  });

  it('makes a node unhealthy after the missed periods, and offline never before two more', () => {
    expect(silenceSeconds(5, 3, 30)).toEqual({ unhealthy: 15, offline: 30 });
    expect(silenceSeconds(20, 3, 30)).toEqual({ unhealthy: 60, offline: 100 });
  });
});
