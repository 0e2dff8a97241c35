// What fair share needs of each tenant for a placement batch: its weight, its quota and what
// it holds now. Usage is read from the tasks table for every batch while few tasks hold capacity
// (the sum is then a few milliseconds at most); with more than CACHED_ABOVE, one read serves the
// batches of FRESH_MS, each batch adding what it placed (batches run one at a time, so none is
// missed). Tasks that end in between are counted until the next read: the figures can only be
// too high, so a quota is never passed. (Stale counts favour tenants whose tasks end less
// often, which is why a small cluster, where the read is cheap, reads every batch.)
import { DEFAULT_SETTINGS, type TenantStore } from '../state/tenant-store.ts';
import type { TaskRow } from '../state/schema.ts';
import type { TenantState } from './fair-share.ts';

const CACHED_ABOVE = 2_000;
const FRESH_MS = 200;

export class TenantUsage {
  private read: { at: number; states: Map<string, TenantState>; active: number } | null = null;

  constructor(private readonly store: TenantStore) {}

  async states(): Promise<Map<string, TenantState>> {
    if (this.read && this.read.active > CACHED_ABOVE && Date.now() - this.read.at < FRESH_MS) return this.read.states;
    const [settings, usage] = await Promise.all([this.store.settings(), this.store.usage()]);
    const states = new Map<string, TenantState>();
    let active = 0;
    for (const name of new Set([...settings.keys(), ...usage.keys()])) {
      const s = settings.get(name) ?? DEFAULT_SETTINGS;
      const u = usage.get(name) ?? { cpu: 0, memoryMb: 0, gpu: 0, running: 0 };
      active += u.running;
      states.set(name, { weight: s.weight, quota: s.quota, usage: { ...u } });
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
