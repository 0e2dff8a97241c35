// The transaction that ends a workflow task and releases what follows, on shapes whose release
// ends many tasks in turn, and on ordinary ones beside them (no regression), through the real
// stores (TaskStore.finishMany with the WorkflowReleaser as its onFinal hook, as the result
// recorder calls it) on a fresh PostgreSQL database per shape, in process:
//
// - `when`-chain, on_failure continue, 1,000 and 2,000 tasks: t0 runs; each later task's `when`
//   ({{ tasks.<parent>.status }} == "failed") is false, so t0's end skips t1, whose skip releases
//   t2, which is skipped, … all in t0's end.
// - the same 1,000 under on_failure skip_downstream (the default): t1 skipped by its `when`, the
//   rest as its descendants.
// - a 1,000-wide fan-out whose children's `when`s are all false: one wave, 1,000 skips.
// - a 10,000 chain, on_failure continue, whose odd tasks' `when`s are false: each end skips one
//   task and releases the next (the commonest cascade: two waves), the first `--ends` of them.
// - a chain of 1,000 and of 10,000 plain tasks: one end each, the first `--ends` of them.
// - a 1,000-wide fan-out and fan-in (root → m0…m999 → sink): the root's end (1,000 children
//   released), `--ends` ends of the middle, and the last one (the sink released).
//
//   npx tsx bench/release-cascade.ts [--ends 40] [--only <name substring>,…]
//
// Results: bench/results/release-cascade-<timestamp>-<commit>.json. Needs PostgreSQL only
// (BENCH_DATABASE_URL or TEST_DATABASE_URL, as the other benches).
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config/index.ts';
import { workflowRows } from '../src/control/task-rows.ts';
import { WorkflowReleaser } from '../src/dag/release.ts';
import { openDatabase } from '../src/state/db.ts';
import { NodeStore } from '../src/state/node-store.ts';
import { TaskStore } from '../src/state/task-store.ts';
import { WorkflowStore } from '../src/state/workflow-store.ts';
import { cleanup, log, onCleanup } from './support/harness.ts';
import { createDatabase } from './support/services.ts';
import { medianMax, round } from './support/stats.ts';
import { pad } from './support/table.ts';
import { writeResultFile } from './support/result-file.ts';

const { values: argv } = parseArgs({ options: { ends: { type: 'string', default: '40' }, only: { type: 'string' } } });
const ENDS = Math.max(1, Number(argv.ends));
const config = loadConfig({ env: {} });

type TaskSpec = { key: string; image: string; depends_on?: string[]; when?: string };
const task = (key: string, depends_on: string[] = [], extra: Partial<TaskSpec> = {}): TaskSpec => ({ key, image: 'busybox', depends_on, ...extra });
const whenChain = (n: number): TaskSpec[] =>
  Array.from({ length: n }, (_, i) => (i === 0 ? task('t0') : task(`t${i}`, [`t${i - 1}`], { when: `{{ tasks.t${i - 1}.status }} == "failed"` })));
/** Every odd task's `when` is false: each end skips one task and releases the next (two waves). */
const alternating = (n: number): TaskSpec[] =>
  Array.from({ length: n }, (_, i) => (i % 2 === 1 ? task(`t${i}`, [`t${i - 1}`], { when: `{{ tasks.t${i - 1}.status }} == "failed"` }) : task(`t${i}`, i ? [`t${i - 1}`] : [])));
const chain = (n: number): TaskSpec[] => Array.from({ length: n }, (_, i) => task(`t${i}`, i ? [`t${i - 1}`] : []));
const whenFan = (n: number): TaskSpec[] => [task('root'), ...Array.from({ length: n }, (_, i) => task(`m${i}`, ['root'], { when: '{{ tasks.root.status }} == "failed"' }))];
const fan = (n: number): TaskSpec[] => [task('root'), ...Array.from({ length: n }, (_, i) => task(`m${i}`, ['root'])), task('sink', Array.from({ length: n }, (_, i) => `m${i}`))];

interface Result {
  shape: string;
  tasks: number;
  /** The one end that sets the cascade off (when-chains), or the first end (root) of the others. */
  first_end_ms: number;
  /** Ends after the first (plain chains, the fan's middle): median and slowest. */
  later_end_ms?: { median: number; max: number; ends: number };
  /** The fan's last middle end, which releases the sink. */
  last_end_ms?: number;
  after: Record<string, number>;
  workflow: string;
}

