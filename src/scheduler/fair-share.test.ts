import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dominantShare, FairShareOrder, quotaRefusal, tenantShares, type Candidate, type Resources, type TenantState } from './fair-share.ts';

const tenant = (weight: number, usage: Partial<TenantState['usage']> = {}, quota: Partial<TenantState['quota']> = {}): TenantState => ({
  weight,
  quota: { cpu: null, memoryMb: null, gpu: null, maxRunning: null, ...quota },
  usage: { cpu: 0, memoryMb: 0, gpu: 0, running: 0, ...usage },
});
const task = (t: string, demand: Partial<Resources>, priority: Candidate['priority'] = 'normal'): Candidate => ({
  tenant: t,
  priority,
  demand: { cpu: 0, memoryMb: 0, gpu: 0, ...demand },
});

/** Fills a cluster as the dispatcher would: next(), place while the pooled capacity allows. */
function fill(order: FairShareOrder<Candidate>, capacity: Resources) {
  const used: Resources = { cpu: 0, memoryMb: 0, gpu: 0 };
  const placed: Candidate[] = [];
  for (let c = order.next(); c; c = order.next()) {
    const fits = used.cpu + c.demand.cpu <= capacity.cpu && used.memoryMb + c.demand.memoryMb <= capacity.memoryMb && used.gpu + c.demand.gpu <= capacity.gpu;
    if (!fits) {
      order.unplaced(c);
      continue;
    }
    used.cpu += c.demand.cpu;
    used.memoryMb += c.demand.memoryMb;
    used.gpu += c.demand.gpu;
    order.placed(c);
    placed.push(c);
  }
  return placed;
}
const count = (placed: Candidate[], t: string) => placed.filter((c) => c.tenant === t).length;

