import { describe, expect, it } from 'vitest';
import { chooseNode, reserve, type PlacementNode } from './placement.ts';

let seq = 0;
function node(over: Partial<PlacementNode> = {}): PlacementNode {
  seq += 1;
  return {
    id: `n${seq}`,
    name: `node-${seq}`,
    status: 'available',
    labels: {},
    cpu: 4,
    memoryMb: 8192,
    gpu: 0,
    maxTasks: 10,
    allocatedCpu: 0,
    allocatedMemoryMb: 0,
    allocatedGpu: 0,
    allocatedTasks: 0,
    ...over,
  };
}

const task = (over: Partial<{ cpu: number; memoryMb: number; gpu: number; nodeSelector: Record<string, string> }> = {}) => ({
  cpu: 1,
  memoryMb: 256,
  gpu: 0,
  nodeSelector: {},
  ...over,
});

const nameOf = (c: ReturnType<typeof chooseNode>) => (c.kind === 'node' ? c.node.name : c.kind);

describe('chooseNode', () => {
  it('waits, naming `jarvis worker`, when no node is registered', () => {
    const c = chooseNode(task(), []);
    expect(c).toEqual({ kind: 'wait', reason: 'no worker node is registered yet: start one with `jarvis worker`' });
  });

  it('binpack takes the node left fullest; spread the one left emptiest', () => {
    const busy = node({ name: 'busy', allocatedCpu: 3, allocatedMemoryMb: 4096, allocatedTasks: 3 });
    const idle = node({ name: 'idle' });
    expect(nameOf(chooseNode(task(), [idle, busy], 'binpack'))).toBe('busy');
    expect(nameOf(chooseNode(task(), [idle, busy], 'spread'))).toBe('idle');
    // binpack is the default strategy
    expect(nameOf(chooseNode(task(), [idle, busy]))).toBe('busy');
  });

  it('weighs the share left free, not the absolute room: binpack packs a big node that has the smaller share left', () => {
    const small = node({ name: 'small', cpu: 2, memoryMb: 2048, allocatedCpu: 0.5, allocatedMemoryMb: 512 });
    const big = node({ name: 'big', cpu: 64, memoryMb: 262144, allocatedCpu: 40, allocatedMemoryMb: 200000 });
    // after placing: small has (0.5/2 + 1280/2048) = 0.875 free share; big (23/64 + 61888/262144) ≈ 0.595
    expect(nameOf(chooseNode(task(), [small, big], 'binpack'))).toBe('big');
    expect(nameOf(chooseNode(task(), [small, big], 'spread'))).toBe('small');
  });

  it('takes a node that fits exactly, to the last CPU, MiB, GPU and slot', () => {
    const exact = node({ cpu: 2, memoryMb: 1024, gpu: 1, maxTasks: 3, allocatedCpu: 1, allocatedMemoryMb: 768, allocatedTasks: 2 });
    const c = chooseNode(task({ cpu: 1, memoryMb: 256, gpu: 1 }), [exact]);
    expect(c.kind).toBe('node');
  });

  it('tolerates floating-point dust in CPU sums (0.1 + 0.2 fits into 0.3)', () => {
    expect(chooseNode(task({ cpu: 0.1 }), [node({ cpu: 0.3, allocatedCpu: 0.2 })]).kind).toBe('node');
    expect(chooseNode(task({ cpu: 0.1 }), [node({ cpu: 0.4, allocatedCpu: 0.1 + 0.2 })]).kind).toBe('node');
    // but a real shortfall of a thousandth of a core is not dust
    expect(chooseNode(task({ cpu: 0.101 }), [node({ cpu: 0.4, allocatedCpu: 0.3 })]).kind).toBe('wait');
  });

  it('places only on available nodes and only where the node_selector matches every label', () => {
    const gpuBox = node({ name: 'gpu-box', labels: { zone: 'a', accel: 'gpu' } });
    const plain = node({ name: 'plain', labels: { zone: 'a' } });
    const draining = node({ name: 'draining', status: 'draining', labels: { zone: 'a', accel: 'gpu' } });
    expect(nameOf(chooseNode(task({ nodeSelector: { accel: 'gpu' } }), [plain, draining, gpuBox]))).toBe('gpu-box');
    expect(nameOf(chooseNode(task({ nodeSelector: { zone: 'a', accel: 'gpu' } }), [draining, gpuBox]))).toBe('gpu-box');
    expect(chooseNode(task({ nodeSelector: { zone: 'b' } }), [plain, gpuBox]).kind).toBe('wait');
  });

  it('says why nothing fits now, counting nodes per reason in singular and plural', () => {
    const main = { pool: 'main' };
    const nodes = [
      node({ status: 'draining', labels: main }),
      node({ status: 'unhealthy', labels: main }),
      node({ status: 'offline', labels: main }),
      node({ labels: { pool: 'spare' } }),
      node({ maxTasks: 1, allocatedTasks: 1, labels: main }),
      node({ allocatedCpu: 3.5, labels: main }),
      node({ allocatedCpu: 3.5, labels: main }),
      node({ allocatedMemoryMb: 8000, labels: main }),
    ];
    const c = chooseNode(task({ cpu: 1, memoryMb: 256, gpu: 0, nodeSelector: main }), nodes);
    expect(c.kind).toBe('wait');
    const reason = (c as { reason: string }).reason;
    expect(reason).toBe(
      'no node fits: 8 nodes, 1 draining, 1 unhealthy, 1 offline, 1 does not match node_selector, 1 has no free task slot, ' +
        '2 lack 1 CPU free, 1 lacks 256 MiB memory free',
    );
  });

  it('words the GPU shortfall and uses plural verbs for several nodes', () => {
    const c = chooseNode(task({ gpu: 1, nodeSelector: { zone: 'a' } }), [
      node({ gpu: 2, allocatedGpu: 2, labels: { zone: 'a' } }),
      node({ labels: { zone: 'b' } }),
      node({ labels: {} }),
    ]);
    expect(c).toEqual({ kind: 'wait', reason: 'no node fits: 3 nodes, 1 lacks 1 GPU free, 2 do not match node_selector' });
  });

  it('fails for good, naming the largest matching node, when the task is bigger than every matching node', () => {
    const nodes = [node({ cpu: 4, labels: { zone: 'a' } }), node({ cpu: 8, memoryMb: 16384, labels: { zone: 'a' } }), node({ cpu: 32, labels: { zone: 'x' } })];
    // Only zone a matches; the 32-CPU node in zone x does not count as "could ever fit".
    const c = chooseNode(task({ cpu: 16, memoryMb: 1024, nodeSelector: { zone: 'a' } }), nodes);
    expect(c).toEqual({
      kind: 'never',
      reason:
        'no node can ever fit this task (cpu 16, memory 1024 MiB, gpu 0); the largest matching node has cpu 8, memory 16384 MiB, gpu 0. ' +
        'Ask for less or add a bigger node.',
    });
    // Without the selector the 32-CPU node matches and is free: it is chosen.
    expect(nameOf(chooseNode(task({ cpu: 16, memoryMb: 1024 }), nodes))).toBe(nodes[2].name);
  });

  it('fails for good on memory or GPU too, with fractional CPU written briefly', () => {
    const c = chooseNode(task({ cpu: 0.25, memoryMb: 1, gpu: 2 }), [node({ cpu: 1 / 3, gpu: 1 })]);
    expect(c).toEqual({
      kind: 'never',
      reason:
        'no node can ever fit this task (cpu 0.25, memory 1 MiB, gpu 2); the largest matching node has cpu 0.333, memory 8192 MiB, gpu 1. ' +
        'Ask for less or add a bigger node.',
    });
    expect(chooseNode(task({ memoryMb: 8193 }), [node()]).kind).toBe('never');
  });

  it('waits rather than failing for good when every node is offline (a bigger one may come back)', () => {
    const c = chooseNode(task({ cpu: 16 }), [node({ status: 'offline', cpu: 4 })]);
    expect(c).toEqual({ kind: 'wait', reason: 'no node fits: 1 node, 1 offline' });
  });

  it('waits, not never, when a matching node is big enough but busy', () => {
    const c = chooseNode(task({ cpu: 4 }), [node({ cpu: 4, allocatedCpu: 1 }), node({ cpu: 2 })]);
    expect(c.kind).toBe('wait');
  });
});

