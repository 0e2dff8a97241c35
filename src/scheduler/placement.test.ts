import { describe, expect, it } from 'vitest';
import { chooseNode, type PlacementNode } from './placement.ts';

let seq = 0;
const node = (over: Partial<PlacementNode> = {}): PlacementNode => ({
  id: `n${++seq}`,
  name: `node-${seq}`,
  status: 'available',
  labels: {},
  cpu: 4,
  memoryMb: 4096,
  gpu: 0,
  maxTasks: 8,
  allocatedCpu: 0,
  allocatedMemoryMb: 0,
  allocatedGpu: 0,
  allocatedTasks: 0,
  ...over,
});
const task = (over: Partial<{ cpu: number; memoryMb: number; gpu: number; nodeSelector: Record<string, string> }> = {}) => ({
  cpu: 1,
  memoryMb: 256,
  gpu: 0,
  nodeSelector: {},
  ...over,
});

describe('chooseNode', () => {
  it('binpack takes the fullest node that fits; spread the emptiest', () => {
    const busy = node({ allocatedCpu: 2, allocatedMemoryMb: 2048 });
    const idle = node();
    expect(chooseNode(task(), [idle, busy], 'binpack')).toEqual({ kind: 'node', node: busy });
    expect(chooseNode(task(), [idle, busy], 'spread')).toEqual({ kind: 'node', node: idle });
  });

  it('skips nodes that are not available or do not match the selector', () => {
    const gpu = node({ labels: { gpu: 'a100' } });
    expect(chooseNode(task({ nodeSelector: { gpu: 'a100' } }), [node(), node({ status: 'draining', labels: { gpu: 'a100' } }), gpu])).toEqual({ kind: 'node', node: gpu });
  });

  it('says why nothing fits now, counting nodes by reason', () => {
    const choice = chooseNode(task({ cpu: 2 }), [node({ allocatedCpu: 3 }), node({ allocatedCpu: 3.5 }), node({ status: 'draining' })]);
    expect(choice).toEqual({ kind: 'wait', reason: 'no node fits: 3 nodes, 2 lack 2 CPU free, 1 draining' });
    expect(chooseNode(task(), [node({ allocatedTasks: 8 })])).toEqual({ kind: 'wait', reason: 'no node fits: 1 node, 1 has no free task slot' });
  });

  it('answers never for a task bigger than every matching node, and wait with no node at all', () => {
    expect(chooseNode(task({ cpu: 16 }), [node()])).toMatchObject({ kind: 'never', reason: expect.stringMatching(/^no node can ever fit this task \(cpu 16/) });
    expect(chooseNode(task(), [])).toMatchObject({ kind: 'wait', reason: expect.stringMatching(/no worker node is registered yet/) });
  });
});
