// Fair share between tenants by weighted dominant-resource fairness (DRF, Ghodsi et al. 2011),
// with hard quotas. Pure: the dispatcher gives it one batch of candidates (each tenant's in its
// own priority order), the tenants' settings and current usage, and the cluster's capacity; it
// answers which candidate to try next. The tenant chosen is always the one with the lowest
// dominant share divided by its weight among those with a candidate their quota admits, so
// capacity goes to tenants in proportion to their weights by what each needs most, and a tenant
// that cannot use capacity (no demand, or nothing of it fits) never holds it back
// (work-conserving). Priority still orders work within a tenant; with `criticalJumpsTenants`,
// critical tasks go first whatever their tenant's share.
import { ACCEPTS_WORK, type PlacementNode } from '../domain/fit.ts';

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
  /** Arrival order across tenants (lower: older), for breaking ties. */
  order?: number;
}

export const DEFAULT_TENANT: TenantState = Object.freeze({
  weight: 1,
  quota: Object.freeze({ cpu: null, memoryMb: null, gpu: null, maxRunning: null }),
  usage: Object.freeze({ cpu: 0, memoryMb: 0, gpu: 0, running: 0 }),
}) as TenantState;

/**
 * The cluster's capacity as fair share counts it: cpu, memory and gpu, and task slots (the
 * nodes' max_tasks, summed) when known — on a node with few slots, slots are what runs out.
 */
export type Capacity = Resources & { slots?: number };
type ShareResource = keyof Resources | 'slots';

const RESOURCE_NAMES: Record<ShareResource, string> = { cpu: 'cpu', memoryMb: 'memory', gpu: 'gpu', slots: 'task slots' };

/** A tenant's dominant share: its largest fraction of any resource the cluster has (tasks held count against slots). */
export function dominantShare(usage: Resources & { running?: number }, capacity: Capacity): { share: number; resource: ShareResource } {
  let share = 0;
  let resource: ShareResource = 'cpu';
  for (const r of ['cpu', 'memoryMb', 'gpu'] as const) {
    if (capacity[r] <= 0) continue;
    const s = usage[r] / capacity[r];
    if (s > share) {
      share = s;
      resource = r;
    }
  }
  if (capacity.slots && capacity.slots > 0 && usage.running !== undefined && usage.running / capacity.slots > share) {
    share = usage.running / capacity.slots;
    resource = 'slots';
  }
  return { share, resource };
}

const fmtNum = (n: number) => String(Math.round(n * 100) / 100);
const pct = (n: number) => `${Math.round(n * 100)}%`;

