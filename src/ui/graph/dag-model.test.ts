// The workflow graph's model: wide fan-outs become one group box per depth (with counts by
// status), graphs still too big are drawn in depth bands, and every box gets a position.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Task } from '../wire.ts';
import { collapse, FAN_OUT_LIMIT, layOut, MAX_BOXES } from './dag-model.ts';

function workflow(spec: Array<[key: string, deps: string[], status?: string]>): Task[] {
  return spec.map(([key, deps, status]) => ({ id: randomUUID(), workflow_key: key, depends_on: deps, status: status ?? 'queued' }) as unknown as Task);
}

/**
 * The tasks, each behind a proxy that counts reads of its fields and throws past `perTask` reads per
 * task on average: a model that goes over every task once per depth (O(depth × tasks), 10,000 ×
 * 10,000 reads for a chain) fails at once here, without a stopwatch. `stop()` ends the counting.
 */
function readCounted(tasks: Task[], perTask: number) {
  let reads = 0;
  let counting = true;
  const budget = perTask * tasks.length;
  const proxied = tasks.map(
    (t) =>
      new Proxy(t, {
        get(target, field, receiver) {
          if (counting && ++reads > budget) throw new Error(`more than ${perTask} reads per task on average (${tasks.length} tasks)`);
          return Reflect.get(target, field, receiver);
        },
      }),
  );
  return { tasks: proxied, stop: () => ((counting = false), reads) };
}

const chain = (n: number) => Array.from({ length: n }, (_, i): [string, string[]] => [`c${i}`, i ? [`c${i - 1}`] : []]);
/** t_i depends on t_(i-10) and t_(i-7): no two tasks share their parents, so nothing groups. */
const mesh = (n: number) => Array.from({ length: n }, (_, i): [string, string[]] => [`t${i}`, i === 0 ? [] : i < 10 ? ['t0'] : [`t${i - 10}`, `t${i - 7}`]]);

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

  it("groups tasks by their parent boxes, however many of a group's tasks each depends on", () => {
    const spec: Array<[string, string[]]> = [['root', []]];
    for (let i = 0; i < 25; i++) spec.push([`shard-${i}`, ['root']]);
    for (let i = 0; i < 25; i++) spec.push([`check-${i}`, i % 2 ? [`shard-${i}`] : [`shard-${i}`, `shard-${(i + 1) % 25}`]]);
    expect(collapse(workflow(spec)).boxes.map((b) => b.label)).toEqual(['root', '25 tasks (shard-0 … shard-24)', '25 tasks (check-0 … check-24)']);
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

  it('lists a 10,000-deep chain in 60 bands, reading each task a few times, not once per depth', () => {
    // The old model read every task at each of the 10,000 depths (10^8 reads, 5 s).
    const { tasks, stop } = readCounted(workflow(chain(10_000)), 30);
    const g = layOut(tasks);
    stop();
    expect(g.banded).toBe(true);
    expect(g.lines).toEqual([]);
    // 10,000 depths in bands of ceil(10,000 / 60) = 167: 59 full bands and one of 147.
    expect(g.boxes).toHaveLength(60);
    expect(g.boxes.map((b) => b.size)).toEqual([...Array(59).fill(167), 147]);
    expect([g.boxes[0].label, g.boxes[59].label]).toEqual(['167 tasks (c0 … c166)', '147 tasks (c9853 … c9999)']);
  });

  it('draws a 10,000-task fan-out and fan-in as three boxes', () => {
    const spec: Array<[string, string[]]> = [['root', []], ...Array.from({ length: 9998 }, (_, i): [string, string[]] => [`m${i}`, ['root']])];
    spec.push(['reduce', spec.slice(1).map(([k]) => k)]);
    const { tasks, stop } = readCounted(workflow(spec), 30);
    const g = layOut(tasks);
    stop();
    expect(g.banded).toBe(false);
    expect(g.boxes.map((b) => [b.label, b.size])).toEqual([['root', 1], ['9998 tasks (m0 … m9997)', 9998], ['reduce', 1]]);
    expect(g.lines.map((l) => [l.from, l.to])).toEqual([[g.boxes[0].id, g.boxes[1].id], [g.boxes[1].id, g.boxes[2].id]]);
  });

  it(`lists in bands a graph of at most ${MAX_BOXES} boxes whose layout would be too slow: a 150-task mesh, 60 tasks each on all before it`, () => {
    // The old model laid both out with dagre at every refresh: 0.1 s for the mesh, 34 s for the dense one.
    const dense = Array.from({ length: 60 }, (_, i): [string, string[]] => [`d${i}`, Array.from({ length: i }, (_, j) => `d${j}`)]);
    for (const spec of [mesh(150), dense]) {
      const { tasks, stop } = readCounted(workflow(spec), 30);
      const g = layOut(tasks);
      stop();
      expect(g.banded).toBe(true);
      expect(g.boxes.reduce((n, b) => n + b.size, 0)).toBe(spec.length);
    }
  });

  it('still draws a 1,000-task pipeline as a graph: ten fan-outs of 48 two-step shards, merged', () => {
    const spec: Array<[string, string[]]> = [['plan', []]];
    for (let g = 0; g < 10; g++) {
      spec.push([`split${g}`, ['plan']]);
      for (let i = 0; i < 48; i++) spec.push([`map${g}-${i}`, [`split${g}`]], [`post${g}-${i}`, [`map${g}-${i}`]]);
      spec.push([`merge${g}`, Array.from({ length: 48 }, (_, i) => `post${g}-${i}`)]);
    }
    spec.push(['report', Array.from({ length: 10 }, (_, g) => `merge${g}`)]);
    const g = layOut(workflow(spec));
    expect(g.banded).toBe(false);
    expect([g.boxes.length, g.groups, g.lines.length]).toEqual([42, 20, 50]);
    expect(g.boxes.find((b) => b.label === '48 tasks (map3-0 … map3-47)')?.size).toBe(48);
  });
});
