import { describe, expect, it } from 'vitest';
import { decidePlacements, type BatchCandidate } from './batch-placement.ts';
import type { TenantState } from './fair-share.ts';
import type { PlacementNode } from './placement.ts';
import { RoomKeeper } from './room-keeper.ts';

type Res = 'cpu' | 'gpu';
let seq = 0;

function node(name: string, over: Partial<PlacementNode> = {}): PlacementNode {
  return { id: name, name, status: 'available', labels: {}, cpu: 32, memoryMb: 65536, gpu: 4, maxTasks: 16, allocatedCpu: 0, allocatedMemoryMb: 0, allocatedGpu: 0, allocatedTasks: 0, ...over };
}

function task(
  tenant: string,
  ask: { cpu?: number; gpu?: number; memoryMb?: number; nodeSelector?: Record<string, string>; since?: number },
  priority: BatchCandidate['priority'] = 'normal',
): BatchCandidate {
  const id = `${tenant}-${seq++}`;
  const t = { id, cpu: ask.cpu ?? 0, memoryMb: ask.memoryMb ?? 0, gpu: ask.gpu ?? 0, nodeSelector: ask.nodeSelector ?? {}, createdAt: new Date(ask.since ?? 0), waitingSince: null };
  return { tenant, priority, demand: t, order: seq, task: t };
}

function tenants(running: Array<{ c: BatchCandidate }>): Map<string, TenantState> {
  const m = new Map<string, TenantState>();
  for (const { c } of running) {
    const t = m.get(c.tenant) ?? { weight: 1, quota: { cpu: null, memoryMb: null, gpu: null, maxRunning: null }, usage: { cpu: 0, memoryMb: 0, gpu: 0, running: 0 } };
    t.usage.cpu += c.demand.cpu;
    t.usage.memoryMb += c.demand.memoryMb;
    t.usage.gpu += c.demand.gpu;
    t.usage.running += 1;
    m.set(c.tenant, t);
  }
  return m;
}

/** The simulated time, in ticks of a second (starve); a keeper's clock reads it. */
let tick = 0;
const clock = () => tick * 1000;

/**
 * The dispatcher's loop over time, one batch per tick (a second): tasks end (their room freed),
 * alpha's backlog is topped up to 8 tasks of 1 unit, and beta submits one task of 4 units at
 * tick 10. Each alpha task runs 4–6 ticks, staggered, so room frees one unit at a time. With a
 * keeper's keepAfterMs, `boundAtDue` is when the tasks running once beta has waited that long end.
 */
function starve(res: Res, view: PlacementNode[], keeper?: RoomKeeper, staggered = true) {
  const one = res === 'gpu' ? { cpu: 1, gpu: 1, memoryMb: 256 } : { cpu: 1, memoryMb: 256 };
  const running: Array<{ c: BatchCandidate; n: PlacementNode; ends: number }> = [];
  const pending: BatchCandidate[] = [];
  let beta: BatchCandidate | null = null;
  let boundAtArrival = -1;
  let boundAtDue = -1;
  let betaStarted = -1;
  let alphaQueuedWhenBetaStarted = 0;
  /** Alpha's tasks placed while beta's waited. */
  let alphaPlacedPastBeta = 0;
  const dueTick = 10 + Math.ceil((keeper?.keepAfterMs ?? 0) / 1000);
  for (let t = 0; t < 300 && betaStarted < 0; t++) {
    tick = t;
    for (let i = running.length - 1; i >= 0; i--) {
      if (running[i].ends > t) continue;
      const { c, n } = running.splice(i, 1)[0];
      n.allocatedCpu -= c.demand.cpu;
      n.allocatedMemoryMb -= c.demand.memoryMb;
      n.allocatedGpu -= c.demand.gpu;
      n.allocatedTasks -= 1;
    }
    while (pending.filter((p) => p.tenant === 'alpha').length < 8) pending.push(task('alpha', { ...one, since: clock() }));
    if (t === 10) {
      beta = task('beta', { ...one, [res]: 4, since: clock() });
      pending.push(beta);
      boundAtArrival = Math.max(...running.map((r) => r.ends));
    }
    if (t === dueTick) boundAtDue = Math.max(t, ...running.map((r) => r.ends));
    const decided = decidePlacements([...pending], tenants(running), view, { strategy: 'binpack', keeper });
    keeper?.end();
    for (const { c, node: n } of decided.placed) {
      pending.splice(pending.indexOf(c), 1);
      running.push({ c, n, ends: t + 4 + (staggered ? Number(c.task.id.split('-')[1]) % 3 : 0) });
      if (c === beta) {
        betaStarted = t;
        alphaQueuedWhenBetaStarted = pending.filter((p) => p.tenant === 'alpha').length;
      } else if (beta && betaStarted < 0) alphaPlacedPastBeta++;
    }
  }
  return { betaStarted, boundAtArrival, boundAtDue, alphaQueuedWhenBetaStarted, alphaPlacedPastBeta };
}

