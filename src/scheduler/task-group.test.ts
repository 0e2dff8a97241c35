import type { Job } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { GroupGate, TaskGroup } from './task-group.ts';

const row = (id: string) => ({ id, tenant: 't', priority: 'normal' as const });
const job = {} as Job;

describe('TaskGroup', () => {
  it('resolves once every task is resolved, each counted once, and ends when nothing was given back', async () => {
    const seen: string[] = [];
    const g = new TaskGroup(job, ['a', 'b'], (id) => seen.push(id));
    let done = false;
    void g.resolved.then(() => (done = true));
    g.resolve('a');
    g.resolve('a');
    await Promise.resolve();
    expect(done).toBe(false);
    g.resolve('b');
    await g.resolved;
    expect(seen).toEqual(['a', 'b']);
    expect(g.plan()).toEqual({ keep: [], rank: null, move: null });
    expect(g.open).toBe(false);
  });

  it('moves back to its queue with what must wait (those to delay too), at the best rank among them', async () => {
    const g = new TaskGroup(job, ['a', 'b', 'c']);
    g.giveBack(row('a'), { kind: 'later', ms: 30_000 }, 3);
    g.giveBack(row('b'), { kind: 'back' }, 2);
    g.resolve('c');
    await g.resolved;
    expect(g.plan()).toEqual({ keep: [row('b'), row('a')], rank: 2, move: { kind: 'back' } });
  });

  it('moves to the delayed set for the shortest delay when all that waits is to be delayed', async () => {
    const g = new TaskGroup(job, ['a', 'b']);
    g.giveBack(row('a'), { kind: 'later', ms: 30_000 });
    g.giveBack(row('b'), { kind: 'later', ms: 500 });
    await g.resolved;
    expect(g.plan()).toEqual({ keep: [row('a'), row('b')], rank: null, move: { kind: 'later', ms: 500 } });
  });
});

describe('GroupGate', () => {
  it('lets a tenant hold up to its limit in hand (any one group when it holds none), others wait in order', async () => {
    const gate = new GroupGate(150);
    const order: string[] = [];
    await gate.enter('t', 100);
    const second = gate.enter('t', 100).then(() => order.push('second'));
    const third = gate.enter('t', 20).then(() => order.push('third'));
    await gate.enter('u', 500); // another tenant: its own limit, and alone it goes in
    await Promise.resolve();
    expect(order).toEqual([]);
    gate.leave('t', 60); // 40 in hand: 40 + 100 fits
    await second;
    gate.leave('t', 40);
    await third;
    expect(order).toEqual(['second', 'third']);
  });

  it('lets every waiting group through when opened (the dispatcher stops)', async () => {
    const gate = new GroupGate(10);
    await gate.enter('t', 10);
    const waiting = gate.enter('t', 5);
    gate.openAll();
    await expect(waiting).resolves.toBeUndefined();
  });
});