describe('chooseNode on a large cluster (a cursor given)', () => {
  const cluster = (n: number, over: (i: number) => Partial<PlacementNode> = () => ({})) => Array.from({ length: n }, (_, i) => node(over(i)));

  it('scores only the first log2(nodes) nodes with room from the cursor, and moves the cursor past them', () => {
    // 1,000 nodes; the fuller a node, the better for binpack, and node 500 is the fullest of all.
    const nodes = cluster(1000, (i) => ({ allocatedCpu: i === 500 ? 3 : (i % 7) * 0.25 }));
    const cursor = { next: 0 };
    const first = chooseNode(task(), nodes, 'binpack', cursor);
    // Among nodes 0..9 (10 = ceil(log2 1000)), the fullest: i % 7 == 6, node 6.
    expect(nameOf(first)).toBe(nodes[6].name);
    expect(cursor.next).toBe(10);
    expect(nameOf(chooseNode(task(), nodes, 'binpack', cursor))).toBe(nodes[13].name);
    expect(nameOf(chooseNode(task(), nodes, 'binpack', { next: 495 }))).toBe(nodes[500].name);
    // Without a cursor every node is scored.
    expect(nameOf(chooseNode(task(), nodes, 'binpack'))).toBe(nodes[500].name);
  });

  it('still finds the one node with room, wrapping round, and says why none fits after a full look', () => {
    const nodes = cluster(1000, (i) => ({ allocatedTasks: i === 3 ? 0 : 10 }));
    expect(nameOf(chooseNode(task(), nodes, 'binpack', { next: 700 }))).toBe(nodes[3].name);
    nodes[3].allocatedTasks = 10;
    expect(chooseNode(task(), nodes, 'binpack', { next: 700 })).toEqual({ kind: 'wait', reason: 'no node fits: 1000 nodes, 1000 have no free task slot' });
  });

  it('scores every node of a small cluster whatever the cursor', () => {
    const nodes = cluster(64, (i) => ({ allocatedCpu: i === 63 ? 3 : 0 }));
    expect(nameOf(chooseNode(task(), nodes, 'binpack', { next: 0 }))).toBe(nodes[63].name);
  });
});

describe('reserve', () => {
  it('counts a decided placement against the node so the next decision sees it', () => {
    const only = node({ cpu: 2, memoryMb: 1024, maxTasks: 2 });
    const t = task({ cpu: 1, memoryMb: 512 });
    expect(chooseNode(t, [only]).kind).toBe('node');
    reserve(only, t);
    expect(only).toMatchObject({ allocatedCpu: 1, allocatedMemoryMb: 512, allocatedGpu: 0, allocatedTasks: 1 });
    expect(chooseNode(t, [only]).kind).toBe('node');
    reserve(only, t);
    const c = chooseNode(t, [only]);
    expect(c).toEqual({ kind: 'wait', reason: 'no node fits: 1 node, 1 has no free task slot' });
  });
});
