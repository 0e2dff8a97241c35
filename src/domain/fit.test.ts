import { describe, expect, it } from 'vitest';
import { couldEverFit, FIT_TERMS, hasRoom, type NodeRoom } from './fit.ts';

const node = (over: Partial<NodeRoom> = {}): NodeRoom => ({
  cpu: 4,
  memoryMb: 4096,
  gpu: 1,
  maxTasks: 3,
  allocatedCpu: 0,
  allocatedMemoryMb: 0,
  allocatedGpu: 0,
  allocatedTasks: 0,
  ...over,
});
const ask = { cpu: 1, memoryMb: 1024, gpu: 0 };

describe('the fit rule', () => {
  it('takes a task that fits exactly, and not one unit more', () => {
    expect(hasRoom(node({ allocatedCpu: 3 }), ask)).toBe(true);
    expect(hasRoom(node({ allocatedCpu: 3.5 }), ask)).toBe(false);
    expect(hasRoom(node({ allocatedMemoryMb: 3072 }), ask)).toBe(true);
    expect(hasRoom(node({ allocatedMemoryMb: 3073 }), ask)).toBe(false);
    expect(hasRoom(node({ allocatedGpu: 1 }), { ...ask, gpu: 1 })).toBe(false);
    expect(hasRoom(node({ allocatedTasks: 2 }), ask)).toBe(true);
    expect(hasRoom(node({ allocatedTasks: 3 }), ask)).toBe(false);
  });

  it('forgives floating-point sums of fractional CPU', () => {
    // 0.1 + 0.2 > 0.3 in binary floating point
    expect(hasRoom(node({ cpu: 0.3, allocatedCpu: 0.1 }), { ...ask, cpu: 0.2, memoryMb: 1 })).toBe(true);
  });

  it('has one term per resource and one for the task slot', () => {
    expect(FIT_TERMS.map((t) => t.capacity).sort()).toEqual(['cpu', 'gpu', 'maxTasks', 'memoryMb']);
    expect(FIT_TERMS.filter((t) => t.asked === null)).toHaveLength(1);
  });

  it('knows a task bigger than the whole node can never fit', () => {
    expect(couldEverFit(node(), { cpu: 4, memoryMb: 4096, gpu: 1 })).toBe(true);
    expect(couldEverFit(node(), { cpu: 5, memoryMb: 1, gpu: 0 })).toBe(false);
    expect(couldEverFit(node(), { cpu: 1, memoryMb: 1, gpu: 2 })).toBe(false);
  });
});
