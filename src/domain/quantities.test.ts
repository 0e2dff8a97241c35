// Resource quantities as a client writes them (Kubernetes style) and what Jarvis stores.
import { describe, expect, it } from 'vitest';
import { normaliseResources, parseCpuQuantity, parseMemoryQuantity } from './resources.ts';
import { ResourcesInput } from '../api/schemas.ts';

describe('parseCpuQuantity', () => {
  it.each([
    ['500m', 0.5],
    ['1m', 0.001],
    ['2', 2],
    ['1.5', 1.5],
    ['.25', 0.25],
    ['2500m', 2.5],
    [' 250m ', 0.25],
  ])('%j → %d cores', (text, cores) => {
    expect(parseCpuQuantity(text)).toBe(cores);
  });

  it.each(['0', '0m', '0.0', '', 'm', '-1', '1 m', '1M', '1e3', '2 cores', '1.5.1', '500mm'])('refuses %j', (text) => {
    expect(parseCpuQuantity(text)).toBeNull();
  });
});

describe('parseMemoryQuantity', () => {
  it.each([
    ['64Mi', 64],
    ['512Mi', 512],
    ['1Gi', 1024],
    ['1.5Gi', 1536],
    ['1Ti', 1024 * 1024],
    ['1024Ki', 1],
    ['1G', 954], // 10^9 bytes = 953.67 MiB, rounded up
    ['1M', 1], // 10^6 bytes < 1 MiB: rounded up, never to zero
    ['1k', 1],
    ['1K', 1],
    ['1', 1], // one byte still takes a MiB
    ['1048577', 2],
    ['2T', 1_907_349],
    [' 256Mi ', 256],
  ])('%j → %d MiB', (text, mib) => {
    expect(parseMemoryQuantity(text)).toBe(mib);
  });

  it.each(['0', '0Mi', '', 'Mi', '-1Mi', '64mi', '64MB', '64 Mi', '1e9', '.5Gi', '64Mib'])('refuses %j', (text) => {
    expect(parseMemoryQuantity(text)).toBeNull();
  });
});

describe('normaliseResources', () => {
  it('defaults to 1 CPU, 256 MiB and no GPU', () => {
    expect(normaliseResources(undefined)).toEqual({ cpu: 1, memory_mb: 256, gpu: 0 });
    expect(normaliseResources({})).toEqual({ cpu: 1, memory_mb: 256, gpu: 0 });
  });

  it('takes numbers as they are and quantities converted', () => {
    expect(normaliseResources({ cpu: 0.25, memory_mb: 100, gpu: 2 })).toEqual({ cpu: 0.25, memory_mb: 100, gpu: 2 });
    expect(normaliseResources({ cpu: '500m', memory: '64Mi' })).toEqual({ cpu: 0.5, memory_mb: 64, gpu: 0 });
    expect(normaliseResources({ cpu: '2', memory: '1Gi' })).toEqual({ cpu: 2, memory_mb: 1024, gpu: 0 });
  });

  it('reads memory from whichever of memory_mb and memory is not null', () => {
    expect(normaliseResources({ memory_mb: null, memory: '2Gi' })).toEqual({ cpu: 1, memory_mb: 2048, gpu: 0 });
    expect(normaliseResources({ memory_mb: 300, memory: null })).toEqual({ cpu: 1, memory_mb: 300, gpu: 0 });
    expect(normaliseResources({ memory_mb: null, memory: null })).toEqual({ cpu: 1, memory_mb: 256, gpu: 0 });
  });
});

describe('ResourcesInput', () => {
  it('accepts quantities and numbers, then normalises them', () => {
    const parsed = ResourcesInput.parse({ cpu: '750m', memory: '1G', gpu: 1 });
    expect(normaliseResources(parsed)).toEqual({ cpu: 0.75, memory_mb: 954, gpu: 1 });
  });

  it('refuses memory given both ways, saying to give one', () => {
    const r = ResourcesInput.safeParse({ memory_mb: 64, memory: '64Mi' });
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => i.message)).toEqual(['give either memory_mb or memory, not both']);
  });

  it('refuses a malformed quantity with an example of a good one', () => {
    const cpu = ResourcesInput.safeParse({ cpu: '0.5 cores' });
    expect(cpu.success).toBe(false);
    expect(JSON.stringify(cpu.error?.issues)).toContain('cpu must be a number of cores > 0 or a quantity such as \\"500m\\" or \\"2\\"');
    const mem = ResourcesInput.safeParse({ memory: '64MB' });
    expect(mem.error?.issues.map((i) => i.message)).toEqual(['memory must be a quantity such as "512Mi", "1Gi" or "1G"']);
  });

  it('refuses zero or negative amounts and unknown keys', () => {
    expect(ResourcesInput.safeParse({ cpu: 0 }).success).toBe(false);
    expect(ResourcesInput.safeParse({ memory_mb: 0 }).success).toBe(false);
    expect(ResourcesInput.safeParse({ memory_mb: 1.5 }).success).toBe(false);
    expect(ResourcesInput.safeParse({ gpu: -1 }).success).toBe(false);
    expect(ResourcesInput.safeParse({ gpus: 1 }).success).toBe(false);
  });
});
