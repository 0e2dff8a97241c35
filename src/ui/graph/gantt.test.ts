// The timeline's lanes: a task takes the first lane free when it started, so the chart is as tall
// as the most tasks that ran at once, and a big workflow's timeline is packed, a small one is not.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Task } from '../wire.ts';
import { BAR_LIMIT, denseMarks, Gantt, packLanes, ROW_LIMIT } from './gantt.tsx';

const at = (s: number) => new Date(Date.UTC(2026, 0, 1) + s * 1000).toISOString();
const ran = (key: string, start: number, end: number | null, status = 'succeeded') =>
  ({ id: randomUUID(), workflow_key: key, status, started_at: at(start), finished_at: end === null ? null : at(end) }) as unknown as Task;

describe('workflow timeline', () => {
  it('packs tasks into as many lanes as ran at once, reusing a lane once its task ended', () => {
    const tasks = [ran('a', 0, 10), ran('b', 1, 5), ran('c', 5, 8), ran('d', 9, 12), ran('e', 11, 20), ({ id: randomUUID(), status: 'queued', started_at: null } as unknown as Task)];
    const { bars, lanes } = packLanes(tasks, Date.parse(at(30)));
    expect(lanes).toBe(2);
    expect(Object.fromEntries(bars.map((b) => [b.task.workflow_key, b.lane]))).toEqual({ a: 0, b: 1, c: 1, d: 1, e: 0 });
  });

  it('gives every task the lane the first-free scan over all lanes gives', () => {
    // The scan packLanes replaced (O(tasks × lanes)), on random workflows with ties and running tasks.
    const scan = (tasks: Task[], now: number) => {
      const ends: number[] = [];
      return [...tasks]
        .filter((t) => t.started_at)
        .sort((a, b) => Date.parse(a.started_at!) - Date.parse(b.started_at!))
        .map((t) => {
          const start = Date.parse(t.started_at!);
          const end = Math.max(start, t.finished_at ? Date.parse(t.finished_at) : now);
          let lane = ends.findIndex((e) => e <= start);
          if (lane < 0) lane = ends.push(end) - 1;
          else ends[lane] = end;
          return [t.workflow_key, lane];
        });
    };
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let round = 0; round < 50; round++) {
      const tasks = Array.from({ length: 1 + Math.floor(random() * 300) }, (_, i) => {
        const start = Math.floor(random() * 100);
        return ran(`t${i}`, start, random() < 0.1 ? null : start + Math.floor(random() * 30), 'succeeded');
      });
      const { bars } = packLanes(tasks, Date.parse(at(120)));
      expect(bars.map((b) => [b.task.workflow_key, b.lane])).toEqual(scan(tasks, Date.parse(at(120))));
    }
  });

  it('runs a running task to now', () => {
    const { bars } = packLanes([ran('a', 0, null, 'running')], Date.parse(at(7)));
    expect(bars[0].end - bars[0].start).toBe(7000);
  });

  it(`draws one row per task up to ${ROW_LIMIT} tasks, lanes past that, with the counts in words`, () => {
    const small = String(Gantt({ tasks: [ran('a', 0, 3), ran('b', 1, 4, 'failed')], now: Date.parse(at(10)) }));
    expect(small).toContain('aria-label="Timeline of 2 tasks over 4.0 s"');
    expect(small).toContain('>failed</text>');
    expect(small).toContain('1 succeeded, 1 failed.');
    const tasks = Array.from({ length: 1000 }, (_, i) => ran(`m${i}`, Math.floor(i / 25) * 10, Math.floor(i / 25) * 10 + 8));
    const big = String(Gantt({ tasks, now: Date.parse(at(500)) }));
    expect(big).toContain('Timeline of 1000 tasks over 6.6 min, packed into 25 lanes (at most 25 ran at once)');
    expect(big.match(/<rect /g)).toHaveLength(1000);
    expect(big).not.toContain('>m999</text>');
  });

  it(`draws more than ${BAR_LIMIT} tasks as marks of the chart's pixels: as many as the chart has room for, not one per task`, () => {
    // 10,000 tasks 25 at a time, one after the other in each lane; every 97th failed.
    const tasks = Array.from({ length: 10_000 }, (_, i) => ran(`m${i}`, Math.floor(i / 25) * 3, Math.floor(i / 25) * 3 + 3, i % 97 === 50 ? 'failed' : 'succeeded'));
    const svg = String(Gantt({ tasks, now: Date.parse(at(40_000)) }));
    expect(svg).toContain('Timeline of 10000 tasks over 20 min, packed into 25 lanes (at most 25 ran at once), drawn pixel by pixel');
    expect(svg).toContain('9897 succeeded, 103 failed.');
    const marks = svg.match(/<rect /g)!.length;
    // A run of succeeded tasks per lane, split by each failed one: 25 + 2 × 103 at most (231).
    expect(marks).toBeLessThanOrEqual(25 + 2 * 103);
    expect(svg.length).toBeLessThan(30_000); // a rect per task: 1.2 MB
    expect(svg).toContain('<title>failed</title>');
  });

  it('gives each pixel of a lane its most telling status, and shares rows past 300 lanes', () => {
    const px = (ms: number) => ms / 1000; // 1 px a second
    const bar = (lane: number, start: number, end: number, status: string) => ({ task: { status } as Task, start: start * 1000, end: end * 1000, lane });
    const { marks, rows } = denseMarks([bar(0, 0, 10, 'succeeded'), bar(0, 4, 5, 'failed'), bar(1, 2, 3, 'running')], 2, px, 20);
    expect(rows).toBe(2);
    expect(marks).toEqual([
      { row: 0, from: 0, to: 4, status: 'succeeded' },
      { row: 0, from: 4, to: 5, status: 'failed' },
      { row: 0, from: 5, to: 10, status: 'succeeded' },
      { row: 1, from: 2, to: 3, status: 'running' },
    ]);
    const many = Array.from({ length: 900 }, (_, lane) => bar(lane, 0, 1, lane === 899 ? 'failed' : 'succeeded'));
    const shared = denseMarks(many, 900, px, 20);
    expect(shared.rows).toBe(300);
    expect(shared.marks).toHaveLength(300);
    expect(shared.marks.at(-1)).toEqual({ row: 299, from: 0, to: 1, status: 'failed' });
  });
});
