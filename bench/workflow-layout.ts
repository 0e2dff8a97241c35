// The workflow page's graph model (src/ui/graph/dag-model.ts `layOut`, run in the API's process at
// every load and every 4 s refresh of a running workflow) on shapes anyone may submit, in process,
// no service: a 10,000-deep chain and a 10,000-task fan-out (the API's most tasks), a 982-task
// pipeline (ten fan-outs of 48 two-step shards), a 150-task mesh, 60 tasks each depending on all
// before it, and 1,500 so (1.1 million dependencies, a 9 MB body: under the 10 MB limit). Each shape:
// one warm-up call, then `--runs` calls, median and slowest, CPU time of this process and wall time
// (the event loop is blocked for the wall time). A shape whose warm-up took over 2 s is not run
// again: its one figure is the warm-up's.
//
//   npx tsx bench/workflow-layout.ts [--runs 5]
//
// Results: bench/results/workflow-layout-<timestamp>-<commit>.json.
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { layOut, type LaidOutGraph } from '../src/ui/graph/dag-model.ts';
import type { Task } from '../src/ui/wire.ts';
import { medianMax } from './support/stats.ts';
import { pad } from './support/table.ts';
import { writeResultFile } from './support/result-file.ts';

const { values: argv } = parseArgs({ options: { runs: { type: 'string', default: '5' } } });
const RUNS = Math.max(1, Number(argv.runs));

type Spec = Array<[key: string, deps: string[]]>;
const STATUSES = ['succeeded', 'running', 'queued', 'pending'];
const tasksOf = (spec: Spec): Task[] =>
  spec.map(([key, deps], i) => ({ id: randomUUID(), workflow_key: key, name: null, depends_on: deps, status: STATUSES[i % 4] }) as unknown as Task);
const keys = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
const dense = (n: number): Spec => keys('d', n).map((k, i) => [k, keys('d', i)]);

const SHAPES: Array<[name: string, spec: () => Spec]> = [
  ['chain, 10,000 deep', () => keys('c', 10_000).map((k, i) => [k, i ? [`c${i - 1}`] : []])],
  ['fan-out and in, 10,000 tasks', () => [['root', []], ...keys('m', 9998).map((k): [string, string[]] => [k, ['root']]), ['reduce', keys('m', 9998)]]],
  [
    'pipeline, 982 tasks',
    () => {
      const s: Spec = [['plan', []]];
      for (let g = 0; g < 10; g++) {
        s.push([`split${g}`, ['plan']]);
        for (let i = 0; i < 48; i++) s.push([`map${g}-${i}`, [`split${g}`]], [`post${g}-${i}`, [`map${g}-${i}`]]);
        s.push([`merge${g}`, keys(`post${g}-`, 48)]);
      }
      s.push(['report', keys('merge', 10)]);
      return s;
    },
  ],
  ['mesh, 150 tasks (t_i on t_i-10, t_i-7)', () => keys('t', 150).map((k, i) => [k, i === 0 ? [] : i < 10 ? ['t0'] : [`t${i - 10}`, `t${i - 7}`]])],
  ['dense, 60 tasks on all before', () => dense(60)],
  ['dense, 1,500 tasks on all before', () => dense(1500)],
];

interface ShapeResult {
  shape: string;
  tasks: number;
  dependencies: number;
  boxes: number;
  lines: number;
  banded: boolean;
  runs: number;
  cpu_ms: { median: number; max: number };
  wall_ms: { median: number; max: number };
}

const results: ShapeResult[] = [];
process.stdout.write(`${pad('layOut on', 40)} ${pad('CPU ms', 18, true)} ${pad('wall ms', 18, true)}  (median / slowest)\n`);
for (const [shape, spec] of SHAPES) {
  const s = spec();
  const tasks = tasksOf(s);
  const cpu: number[] = [];
  const wall: number[] = [];
  let graph: LaidOutGraph | undefined;
  for (let i = 0; i <= RUNS; i++) {
    const c = process.cpuUsage();
    const w = performance.now();
    graph = layOut(tasks);
    const took = process.cpuUsage(c);
    wall.push(performance.now() - w);
    cpu.push((took.user + took.system) / 1000);
    if (i === 0 && wall[0] > 2000) break;
  }
  const measured = cpu.length > 1 ? 1 : 0; // the warm-up is left out when others ran
  results.push({
    shape,
    tasks: s.length,
    dependencies: s.reduce((n, [, d]) => n + d.length, 0),
    boxes: graph!.boxes.length,
    lines: graph!.lines.length,
    banded: graph!.banded,
    runs: cpu.length - measured,
    cpu_ms: medianMax(cpu.slice(measured)),
    wall_ms: medianMax(wall.slice(measured)),
  });
  const r = results.at(-1)!;
  process.stdout.write(
    `${pad(shape, 40)} ${pad(`${r.cpu_ms.median} / ${r.cpu_ms.max}`, 18, true)} ${pad(`${r.wall_ms.median} / ${r.wall_ms.max}`, 18, true)}  ${r.banded ? `${r.boxes} bands` : `${r.boxes} boxes, ${r.lines} lines`} (${r.runs} run${r.runs > 1 ? 's' : ''})\n`,
  );
}

const file = writeResultFile('workflow-layout', { runs: RUNS, shapes: results });
process.stdout.write(`results: ${file}\n`);