async function shape(name: string, spec: { on_failure?: string; tasks: TaskSpec[] }, run: (end: (keys: string[]) => Promise<number>) => Promise<Partial<Result>>): Promise<Result | null> {
  if (argv.only && !argv.only.split(',').some((o) => name.includes(o))) return null;
  const db = await createDatabase('cascade');
  const drop = onCleanup(`drop database ${db.name}`, () => db.drop());
  const database = await openDatabase({ url: db.url, dataDir: '/nonexistent' });
  try {
    const tasks = new TaskStore(database.db);
    const workflows = new WorkflowStore(database.db, tasks);
    const releaser = new WorkflowReleaser(workflows);
    tasks.setOnFinal(releaser.onTasksFinal);
    const node = await new NodeStore(database.db).register({ name: `bench-${db.name}`, hostname: 'h', capacity: { cpu: 1e6, memory_mb: 1e9, gpu: 0, max_tasks: 1e6 }, labels: {} });
    const { wf, rows } = workflowRows(spec as never, config);
    await workflows.create(wf, rows, (tx, w) => releaser.start(tx, w));
    const idOf = new Map(rows.map((r) => [r.workflowKey as string, r.id as string]));
    // Places the tasks (queued by now) and times the one transaction that ends them.
    const end = async (keys: string[]): Promise<number> => {
      const ids = keys.map((k) => idOf.get(k) as string);
      const { placed } = await tasks.placeMany(ids.map((taskId) => ({ taskId, nodeId: node.id })));
      if (placed.length !== ids.length) throw new Error(`${name}: placed ${placed.length} of ${ids.length} (${keys.slice(0, 3).join(', ')}…): not queued`);
      const at = new Date();
      const t0 = performance.now();
      await tasks.finishMany(ids.map((taskId) => ({ taskId, attempt: 1, status: 'succeeded', exitCode: 0, error: null, startedAt: at, finishedAt: at, logs: '', truncated: false })));
      return performance.now() - t0;
    };
    const measured = await run(end);
    const all = await workflows.tasksOf(wf.id);
    const after: Record<string, number> = {};
    for (const t of all) after[t.status] = (after[t.status] ?? 0) + 1;
    const r: Result = { shape: name, tasks: rows.length, first_end_ms: NaN, ...measured, after, workflow: (await workflows.get(wf.id))?.status ?? '?' };
    const later = r.later_end_ms ? `${r.later_end_ms.median} / ${r.later_end_ms.max}` : '';
    process.stdout.write(`${pad(name, 44)} ${pad(round(r.first_end_ms, 1), 10, true)} ${pad(later, 16, true)} ${pad(r.last_end_ms === undefined ? '' : round(r.last_end_ms, 1), 10, true)}  ${r.workflow}, ${JSON.stringify(after)}\n`);
    return r;
  } finally {
    await database.close();
    await drop();
  }
}

const later = (xs: number[]) => ({ ...medianMax(xs), ends: xs.length });
const plainChain = (n: number) => async (end: (keys: string[]) => Promise<number>) => {
  const first = await end(['t0']);
  const xs: number[] = [];
  for (let i = 1; i <= ENDS && i < n; i++) xs.push(await end([`t${i}`]));
  return { first_end_ms: round(first, 1), later_end_ms: later(xs) };
};

process.stdout.write(`${pad('shape', 44)} ${pad('first ms', 10, true)} ${pad('later ms (med/max)', 16, true)} ${pad('last ms', 10, true)}  after\n`);
const results: Result[] = [];
try {
  const shapes: Array<() => Promise<Result | null>> = [
    () => shape('when-chain, continue, 1,000', { on_failure: 'continue', tasks: whenChain(1000) }, async (end) => ({ first_end_ms: round(await end(['t0']), 1) })),
    () => shape('when-chain, continue, 2,000', { on_failure: 'continue', tasks: whenChain(2000) }, async (end) => ({ first_end_ms: round(await end(['t0']), 1) })),
    () => shape('when-chain, skip_downstream, 1,000', { tasks: whenChain(1000) }, async (end) => ({ first_end_ms: round(await end(['t0']), 1) })),
    () => shape('when fan-out, 1,000 wide, all false', { tasks: whenFan(1000) }, async (end) => ({ first_end_ms: round(await end(['root']), 1) })),
    () =>
      shape('alternating when-chain, continue, 10,000', { on_failure: 'continue', tasks: alternating(10_000) }, async (end) => {
        const first = await end(['t0']);
        const xs: number[] = [];
        for (let i = 1; i <= ENDS; i++) xs.push(await end([`t${2 * i}`]));
        return { first_end_ms: round(first, 1), later_end_ms: later(xs) };
      }),
    () => shape('plain chain, 1,000', { tasks: chain(1000) }, plainChain(1000)),
    () => shape('plain chain, 10,000', { tasks: chain(10_000) }, plainChain(10_000)),
    () =>
      shape('fan-out and in, 1,000 wide', { tasks: fan(1000) }, async (end) => {
        const first = await end(['root']);
        const xs: number[] = [];
        for (let i = 0; i < ENDS; i++) xs.push(await end([`m${i}`]));
        // The rest but one in batches of 200, as the result recorder records them, then the last.
        for (let i = ENDS; i < 999; i += 200) await end(Array.from({ length: Math.min(200, 999 - i) }, (_, j) => `m${i + j}`));
        return { first_end_ms: round(first, 1), later_end_ms: later(xs), last_end_ms: round(await end(['m999']), 1) };
      }),
  ];
  for (const s of shapes) {
    const r = await s();
    if (r) results.push(r);
  }
} finally {
  await cleanup();
}

const file = writeResultFile('release-cascade', { ends: ENDS, shapes: results });
log(`results: ${file}`);
