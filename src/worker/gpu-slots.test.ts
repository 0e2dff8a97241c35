import { describe, expect, it } from 'vitest';
import { GpuSlots, gpusOfLabel } from './gpu-slots.ts';

describe('GPU slots', () => {
  it('gives each attempt its own cards, the lowest free first, and takes them back', () => {
    const g = new GpuSlots(4);
    expect(g.take('a', 1)).toEqual(['0']);
    expect(g.take('b', 2)).toEqual(['1', '2']);
    expect(g.take('c', 1)).toEqual(['3']);
    expect(g.take('d', 1)).toBeNull(); // all four held
    g.release('b');
    expect(g.take('d', 2)).toEqual(['1', '2']);
  });

  it('keeps the cards of a container adopted after a restart', () => {
    const g = new GpuSlots(2);
    g.reserve('adopted', ['1']);
    expect(g.take('new', 1)).toEqual(['0']);
    expect(g.take('adopted', 1)).toEqual(['1']);
    expect(gpusOfLabel('0,2')).toEqual(['0', '2']);
    expect(gpusOfLabel(undefined)).toEqual([]);
  });
});

describe('GPU slots held by an ending attempt', () => {
  const never = new AbortController().signal;

  it('are waited for, and given once released', async () => {
    const g = new GpuSlots(2);
    g.take('a', 1);
    g.take('b', 1);
    g.ending('a');
    const told: string[][] = [];
    const started = Date.now();
    const got = g.takeWhenFree('c', 1, { signal: never, maxWaitMs: 10_000, onWait: (cards) => told.push(cards) });
    setTimeout(() => g.release('a'), 200);
    expect(await got).toEqual(['0']);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(told).toEqual([['0']]); // told once
    expect(g.take('d', 1)).toBeNull(); // c holds card 0 now
  });

  it('go to the waiter only once enough are back', async () => {
    const g = new GpuSlots(2);
    g.take('a', 1);
    g.take('b', 1);
    g.ending('a');
    g.ending('b');
    let got: string[] | null | undefined;
    const done = g.takeWhenFree('c', 2, { signal: never, maxWaitMs: 10_000 }).then((x) => (got = x));
    g.release('a');
    await new Promise((r) => setTimeout(r, 50));
    expect(got).toBeUndefined(); // one of two
    g.release('b');
    await done;
    expect(got).toEqual(['0', '1']);
  });

  it('are waited for at most maxWaitMs: then null, as take()', async () => {
    const g = new GpuSlots(1);
    g.take('a', 1);
    g.ending('a');
    const started = Date.now();
    expect(await g.takeWhenFree('c', 1, { signal: never, maxWaitMs: 300 })).toBeNull();
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });

  it('stops waiting when the signal aborts', async () => {
    const g = new GpuSlots(1);
    g.take('a', 1);
    g.ending('a');
    const ac = new AbortController();
    const started = Date.now();
    const got = g.takeWhenFree('c', 1, { signal: ac.signal, maxWaitMs: 10_000 });
    setTimeout(() => ac.abort(), 100);
    expect(await got).toBeNull();
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('are not waited for when held by attempts that go on, or when even theirs would not be enough', async () => {
    const g = new GpuSlots(2);
    g.take('a', 1);
    g.take('b', 1);
    const told: string[][] = [];
    expect(await g.takeWhenFree('c', 1, { signal: never, maxWaitMs: 10_000, onWait: (cards) => told.push(cards) })).toBeNull();
    g.ending('a');
    expect(await g.takeWhenFree('c', 2, { signal: never, maxWaitMs: 10_000, onWait: (cards) => told.push(cards) })).toBeNull();
    expect(told).toEqual([]);
  });

  it('stop being ending when taken again by a later attempt of the same task (adopted), or reserved', () => {
    const g = new GpuSlots(1);
    g.reserve('a', ['0']);
    g.ending('a');
    expect(g.take('a', 1)).toEqual(['0']);
    // Held by an attempt that goes on: no one waits for it.
    return expect(g.takeWhenFree('c', 1, { signal: never, maxWaitMs: 10_000 })).resolves.toBeNull();
  });
});