describe('weighted dominant-resource fairness', () => {
  it('finds the dominant share: the largest fraction of any resource', () => {
    expect(dominantShare({ cpu: 2, memoryMb: 512, gpu: 3 }, { cpu: 10, memoryMb: 1024, gpu: 4 })).toEqual({ share: 0.75, resource: 'gpu' });
    expect(dominantShare({ cpu: 1, memoryMb: 0, gpu: 0 }, { cpu: 10, memoryMb: 100, gpu: 0 })).toEqual({ share: 0.1, resource: 'cpu' });
  });

  it('splits a short cluster 1 : 2 : 1 among three flooding tenants weighted 1, 2, 1', () => {
    const capacity = { cpu: 40, memoryMb: 1e6, gpu: 0 };
    const flood = (t: string) => Array.from({ length: 100 }, () => task(t, { cpu: 1, memoryMb: 100 }));
    const order = new FairShareOrder([...flood('a'), ...flood('b'), ...flood('c')], new Map([['a', tenant(1)], ['b', tenant(2)], ['c', tenant(1)]]), capacity);
    const placed = fill(order, capacity);
    expect([count(placed, 'a'), count(placed, 'b'), count(placed, 'c')]).toEqual([10, 20, 10]);
  });

  it('gives a GPU-heavy and a CPU-heavy tenant equal dominant shares (the DRF paper example)', () => {
    // 9 CPUs and 18 GB; A's tasks need <1 CPU, 4 GB>, B's <3 CPUs, 1 GB>: DRF gives A 3 and B 2.
    const capacity = { cpu: 9, memoryMb: 18, gpu: 0 };
    const a = Array.from({ length: 10 }, () => task('a', { cpu: 1, memoryMb: 4 }));
    const b = Array.from({ length: 10 }, () => task('b', { cpu: 3, memoryMb: 1 }));
    const placed = fill(new FairShareOrder([...a, ...b], new Map(), capacity), capacity);
    expect([count(placed, 'a'), count(placed, 'b')]).toEqual([3, 2]);
  });

  it('splits GPUs and CPUs so each of two equal tenants gets the same share of what it needs most', () => {
    const capacity = { cpu: 64, memoryMb: 1e6, gpu: 8 };
    const gpu = Array.from({ length: 50 }, () => task('ml', { cpu: 1, gpu: 1 }));
    const cpu = Array.from({ length: 100 }, () => task('etl', { cpu: 2 }));
    const order = new FairShareOrder([...gpu, ...cpu], new Map(), capacity);
    fill(order, capacity);
    const ml = order.weightedShare('ml');
    const etl = order.weightedShare('etl');
    expect(ml).toBe(1); // every GPU: ETL needs none, so none is held back from ML (work-conserving)
    expect(etl).toBeCloseTo((64 - 8) / 64, 5);
  });

  it('is work-conserving: a tenant whose work fits nowhere does not hold the room back', () => {
    const capacity = { cpu: 4, memoryMb: 1e6, gpu: 0 };
    const big = [task('big', { cpu: 8 })];
    const small = Array.from({ length: 10 }, () => task('small', { cpu: 1 }));
    const placed = fill(new FairShareOrder([...big, ...small], new Map(), capacity), capacity);
    expect(count(placed, 'small')).toBe(4);
  });

  it('starts a weight-1 tenant first against a weight-100 tenant that holds the cluster', () => {
    const capacity = { cpu: 100, memoryMb: 1e6, gpu: 0 };
    const order = new FairShareOrder(
      [task('huge', { cpu: 1 }), task('tiny', { cpu: 1 })],
      new Map([['huge', tenant(100, { cpu: 99, running: 99 })], ['tiny', tenant(1)]]),
      capacity,
    );
    expect(order.next()?.tenant).toBe('tiny');
  });

  it('keeps priority order within a tenant', () => {
    const capacity = { cpu: 1, memoryMb: 1e6, gpu: 0 };
    const first = task('a', { cpu: 1 }, 'critical');
    const order = new FairShareOrder([first, task('a', { cpu: 1 }, 'low')], new Map(), capacity);
    expect(order.next()).toBe(first);
  });

  it('lets critical work jump tenants only when switched on', () => {
    const capacity = { cpu: 10, memoryMb: 1e6, gpu: 0 };
    const tenants = new Map([['rich', tenant(1, { cpu: 9, running: 9 })], ['poor', tenant(1)]]);
    const cands = [task('rich', { cpu: 1 }, 'critical'), task('poor', { cpu: 1 })];
    expect(new FairShareOrder(cands, tenants, capacity).next()?.tenant).toBe('poor');
    expect(new FairShareOrder(cands, tenants, capacity, { criticalJumpsTenants: true }).next()?.tenant).toBe('rich');
  });

  it('lets critical work jump tenants but not their quotas', () => {
    const capacity = { cpu: 10, memoryMb: 1e6, gpu: 0 };
    const tenants = new Map([['capped', tenant(1, { cpu: 1, running: 1 }, { maxRunning: 2 })]]);
    const cands = [task('capped', { cpu: 1 }, 'critical'), task('capped', { cpu: 1 }, 'critical'), task('capped', { cpu: 1 }, 'critical')];
    const order = new FairShareOrder(cands, tenants, capacity, { criticalJumpsTenants: true });
    expect(fill(order, capacity)).toHaveLength(1);
    expect(order.quotaHeld().map((h) => h.reason)).toEqual(['tenant capped at quota: running 2/2', 'tenant capped at quota: running 2/2']);
  });
});

describe('quotas', () => {
  it('are hard: a tenant never gets past its quota, and the held tasks name the dimension', () => {
    const capacity = { cpu: 100, memoryMb: 1e6, gpu: 16 };
    const cands = Array.from({ length: 10 }, () => task('ml', { cpu: 1, gpu: 1 }));
    const order = new FairShareOrder(cands, new Map([['ml', tenant(1, {}, { gpu: 4 })]]), capacity);
    const placed = fill(order, capacity);
    expect(placed).toHaveLength(4);
    expect(order.quotaHeld()).toHaveLength(6);
    expect(order.quotaHeld()[0].reason).toBe('tenant ml at quota: gpu 4/4');
  });

  it('names every dimension that is at its limit', () => {
    expect(quotaRefusal('ml', tenant(1, { cpu: 3, running: 2 }, { cpu: 4, maxRunning: 2 }), { cpu: 2, memoryMb: 0, gpu: 0 })).toBe('tenant ml at quota: running 2/2, cpu 3/4');
    expect(quotaRefusal('ml', tenant(1, { cpu: 1 }, { cpu: 4 }), { cpu: 2, memoryMb: 0, gpu: 0 })).toBeNull();
  });

  it('never lets any tenant exceed any quota, whatever the mix (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ t: fc.constantFrom('a', 'b', 'c'), cpu: fc.integer({ min: 1, max: 4 }), gpu: fc.integer({ min: 0, max: 2 }) }), { maxLength: 60 }),
        fc.record({ a: fc.integer({ min: 0, max: 10 }), b: fc.integer({ min: 0, max: 10 }), c: fc.integer({ min: 0, max: 10 }) }),
        (tasks, gpuQuota) => {
          const capacity = { cpu: 40, memoryMb: 1e6, gpu: 8 };
          const tenants = new Map(Object.entries(gpuQuota).map(([k, q]) => [k, tenant(1, {}, { gpu: q })]));
          const placed = fill(new FairShareOrder(tasks.map((x) => task(x.t, { cpu: x.cpu, gpu: x.gpu })), tenants, capacity), capacity);
          for (const [k, q] of Object.entries(gpuQuota)) {
            expect(placed.filter((c) => c.tenant === k).reduce((s, c) => s + c.demand.gpu, 0)).toBeLessThanOrEqual(q);
          }
        },
      ),
    );
  });
});