describe('room kept for a task bigger than any room that frees (keep_room_after_seconds 0: at once)', () => {
  for (const res of ['gpu', 'cpu'] as const) {
    it(`starts beta's 4-${res.toUpperCase()} task once the tasks running when it came have ended, while alpha keeps a backlog of 1-${res.toUpperCase()} tasks`, () => {
      const view = [node('n1', res === 'cpu' ? { cpu: 4, gpu: 0 } : {})];
      const r = starve(res, view, new RoomKeeper({ keepAfterMs: 0, now: clock }));
      // Without room kept, every slot that freed went to alpha's next task: beta never started.
      expect(r.betaStarted, JSON.stringify(r)).toBeGreaterThanOrEqual(0);
      expect(r.betaStarted).toBeLessThanOrEqual(r.boundAtArrival);
      expect(r.alphaQueuedWhenBetaStarted).toBeGreaterThan(0);
    });
  }

  it('keeps the room when both tenants hold nothing (the tie rule puts the small task first)', () => {
    // Alpha's tasks start and end together: when they end, alpha and beta both hold nothing, and
    // the order's tie rule gives alpha's small task the first turn. It must not take the room.
    const r = starve('gpu', [node('n1')], new RoomKeeper({ keepAfterMs: 0, now: clock }), false);
    expect(r.betaStarted, JSON.stringify(r)).toBeGreaterThanOrEqual(0);
    expect(r.betaStarted).toBeLessThanOrEqual(Math.max(r.boundAtArrival, 10) + 4);
  });

  it('keeps room on the node with the least to free, and lets tasks that fit beside it run there', () => {
    const busy = node('busy', { allocatedGpu: 4, allocatedCpu: 4, allocatedTasks: 4 });
    const near = node('near', { allocatedGpu: 3, allocatedCpu: 9, allocatedTasks: 3 });
    const view = [busy, near];
    const alpha = tenants([...Array.from({ length: 7 }, () => ({ c: task('alpha', { cpu: 1, gpu: 1 }) }))]);
    const big = task('beta', { cpu: 1, gpu: 4 });
    const gpuTask = task('alpha', { cpu: 1, gpu: 1 });
    const cpuTask = task('alpha', { cpu: 2 });
    near.allocatedGpu -= 1; // a GPU task ended on `near`
    near.allocatedCpu -= 3;
    near.allocatedTasks -= 1;
    const keeper = new RoomKeeper();
    const d = decidePlacements([big, gpuTask, cpuTask], alpha, view, { strategy: 'binpack', keeper });
    expect(keeper.current?.nodeId).toBe('near');
    // The freed GPU is kept for beta; alpha's CPU-only task still runs beside it.
    expect(d.placed.map((p) => [p.c.task.id, p.node.name])).toEqual([[cpuTask.task.id, 'near']]);
    const reasons = Object.fromEntries(d.waits.map((w) => [w.c.task.id, w.reason]));
    expect(reasons[big.task.id]).toBe('waiting for room kept for it on node near: it lacks 2 GPU there until enough of the 3 tasks placed on it end; no other task is placed in that room meanwhile');
    expect(reasons[gpuTask.task.id]).toMatch(/^no node fits: .*; room on node near is kept for a task that goes before this one, until tasks there end$/);
    keeper.end();
    // The view keeps only what was placed (a kept view must not count the kept room).
    expect([near.allocatedGpu, near.allocatedCpu, near.allocatedTasks]).toEqual([2, 8, 3]);
  });

  it('keeps it in later batches until the task is placed, and lets it go when the task is gone', () => {
    const n = node('n1', { allocatedGpu: 3, allocatedCpu: 3, allocatedTasks: 3 });
    const usage = tenants(Array.from({ length: 3 }, () => ({ c: task('alpha', { cpu: 1, gpu: 1 }) })));
    const big = task('beta', { cpu: 1, gpu: 4 });
    const keeper = new RoomKeeper();
    decidePlacements([big, task('alpha', { cpu: 1, gpu: 1 })], usage, [n], { strategy: 'binpack', keeper });
    keeper.end();
    expect(keeper.current?.task.id).toBe(big.task.id);
    // A later batch without beta's task in it (out of the dispatcher's hands a moment): still kept.
    const later = decidePlacements([task('alpha', { cpu: 1, gpu: 1 })], usage, [n], { strategy: 'binpack', keeper });
    keeper.end();
    expect(later.placed).toHaveLength(0);
    // Cancelled: the dispatcher forgets it, and the room goes to alpha.
    keeper.forget(big.task.id);
    const after = decidePlacements([task('alpha', { cpu: 1, gpu: 1 })], usage, [n], { strategy: 'binpack', keeper });
    keeper.end();
    expect(after.placed).toHaveLength(1);
    expect(keeper.current).toBeNull();
  });

  it('moves the room to a task that goes before the kept one (a tenant holding less)', () => {
    const n = node('n1', { allocatedGpu: 3, allocatedCpu: 3, allocatedTasks: 3 });
    const running = Array.from({ length: 3 }, () => ({ c: task('alpha', { cpu: 1, gpu: 1 }) }));
    const big = task('beta', { cpu: 1, gpu: 4 });
    const keeper = new RoomKeeper();
    decidePlacements([big, task('alpha', { cpu: 1, gpu: 1 })], tenants(running), [n], { strategy: 'binpack', keeper });
    keeper.end();
    expect(keeper.current?.task.id).toBe(big.task.id);
    // beta now holds a GPU elsewhere-equivalent share (1 of 4), gamma holds nothing: gamma goes first.
    const gammaTask = task('gamma', { cpu: 1, gpu: 1 });
    const usage = tenants([...running, { c: task('beta', { cpu: 1, gpu: 0.5 }) }]);
    const d = decidePlacements([big, gammaTask], usage, [n], { strategy: 'binpack', keeper });
    keeper.end();
    expect(d.placed.map((p) => p.c.tenant)).toEqual(['gamma']);
    // beta is most under-served again among those waiting: room is kept for it again once room would go past it.
    expect(keeper.current).toBeNull();
  });

  it('lets the room go when its task is held by its quota', () => {
    const n = node('n1', { allocatedGpu: 3, allocatedCpu: 3, allocatedTasks: 3 });
    const usage = tenants(Array.from({ length: 3 }, () => ({ c: task('alpha', { cpu: 1, gpu: 1 }) })));
    const big = task('beta', { cpu: 1, gpu: 4 });
    const keeper = new RoomKeeper();
    decidePlacements([big, task('alpha', { cpu: 1, gpu: 1 })], usage, [n], { strategy: 'binpack', keeper });
    keeper.end();
    usage.set('beta', { weight: 1, quota: { cpu: null, memoryMb: null, gpu: 2, maxRunning: null }, usage: { cpu: 0, memoryMb: 0, gpu: 0, running: 0 } });
    decidePlacements([big], usage, [n], { strategy: 'binpack', keeper });
    keeper.end();
    expect(keeper.current).toBeNull();
    const d = decidePlacements([big, task('alpha', { cpu: 1, gpu: 1 })], usage, [n], { strategy: 'binpack', keeper });
    expect(d.placed.map((p) => p.c.tenant)).toEqual(['alpha']);
  });

  it('keeps no room for a task no node could ever take, nor while nothing would be placed past it', () => {
    const n = node('n1', { allocatedGpu: 3, allocatedCpu: 3, allocatedTasks: 3 });
    const keeper = new RoomKeeper();
    const usage = tenants([{ c: task('alpha', { cpu: 3, gpu: 3 }) }]);
    const stuck = task('beta', { cpu: 1, gpu: 1, nodeSelector: { pool: 'none' } });
    const d = decidePlacements([stuck, task('alpha', { cpu: 1, gpu: 1 })], usage, [n], { strategy: 'binpack', keeper });
    expect(d.placed.map((p) => p.c.tenant)).toEqual(['alpha']);
    expect(keeper.current).toBeNull();
    keeper.end();
    // Full: the big task waits and so does everything behind it: nothing is kept (nothing to keep it from).
    const full = node('n2', { allocatedGpu: 4, allocatedCpu: 4, allocatedTasks: 4 });
    decidePlacements([task('beta', { cpu: 1, gpu: 4 }), task('alpha', { cpu: 1, gpu: 1 })], usage, [full], { strategy: 'binpack', keeper });
    expect(keeper.current).toBeNull();
  });

  it('moves the room only to a node with strictly less to free', () => {
    const a = node('a', { allocatedGpu: 3, allocatedCpu: 3, allocatedTasks: 3 });
    const b = node('b', { allocatedGpu: 4, allocatedCpu: 4, allocatedTasks: 4 });
    const usage = tenants(Array.from({ length: 7 }, () => ({ c: task('alpha', { cpu: 1, gpu: 1 }) })));
    const big = task('beta', { cpu: 1, gpu: 4 });
    const keeper = new RoomKeeper();
    decidePlacements([big, task('alpha', { cpu: 1, gpu: 1 })], usage, [a, b], { strategy: 'binpack', keeper });
    keeper.end();
    expect(keeper.current?.nodeId).toBe('a');
    // Three tasks end on b (one left), none on a: b has less to free.
    b.allocatedGpu = b.allocatedCpu = b.allocatedTasks = 1;
    decidePlacements([big], usage, [a, b], { strategy: 'binpack', keeper });
    keeper.end();
    expect(keeper.current?.nodeId).toBe('b');
    // As much to free on both: it stays.
    a.allocatedGpu = a.allocatedCpu = a.allocatedTasks = 1;
    decidePlacements([big], usage, [a, b], { strategy: 'binpack', keeper });
    keeper.end();
    expect(keeper.current?.nodeId).toBe('b');
  });
});

