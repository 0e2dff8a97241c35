// Use cases for tenants' fair-share settings: read each tenant's weight, quota, what it holds,
// what it waits for and its shares; an admin sets weight and quota. A key limited to one tenant
// sees only that tenant (another is "not found", as for tasks).
import { clusterCapacity, tenantShares, type TenantShare } from '../scheduler/fair-share.ts';
import { DEFAULT_SETTINGS, type TenantDemand, type TenantSettings, type TenantUsage } from '../state/tenant-store.ts';
import { NotFound } from '../domain/errors.ts';
import { canSee, type Actor } from './actor.ts';
import type { ControlDeps } from './deps.ts';

export interface TenantView {
  name: string;
  settings: TenantSettings;
  configured: boolean;
  usage: TenantUsage;
  pending: TenantDemand;
  share: TenantShare;
}

const NO_USAGE: TenantUsage = Object.freeze({ cpu: 0, memoryMb: 0, gpu: 0, running: 0 });
const NO_DEMAND: TenantDemand = Object.freeze({ tasks: 0, cpu: 0, memoryMb: 0, gpu: 0 });

export class TenantControl {
  constructor(private readonly deps: Pick<ControlDeps, 'tenantStore' | 'nodes'>) {}

  /** Every tenant with settings or with work (and the actor's own), as the actor may see them, by name. */
  async list(actor: Actor): Promise<TenantView[]> {
    const all = await this.views(actor.sees ?? undefined);
    return all.filter((t) => canSee(actor, t.name));
  }

  async get(name: string, actor: Actor): Promise<TenantView> {
    if (!canSee(actor, name)) throw new NotFound('Tenant not found');
    const all = await this.views(name);
    return all.find((t) => t.name === name)!;
  }

  /** Sets a tenant's weight and quota (admin); takes effect at the next placement batch. */
  async put(name: string, settings: TenantSettings, actor: Actor): Promise<TenantView> {
    await this.deps.tenantStore.put(name, settings);
    return this.get(name, actor);
  }

  /** All tenants' views; `also` is included even with no settings and no work. */
  private async views(also?: string): Promise<TenantView[]> {
    const store = this.deps.tenantStore;
    const [settings, usage, demand, view] = await Promise.all([store.settings(), store.usage(), store.demand(), this.deps.nodes.placementView()]);
    const names = new Set([...settings.keys(), ...usage.keys(), ...demand.keys()]);
    if (also) names.add(also);
    const shares = tenantShares(
      new Map(
        [...names].map((n) => {
          const u = usage.get(n) ?? NO_USAGE;
          return [n, { weight: (settings.get(n) ?? DEFAULT_SETTINGS).weight, usage: u, hasWork: u.running > 0 || (demand.get(n)?.tasks ?? 0) > 0 }];
        }),
      ),
      clusterCapacity(view),
    );
    return [...names].sort().map((n) => ({
      name: n,
      settings: settings.get(n) ?? DEFAULT_SETTINGS,
      configured: settings.has(n),
      usage: usage.get(n) ?? NO_USAGE,
      pending: demand.get(n) ?? NO_DEMAND,
      share: shares.get(n)!,
    }));
  }
}
