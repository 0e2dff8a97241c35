import { describe, expect, it } from 'vitest';
import { normaliseResources, parseCpuQuantity, parseMemoryQuantity } from './resources.ts';

describe('resource quantities', () => {
  it('reads CPU as cores or millicores', () => {
    expect(parseCpuQuantity('500m')).toBe(0.5);
    expect(parseCpuQuantity('2')).toBe(2);
    expect(parseCpuQuantity('.25')).toBe(0.25);
    expect(parseCpuQuantity('0')).toBeNull();
    expect(parseCpuQuantity('2 cores')).toBeNull();
  });

  it('reads memory in MiB, rounding decimal units up', () => {
    expect(parseMemoryQuantity('512Mi')).toBe(512);
    expect(parseMemoryQuantity('1Gi')).toBe(1024);
    expect(parseMemoryQuantity('1G')).toBe(954);
    expect(parseMemoryQuantity('1')).toBe(1);
    expect(parseMemoryQuantity('1Mb')).toBeNull();
  });

  it('normalises a request, with defaults for what is left out', () => {
    expect(normaliseResources(undefined)).toEqual({ cpu: 1, memory_mb: 256, gpu: 0 });
    expect(normaliseResources({ cpu: '250m', memory: '1Gi', gpu: 1 })).toEqual({ cpu: 0.25, memory_mb: 1024, gpu: 1 });
    expect(normaliseResources({ cpu: 3, memory_mb: 100, memory: null })).toEqual({ cpu: 3, memory_mb: 100, gpu: 0 });
  });
});
