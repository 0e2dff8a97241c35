import { describe, expect, it } from 'vitest';
import { Batcher, type BatchEntry } from './batcher.ts';

describe('Batcher', () => {
  it('handles items that arrive together as one batch, then the next batch once it is done', async () => {
    const seen: number[][] = [];
    const b = new Batcher<number>(3, async (batch) => {
      seen.push(batch.map((e) => e.value));
      for (const e of batch) e.settle();
    });
    await Promise.all([1, 2, 3, 4, 5].map((n) => b.add(n)));
    expect(seen).toEqual([[1, 2, 3], [4, 5]]);
  });

  it('gives deferred items to the next batch and fails the rest of a batch that threw', async () => {
    const seen: number[][] = [];
    const b = new Batcher<number>(10, async (batch: Array<BatchEntry<number>>) => {
      seen.push(batch.map((e) => e.value));
      if (batch.length === 1 && batch[0].value === 3) throw new Error('boom');
      for (const e of batch) {
        if (e.value === 3) e.defer();
        else e.settle();
      }
    });
    const results = await Promise.allSettled([1, 2, 3].map((n) => b.add(n)));
    expect(seen).toEqual([[1, 2, 3], [3]]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected']);
    expect((results[2] as PromiseRejectedResult).reason.message).toBe('boom');
  });

  it('starts the next batch while a tail runs, and settles the tail items when it ends', async () => {
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const b = new Batcher<number>(1, async (batch) => {
      order.push(`decide ${batch[0].value}`);
      return {
        tail: (async () => {
          if (batch[0].value === 1) await gate;
          order.push(`hand over ${batch[0].value}`);
          batch[0].settle();
        })(),
      };
    });
    const one = b.add(1);
    const two = b.add(2);
    await two;
    expect(order).toEqual(['decide 1', 'decide 2', 'hand over 2']);
    release();
    await one;
    expect(order.at(-1)).toBe('hand over 1');
  });

  it('fails an item its batch neither settled nor deferred', async () => {
    const b = new Batcher<number>(5, async () => undefined);
    await expect(b.add(1)).rejects.toThrow('a batch left an item unhandled');
  });
});