/** Why the quota refuses this demand now, or null when it admits it. */
export function quotaRefusal(tenant: string, t: TenantState, d: Resources): string | null {
  const q = t.quota;
  if (!quotaEverAdmits(t, d)) {
    const limits: string[] = [];
    if (q.cpu !== null && d.cpu > q.cpu + 1e-9) limits.push(`cpu ${fmtNum(d.cpu)} > ${fmtNum(q.cpu)}`);
    if (q.memoryMb !== null && d.memoryMb > q.memoryMb) limits.push(`memory_mb ${d.memoryMb} > ${q.memoryMb}`);
    if (q.gpu !== null && d.gpu > q.gpu) limits.push(`gpu ${d.gpu} > ${q.gpu}`);
    if (q.maxRunning !== null && q.maxRunning < 1) limits.push(`max_running is ${q.maxRunning}`);
    return `tenant ${tenant} at quota: this task asks more than the whole quota (${limits.join(', ')}); it waits until an admin raises it (PUT /tenants/${tenant})`;
  }
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
  /** Tenants with a candidate in this batch: they have demand, whatever happens to it. */
  private readonly wanting = new Set<string>();

  constructor(
    candidates: C[],
    tenants: ReadonlyMap<string, TenantState>,
    private readonly capacity: Capacity,
    options: FairShareOptions = {},
  ) {
    for (const c of candidates) {
      this.wanting.add(c.tenant);
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
    for (const [name, t] of this.state) if (name === tenant || t.usage.running > 0 || this.wanting.has(name)) total += t.weight;
    return total > 0 ? this.state.get(tenant)!.weight / total : 1;
  }

  next(): C | null {
    // Critical work jumps the tenants' order (when switched on), never their quotas.
    while (this.critical.length > 0) {
      const c = this.critical[0];
      const reason = quotaRefusal(c.tenant, this.state.get(c.tenant)!, c.demand);
      if (!reason) return c;
      this.held.push({ candidate: this.critical.shift()!, reason });
    }
    let best: string | null = null;
    let bestKey: [number, number, number] = [Infinity, Infinity, Infinity];
    for (const [name, q] of this.queues) {
      // Candidates the quota refuses now step aside, with the dimension named.
      while (q.length > 0) {
        const reason = quotaRefusal(name, this.state.get(name)!, q[0].demand);
        if (!reason) break;
        this.held.push({ candidate: q.shift()!, reason });
      }
      if (q.length === 0) continue;
      // The least weighted share goes first. Ties (frequent: shares move in whole tasks) go to
      // the tenant that would hold the least after this task, then to the older task, never
      // to whichever tenant happens to come first, which would favour it every time.
      const key: [number, number, number] = [this.weightedShare(name), this.weightedShareAfter(name, q[0].demand), q[0].order ?? 0];
      if (key[0] < bestKey[0] - 1e-12 || (Math.abs(key[0] - bestKey[0]) <= 1e-12 && (key[1] < bestKey[1] - 1e-12 || (Math.abs(key[1] - bestKey[1]) <= 1e-12 && key[2] < bestKey[2])))) {
        best = name;
        bestKey = key;
      }
    }
    return best === null ? null : this.queues.get(best)![0];
  }

  /** The weighted dominant share the tenant would have with this demand placed too. */
  private weightedShareAfter(tenant: string, d: Resources): number {
    const t = this.state.get(tenant)!;
    const u = { cpu: t.usage.cpu + d.cpu, memoryMb: t.usage.memoryMb + d.memoryMb, gpu: t.usage.gpu + d.gpu, running: t.usage.running + 1 };
    return dominantShare(u, this.capacity).share / t.weight;
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
    // Fairness holds it back only if another tenant with work here holds less (by weight).
    const mine = this.weightedShare(tenant);
    let others = 0;
    for (const name of this.wanting) if (name !== tenant && this.weightedShare(name) < mine - 1e-9) others++;
    if (others === 0) return null;
    return (
      `held back by fair share: tenant ${tenant} holds ${pct(share)} of the cluster's ${RESOURCE_NAMES[resource]} ` +
      `(its dominant resource), over its entitled ${pct(entitled)} (weight ${fmtNum(t.weight)}) by ${pct(share - entitled)}; ` +
      `${others === 1 ? '1 other tenant with work holds less and goes' : `${others} other tenants with work hold less and go`} first`
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

export interface TenantShare {
  /** Its largest fraction of any resource of the cluster, and which resource that is. */
  dominantShare: number;
  dominantResource: 'cpu' | 'memory' | 'gpu' | 'task slots';
  /** Its weight over the weights of every tenant with work (it included): what fair share gives it when all want more. */
  entitledShare: number;
}

/**
 * Each tenant's dominant share now and the share it is entitled to. A tenant with work holds
 * tasks or has some queued; one without is shown what it would be entitled to if it submitted.
 */
export function tenantShares(
  tenants: ReadonlyMap<string, { weight: number; usage: Resources & { running: number }; hasWork: boolean }>,
  capacity: Capacity,
): Map<string, TenantShare> {
  let busyWeight = 0;
  for (const t of tenants.values()) if (t.hasWork) busyWeight += t.weight;
  const out = new Map<string, TenantShare>();
  for (const [name, t] of tenants) {
    const { share, resource } = dominantShare(t.usage, capacity);
    const total = t.hasWork ? busyWeight : busyWeight + t.weight;
    out.set(name, { dominantShare: share, dominantResource: RESOURCE_NAMES[resource] as TenantShare['dominantResource'], entitledShare: total > 0 ? t.weight / total : 1 });
  }
  return out;
}

/** What the nodes that accept work have, summed: the denominators of dominant shares. */
export function clusterCapacity(view: PlacementNode[]): Capacity & { slots: number } {
  const c = { cpu: 0, memoryMb: 0, gpu: 0, slots: 0 };
  for (const n of view) {
    if (n.status !== ACCEPTS_WORK) continue;
    c.cpu += n.cpu;
    c.memoryMb += n.memoryMb;
    c.gpu += n.gpu;
    c.slots += n.maxTasks;
  }
  return c;
}
