// Fair share between tenants by weighted dominant-resource fairness (DRF, Ghodsi et al. 2011),
// with hard quotas. Pure: the dispatcher gives it one batch of candidates (each tenant's in its
// own priority order), the tenants' settings and current usage, and the cluster's capacity; it
// answers which candidate to try next. The tenant chosen is always the one with the lowest
// dominant share divided by its weight among those with a candidate their quota admits, so
// capacity goes to tenants in proportion to their weights by what each needs most, and a tenant
// that cannot use capacity (no demand, or nothing of it fits) never holds it back
// (work-conserving). Priority still orders work within a tenant; with `criticalJumpsTenants`,
// critical tasks go first whatever their tenant's share.
export interface Resources {
  cpu: number;
  memoryMb: number;
  gpu: number;
}

export interface Quota {
  cpu: number | null;
  memoryMb: number | null;
  gpu: number | null;
  maxRunning: number | null;
}

export interface TenantState {
  weight: number;
  quota: Quota;
  /** What its scheduled and running tasks hold now. */
  usage: Resources & { running: number };
}

export interface Candidate {
  tenant: string;
  priority: 'critical' | 'high' | 'normal' | 'low';
  demand: Resources;
}

export const DEFAULT_TENANT: TenantState = Object.freeze({
  weight: 1,
  quota: Object.freeze({ cpu: null, memoryMb: null, gpu: null, maxRunning: null }),
  usage: Object.freeze({ cpu: 0, memoryMb: 0, gpu: 0, running: 0 }),
}) as TenantState;

const RESOURCE_NAMES: Record<keyof Resources, string> = { cpu: 'cpu', memoryMb: 'memory', gpu: 'gpu' };

/** A tenant's dominant share: its largest fraction of any resource the cluster has. */
export function dominantShare(usage: Resources, capacity: Resources): { share: number; resource: keyof Resources } {
  let share = 0;
  let resource: keyof Resources = 'cpu';
  for (const r of ['cpu', 'memoryMb', 'gpu'] as const) {
    if (capacity[r] <= 0) continue;
    const s = usage[r] / capacity[r];
    if (s > share) {
      share = s;
      resource = r;
    }
  }
  return { share, resource };
}

const fmtNum = (n: number) => String(Math.round(n * 100) / 100);
const pct = (n: number) => `${Math.round(n * 100)}%`;

/** Why the quota refuses this demand now, or null when it admits it. */
export function quotaRefusal(tenant: string, t: TenantState, d: Resources): string | null {
  const q = t.quota;
  const over: string[] = [];
  if (q.maxRunning !== null && t.usage.running + 1 > q.maxRunning) over.push(`running ${t.usage.running}/${q.maxRunning}`);
  if (q.cpu !== null && t.usage.cpu + d.cpu > q.cpu + 1e-9) over.push(`cpu ${fmtNum(t.usage.cpu)}/${fmtNum(q.cpu)}`);
  if (q.memoryMb !== null && t.usage.memoryMb + d.memoryMb > q.memoryMb) over.push(`memory_mb ${t.usage.memoryMb}/${q.memoryMb}`);
  if (q.gpu !== null && t.usage.gpu + d.gpu > q.gpu) over.push(`gpu ${t.usage.gpu}/${q.gpu}`);
  return over.length ? `tenant ${tenant} at quota: ${over.join(', ')}` : null;
}

/** Whether a demand can ever pass the quota (bigger than the quota itself: never). */
export function quotaEverAdmits(t: TenantState, d: Resources): boolean {
  const q = t.quota;
  return (q.cpu === null || d.cpu <= q.cpu + 1e-9) && (q.memoryMb === null || d.memoryMb <= q.memoryMb) && (q.gpu === null || d.gpu <= q.gpu) && (q.maxRunning === null || q.maxRunning >= 1);
}

export interface FairShareOptions {
  criticalJumpsTenants?: boolean;
}

/**
 * One batch's order. Call next() for the candidate to try, then placed() or unplaced() for it;
 * candidates refused by their quota come back from quotaHeld(), and reasonFor() says in words
 * why a candidate left undecided waits.
 */
