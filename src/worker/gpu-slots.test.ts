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