describe('reasons', () => {
  it('say which tenant is over its share and by how much', () => {
    const capacity = { cpu: 10, memoryMb: 1e6, gpu: 4 };
    const order = new FairShareOrder(
      [task('ml', { gpu: 1 }), task('etl', { cpu: 1 })],
      new Map([['ml', tenant(1, { gpu: 3, running: 3 })], ['etl', tenant(1)]]),
      capacity,
    );
    expect(order.fairnessReason('ml')).toBe(
      "held back by fair share: tenant ml holds 75% of the cluster's gpu (its dominant resource), over its entitled 50% (weight 1) by 25%; 1 other tenant with work holds less and goes first",
    );
    expect(order.fairnessReason('etl')).toBeNull();
  });
});

describe('task slots and shares', () => {
  it('counts task slots as a resource when the nodes say how many tasks they run', () => {
    expect(dominantShare({ cpu: 2, memoryMb: 128, gpu: 0, running: 2 }, { cpu: 8, memoryMb: 8192, gpu: 0, slots: 2 })).toEqual({ share: 1, resource: 'slots' });
    expect(dominantShare({ cpu: 2, memoryMb: 128, gpu: 0, running: 2 }, { cpu: 8, memoryMb: 8192, gpu: 0 })).toEqual({ share: 0.25, resource: 'cpu' });
  });

  it('gives entitled shares over tenants with work, and an idle tenant what it would get', () => {
    const capacity = { cpu: 10, memoryMb: 1000, gpu: 0, slots: 100 };
    const none = { cpu: 0, memoryMb: 0, gpu: 0, running: 0 };
    const shares = tenantShares(
      new Map([
        ['a', { weight: 1, usage: { cpu: 5, memoryMb: 100, gpu: 0, running: 5 }, hasWork: true }],
        ['b', { weight: 3, usage: none, hasWork: true }],
        ['idle', { weight: 4, usage: none, hasWork: false }],
      ]),
      capacity,
    );
    expect(shares.get('a')).toEqual({ dominantShare: 0.5, dominantResource: 'cpu', entitledShare: 0.25 });
    expect(shares.get('b')).toEqual({ dominantShare: 0, dominantResource: 'cpu', entitledShare: 0.75 });
    expect(shares.get('idle')?.entitledShare).toBe(0.5);
  });

  it('gives no fairness reason when no tenant with a smaller share waits', () => {
    const capacity = { cpu: 2, memoryMb: 1e6, gpu: 0 };
    const order = new FairShareOrder([{ tenant: 'a', priority: 'normal', demand: { cpu: 1, memoryMb: 1, gpu: 0 } }], new Map([['a', { ...tenant(1), usage: { cpu: 2, memoryMb: 2, gpu: 0, running: 2 } }]]), capacity);
    const c = order.next()!;
    order.unplaced(c);
    expect(order.fairnessReason('a')).toBeNull();
  });
});

describe('ties', () => {
  const cap = { cpu: 12, memoryMb: 1e6, gpu: 0 };
  const task = (tenant: string, order: number): Candidate => ({ tenant, priority: 'normal', demand: { cpu: 1, memoryMb: 1, gpu: 0 }, order });

  it('go to the tenant that would hold the least after the task (its weight counts), not to whichever comes first', () => {
    const order = new FairShareOrder([task('a', 1), task('b', 2)], new Map([['a', tenant(1)], ['b', tenant(2)]]), cap);
    expect(order.next()?.tenant).toBe('b');
  });

  it('between equals, go to the older task', () => {
    const order = new FairShareOrder([task('a', 5), task('c', 3)], new Map([['a', tenant(1)], ['c', tenant(1)]]), cap);
    expect(order.next()?.tenant).toBe('c');
  });
});