describe('room kept only once the task has waited keep_room_after_seconds', () => {
  it("lets alpha's small tasks take the room until beta's big one has waited long enough, then keeps it", () => {
    const keeper = new RoomKeeper({ keepAfterMs: 20_000, now: clock });
    const r = starve('cpu', [node('n1', { cpu: 4, gpu: 0 })], keeper);
    // For its first 20 s beta keeps no room: every CPU that frees goes to alpha, as before room was kept.
    expect(r.betaStarted, JSON.stringify(r)).toBeGreaterThanOrEqual(30);
    expect(r.alphaPlacedPastBeta).toBeGreaterThanOrEqual(10);
    // From then on room is kept: it starts once the tasks running at 20 s have ended, alpha's backlog still there.
    expect(r.betaStarted).toBeLessThanOrEqual(r.boundAtDue);
    expect(r.alphaQueuedWhenBetaStarted).toBeGreaterThan(0);
  });

  it('keeps no room for a task that has not waited long enough, and keeps it once it has; the reasons say which', () => {
    const n = node('n1', { cpu: 4, gpu: 0, allocatedCpu: 3, allocatedTasks: 3 });
    const usage = tenants(Array.from({ length: 3 }, () => ({ c: task('alpha', { cpu: 1 }) })));
    let now = 100_000;
    const keeper = new RoomKeeper({ keepAfterMs: 30_000, now: () => now });
    const big = task('beta', { cpu: 4, since: 90_000 }); // waiting for 10 s
    const small = () => task('alpha', { cpu: 1, since: 95_000 });
    const first = small();
    const d = decidePlacements([big, first], usage, [n], { strategy: 'binpack', keeper });
    keeper.end();
    expect(keeper.current).toBeNull();
    expect(d.placed.map((p) => p.c.task.id)).toEqual([first.task.id]);
    expect(d.waits.map((w) => [w.c.task.id, w.reason])).toEqual([
      [
        big.task.id,
        expect.stringMatching(
          /^no node fits: .*; tasks that fit take the room it cannot use until it has waited 30 s \(scheduler\.keep_room_after_seconds\), then room is kept for it if it still goes first$/,
        ),
      ],
    ]);
    // The small task ends; 20 s later beta's has waited 30 s: the freed CPU is kept for it.
    n.allocatedCpu = n.allocatedTasks = 3;
    now = 120_000;
    const second = small();
    const e = decidePlacements([big, second], usage, [n], { strategy: 'binpack', keeper });
    expect(keeper.current?.task.id).toBe(big.task.id);
    expect(e.placed).toHaveLength(0);
    const reasons = Object.fromEntries(e.waits.map((w) => [w.c.task.id, w.reason]));
    expect(reasons[big.task.id]).toBe('waiting for room kept for it on node n1: it lacks 3 CPU there until enough of the 3 tasks placed on it end; no other task is placed in that room meanwhile');
    expect(reasons[second.task.id]).toMatch(/^no node fits: .*; room on node n1 is kept for a task that goes first of those that have waited 30 s or more, until tasks there end$/);
    keeper.end();
  });

  it('keeps room for the first task that has waited long enough, past a younger one that goes before it', () => {
    // gamma holds nothing and goes first, but its big task came a second ago; beta's has waited a minute.
    const n = node('n1', { cpu: 4, gpu: 0, allocatedCpu: 3, allocatedTasks: 3 });
    const usage = tenants([...Array.from({ length: 2 }, () => ({ c: task('alpha', { cpu: 1 }) })), { c: task('beta', { cpu: 1 }) }]);
    let now = 100_000;
    const keeper = new RoomKeeper({ keepAfterMs: 30_000, now: () => now });
    const young = task('gamma', { cpu: 4, since: 99_000 });
    const old = task('beta', { cpu: 4, since: 40_000 });
    n.allocatedCpu = n.allocatedTasks = 2; // a CPU freed
    const d = decidePlacements([young, old, task('alpha', { cpu: 1, since: 0 })], usage, [n], { strategy: 'binpack', keeper });
    keeper.end();
    expect(keeper.current?.task.id).toBe(old.task.id);
    expect(d.placed).toHaveLength(0);
    // gamma's task, once it has waited 30 s, goes before beta's (its tenant holds less): the room is then its.
    now = 130_000;
    const e = decidePlacements([young, old, task('alpha', { cpu: 1, since: 0 })], usage, [n], { strategy: 'binpack', keeper });
    keeper.end();
    expect(keeper.current?.task.id).toBe(young.task.id);
    expect(e.placed).toHaveLength(0);
  });
});
