// KeptView: which view a placement batch starts from.
import { describe, expect, it } from 'vitest';
import type { PlacementNode } from '../domain/fit.ts';
import { KeptView } from './kept-view.ts';

const node = (id: string, allocatedCpu = 0): PlacementNode =>
  ({ id, name: id, status: 'available', labels: {}, cpu: 4, memoryMb: 4096, gpu: 0, maxTasks: 8, allocatedCpu, allocatedMemoryMb: 0, allocatedGpu: 0, allocatedTasks: 0 }) as PlacementNode;

function setup(maxAgeMs = 200) {
  let clock = 1_000;
  let reads = 0;
  const kept = new KeptView(
    async () => {
      reads++;
      return [node(`read-${reads}`)];
    },
    maxAgeMs,
    () => clock,
  );
  return { kept, reads: () => reads, advance: (ms: number) => (clock += ms) };
}

describe('KeptView', () => {
  it('reads the nodes when nothing is kept, and gives the kept view (with its reservations) to the next batch', async () => {
    const { kept, reads, advance } = setup();
    const first = await kept.take();
    expect(first.kept).toBe(false);
    expect(reads()).toBe(1);
    first.nodes[0].allocatedCpu = 3; // the batch reserved room
    kept.keep(first);
    advance(150);
    const second = await kept.take();
    expect(second).toMatchObject({ kept: true, at: first.at });
    expect(second.nodes[0]).toMatchObject({ id: 'read-1', allocatedCpu: 3 });
    expect(reads()).toBe(1);
  });

  it('reads again once the kept view is older than the reuse time (counted from when its read began)', async () => {
    const { kept, reads, advance } = setup(200);
    const first = await kept.take();
    kept.keep(first);
    advance(201);
    const second = await kept.take();
    expect(second.kept).toBe(false);
    expect(second.nodes[0].id).toBe('read-2');
    expect(reads()).toBe(2);
  });

  it('keeps nothing while a batch runs: a batch that fails half-way leaves the next one to read', async () => {
    const { kept, reads } = setup();
    kept.keep(await kept.take());
    await kept.take(); // taken by a batch that never calls keep()
    expect((await kept.take()).kept).toBe(false);
    expect(reads()).toBe(2);
  });

  it('drop() (room freed, a node came) makes the next batch read', async () => {
    const { kept, reads } = setup();
    kept.keep(await kept.take());
    kept.drop();
    expect((await kept.take()).kept).toBe(false);
    expect(reads()).toBe(2);
  });

  it('fresh() always reads', async () => {
    const { kept, reads } = setup();
    kept.keep(await kept.take());
    expect((await kept.fresh()).kept).toBe(false);
    expect(reads()).toBe(2);
  });

  it('with 0 as the reuse time, every batch reads', async () => {
    const { kept, reads } = setup(0);
    kept.keep(await kept.take());
    expect((await kept.take()).kept).toBe(false);
    expect(reads()).toBe(2);
  });
});
