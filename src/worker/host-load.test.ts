import { cpus } from 'node:os';
import { describe, expect, it } from 'vitest';
import { cpuPercent } from './host-load.ts';

describe('cpuPercent', () => {
  it('gives the busy share of the host since the last call, within 0–100, and sees this process spin', () => {
    const sinceBoot = cpuPercent();
    expect(sinceBoot).toBeGreaterThanOrEqual(0);
    expect(sinceBoot).toBeLessThanOrEqual(100);
    const until = Date.now() + 300;
    let x = 0;
    while (Date.now() < until) x += Math.sqrt(x + 1);
    expect(x).toBeGreaterThan(0);
    // One core of this host was busy the whole time: at least 1/cores of it, less a margin for
    // the kernel's tick granularity.
    const spun = cpuPercent();
    const cores = cpus().length;
    expect(spun).toBeGreaterThan(100 / cores - 15);
    expect(spun).toBeLessThanOrEqual(100);
  });
});
