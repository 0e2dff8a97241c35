import { describe, expect, it } from 'vitest';
import { nodeStoppedBeforeTaking, nodeWentOffline, placedWaitingForStart, retryRequested } from './status-reasons.ts';

describe('status reasons', () => {
  it('name the node, the attempt and what happens next', () => {
    expect(placedWaitingForStart('n1')).toBe('placed on node n1; waiting for it to start the container');
    expect(nodeWentOffline('n1', 2)).toBe('node n1 went offline during attempt 2; placing it again');
    expect(nodeStoppedBeforeTaking('n1', 1)).toBe('node n1 stopped before it took attempt 1; placing it again');
    expect(retryRequested('failed')).toBe('retry requested after failed; waiting for the scheduler to place it on a node');
  });
});
