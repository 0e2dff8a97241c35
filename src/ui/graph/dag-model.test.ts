// The workflow graph's model: wide fan-outs become one group box per depth (with counts by
// status), graphs still too big are drawn in depth bands, and every box gets a position.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Task } from '../wire.ts';
import { collapse, FAN_OUT_LIMIT, layOut, MAX_BOXES } from './dag-model.ts';

function workflow(spec: Array<[key: string, deps: string[], status?: string]>): Task[] {
  return spec.map(([key, deps, status]) => ({ id: randomUUID(), workflow_key: key, depends_on: deps, status: status ?? 'queued' }) as unknown as Task);
}

describe('workflow graph model', () => {
  it('keeps small graphs one box per task, with an edge per dependency', () => {
    const tasks = workflow([['a', []], ['b', ['a']], ['c', ['a']], ['d', ['b', 'c']]]);
    const { boxes, edges, banded } = collapse(tasks);
    expect(banded).toBe(false);
    expect(boxes.map((b) => b.label).sort()).toEqual(['a', 'b', 'c', 'd']);
    expect(edges).toHaveLength(4);
  });

  it(`collapses more than ${FAN_OUT_LIMIT} siblings with the same parents into one box with counts, at every depth`, () => {
    const spec: Array<[string, string[], string?]> = [['root', [], 'succeeded']];
    for (let i = 0; i < 30; i++) spec.push([`map-${i}`, ['root'], i < 10 ? 'running' : 'queued'], [`post-${i}`, [`map-${i}`], 'pending']);
    spec.push(['reduce', Array.from({ length: 30 }, (_, i) => `post-${i}`), 'pending']);
    const { boxes, edges } = collapse(workflow(spec));
    expect(boxes.map((b) => b.label)).toEqual(['root', '30 tasks (map-0 … map-29)', '30 tasks (post-0 … post-29)', 'reduce']);
    expect(boxes[1]).toMatchObject({ task: null, size: 30, counts: { running: 10, queued: 20 }, status: 'running' });
    expect(boxes[2].counts).toEqual({ pending: 30 });
    expect(edges).toHaveLength(3);
  });

  it(`keeps exactly ${FAN_OUT_LIMIT} siblings as separate boxes`, () => {
    const spec: Array<[string, string[]]> = [['root', []], ...Array.from({ length: FAN_OUT_LIMIT }, (_, i): [string, string[]] => [`s-${i}`, ['root']])];
    expect(collapse(workflow(spec)).boxes).toHaveLength(FAN_OUT_LIMIT + 1);
  });

  it(`draws a graph of more than ${MAX_BOXES} boxes in depth bands, every task counted once`, () => {
    const spec: Array<[string, string[], string?]> = [];
    for (let i = 0; i < 1000; i++) spec.push([`t${i}`, i >= 10 ? [`t${i - 10}`, `t${i - 7}`] : [], i < 500 ? 'succeeded' : 'queued']);
    const { boxes, banded } = collapse(workflow(spec));
    expect(banded).toBe(true);
    expect(boxes.length).toBeLessThanOrEqual(MAX_BOXES);
    expect(boxes.reduce((n, b) => n + b.size, 0)).toBe(1000);
    const counted = boxes.reduce((n, b) => n + (b.counts?.succeeded ?? (b.status === 'succeeded' ? 1 : 0)), 0);
    expect(counted).toBe(500);
    // Bands are listed in order (BandList), not laid out by dagre as one long chain.
    const laid = layOut(workflow(spec));
    expect(laid.banded).toBe(true);
    expect(laid.lines).toEqual([]);
    expect(laid.boxes.map((b) => b.label)).toEqual(boxes.map((b) => b.label));
  });

  it('lays every box out inside the drawing, left to right along the dependencies', () => {
    const g = layOut(workflow([['a', []], ['b', ['a']], ['c', ['b']]]));
    const x = Object.fromEntries(g.boxes.map((b) => [b.label, b.x]));
    expect(x.a).toBeLessThan(x.b);
    expect(x.b).toBeLessThan(x.c);
    for (const b of g.boxes) {
      expect(b.x).toBeGreaterThanOrEqual(0);
      expect(b.x + b.width).toBeLessThanOrEqual(g.width);
    }
    expect(g.lines.every((l) => l.points.length >= 2)).toBe(true);
  });
});