export class FairShareOrder<C extends Candidate> {
  private readonly queues = new Map<string, C[]>();
  private readonly state = new Map<string, TenantState>();
  private readonly held: Array<{ candidate: C; reason: string }> = [];
  private readonly critical: C[] = [];

  constructor(
    candidates: C[],
    tenants: ReadonlyMap<string, TenantState>,
    private readonly capacity: Resources,
    options: FairShareOptions = {},
  ) {
    for (const c of candidates) {
      if (options.criticalJumpsTenants && c.priority === 'critical') {
        this.critical.push(c);
        continue;
      }
      let q = this.queues.get(c.tenant);
      if (!q) this.queues.set(c.tenant, (q = []));
      q.push(c);
    }
    for (const name of new Set([...tenants.keys(), ...candidates.map((c) => c.tenant)])) {
      const t = tenants.get(name) ?? DEFAULT_TENANT;
      this.state.set(name, { weight: t.weight, quota: t.quota, usage: { ...t.usage } });
    }
  }

  /** The weighted dominant share the tenant has now. */
  weightedShare(tenant: string): number {
    const t = this.state.get(tenant)!;
    return dominantShare(t.usage, this.capacity).share / t.weight;
  }

  /** The share of the cluster the tenant is entitled to: its weight over the weights of tenants with work. */
  entitledShare(tenant: string): number {
    let total = 0;
    for (const [name, t] of this.state) if (name === tenant || t.usage.running > 0 || (this.queues.get(name)?.length ?? 0) > 0) total += t.weight;
    return total > 0 ? this.state.get(tenant)!.weight / total : 1;
  }

  next(): C | null {
    if (this.critical.length > 0) return this.critical[0];
    let best: string | null = null;
    let bestShare = Infinity;
    for (const [name, q] of this.queues) {
      // Candidates the quota refuses now step aside, with the dimension named.
      while (q.length > 0) {
        const reason = quotaRefusal(name, this.state.get(name)!, q[0].demand);
        if (!reason) break;
        this.held.push({ candidate: q.shift()!, reason });
      }
      if (q.length === 0) continue;
      const share = this.weightedShare(name);
      if (share < bestShare) {
        best = name;
        bestShare = share;
      }
    }
    return best === null ? null : this.queues.get(best)![0];
  }

  /** The candidate next() gave was placed: count it against its tenant. */
  placed(c: C): void {
    this.take(c);
    const u = this.state.get(c.tenant)!.usage;
    u.cpu += c.demand.cpu;
    u.memoryMb += c.demand.memoryMb;
    u.gpu += c.demand.gpu;
    u.running += 1;
  }

  /** The candidate next() gave fits no node now: the tenant's next one gets its turn. */
  unplaced(c: C): void {
    this.take(c);
  }

  quotaHeld(): ReadonlyArray<{ candidate: C; reason: string }> {
    return this.held;
  }

  /**
   * Why a candidate that did not get room waits, in words: when its tenant holds more than it
   * is entitled to, which tenant and by how much; otherwise null (the node shortfall says it).
   */
  fairnessReason(tenant: string): string | null {
    const t = this.state.get(tenant);
    if (!t) return null;
    const { share, resource } = dominantShare(t.usage, this.capacity);
    const entitled = this.entitledShare(tenant);
    if (share <= entitled + 1e-9) return null;
    let others = 0;
    for (const [name, q] of this.queues) if (name !== tenant && q.length > 0) others++;
    return (
      `held back by fair share: tenant ${tenant} holds ${pct(share)} of the cluster's ${RESOURCE_NAMES[resource]} ` +
      `(its dominant resource), over its entitled ${pct(entitled)} (weight ${fmtNum(t.weight)}) by ${pct(share - entitled)}` +
      (others > 0 ? `; ${others === 1 ? '1 other tenant with work goes' : `${others} other tenants with work go`} first` : '')
    );
  }

  private take(c: C): void {
    if (this.critical[0] === c) {
      this.critical.shift();
      return;
    }
    const q = this.queues.get(c.tenant);
    if (q && q[0] === c) q.shift();
    else if (q) q.splice(q.indexOf(c), 1);
  }
}
