// What fair share needs of each tenant for a placement batch: its weight, its quota and what
// it holds now. Usage is read from the tasks table for every batch while few tasks hold capacity
// (the sum is then a few milliseconds at most); with more than CACHED_ABOVE, one read serves the
// batches of a while, each batch adding what it placed (batches run one at a time, so none is
// missed): FRESH_MS, longer in proportion above FRESH_PER_ACTIVE tasks, up to FRESH_MAX_MS, so
// the read (a sum over every scheduled and running task) stays a small share of the time.
// Tasks that end in between are counted until the next read: the figures can only be too high,
// so a quota is never passed. (Stale counts favour tenants whose tasks end less often, which is
// why a small cluster, where the read is cheap, reads every batch.)
import { DEFAULT_SETTINGS, type TenantStore } from '../state/tenant-store.ts';
import type { TaskRow } from '../state/schema.ts';
import type { TenantState } from './fair-share.ts';

const CACHED_ABOVE = 2_000;
const FRESH_MS = 200;
/**
 * Above this many tasks holding capacity, a read serves 1 ms longer per this many more: 2 s at
 * 100,000, where the sum took ~20 ms of PostgreSQL per read and, every 200 ms, held up every
 * lone task's placement (bench (e), submit→placed once the backlog runs: p50 56–206 ms).
 */
const FRESH_PER_ACTIVE = 50;
const FRESH_MAX_MS = 2_000;

export class TenantUsage {
  private read: { at: number; states: Map<string, TenantState>; active: number } | null = null;

  constructor(private readonly store: TenantStore) {}

  async states(): Promise<Map<string, TenantState>> {
    if (this.read && this.read.active > CACHED_ABOVE && Date.now() - this.read.at < freshFor(this.read.active)) return this.read.states;
    const states = new Map<string, TenantState>();
    let active = 0;
    for (const [name, { settings: s, usage: u }] of await this.store.shares()) {
      active += u.running;
      states.set(name, { weight: s.weight, quota: s.quota, usage: u });
    }
    this.read = { at: Date.now(), states, active };
    return states;
  }

  /** Counts a task this batch placed against its tenant. */
  placed(states: Map<string, TenantState>, t: Pick<TaskRow, 'tenant' | 'cpu' | 'memoryMb' | 'gpu'>): void {
    let s = states.get(t.tenant);
    if (!s) states.set(t.tenant, (s = { weight: DEFAULT_SETTINGS.weight, quota: DEFAULT_SETTINGS.quota, usage: { cpu: 0, memoryMb: 0, gpu: 0, running: 0 } }));
    s.usage.cpu += t.cpu;
    s.usage.memoryMb += t.memoryMb;
    s.usage.gpu += t.gpu;
    s.usage.running += 1;
  }
}

/** How long a read of usage serves batches, with this many tasks holding capacity (above CACHED_ABOVE). */
export function freshFor(active: number): number {
  return Math.min(FRESH_MAX_MS, Math.max(FRESH_MS, active / FRESH_PER_ACTIVE));
}
