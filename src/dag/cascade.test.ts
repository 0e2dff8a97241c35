import { describe, expect, it } from 'vitest';
import type { TaskStatus } from '../domain/task.ts';
import type { ToAdmit } from './admission.ts';
import { decideCascade, type CascadeReads, type GraphTask } from './cascade.ts';

type Spec = { key: string; status?: TaskStatus; deps?: string[]; when?: string; templates?: ToAdmit['templates']; result?: string };
const CONTINUE = ['succeeded', 'skipped'];
const STOP = ['succeeded'];

/** A workflow's graph and the reads the cascade makes of it, counted. */
function workflow(specs: Spec[]) {
  const graph: GraphTask[] = specs.map((s) => ({ id: `id-${s.key}`, key: s.key, status: s.status ?? 'pending', dependsOn: s.deps ?? [], special: !!(s.when || s.templates) }));
  const byId = new Map(specs.map((s) => [`id-${s.key}`, s]));
  const byKey = new Map(specs.map((s) => [s.key, s]));
  const calls = { toAdmit: [] as string[][], values: [] as string[][] };
  const reads: CascadeReads = {
    toAdmit: async (ids) => {
      calls.toAdmit.push(ids);
      return ids.map((id) => byId.get(id)).filter((s) => s !== undefined).map((s) => ({ id: `id-${s.key}`, whenCondition: s.when ?? null, templates: s.templates ?? null }));
    },
    values: async (keys) => {
      calls.values.push(keys);
      return keys.filter((k) => byKey.has(k)).map((k) => ({ workflowKey: k, result: byKey.get(k)?.result ?? null, outputs: null }));
    },
  };
  return { graph, reads, calls };
}

const chain = (n: number, when: (i: number) => string): Spec[] => [
  { key: 't0', status: 'skipped' },
  ...Array.from({ length: n - 1 }, (_, i) => ({ key: `t${i + 1}`, deps: [`t${i}`], when: when(i + 1) })),
];

describe('decideCascade', () => {
  it('skips a when-chain task after task, each with its own reason, in a few reads', async () => {
    const w = workflow(chain(1000, (i) => `{{ tasks.t${i - 1}.status }} == "succeeded"`));
    const out = await decideCascade(w.graph, [{ key: 't0', status: 'skipped' }], CONTINUE, w.reads);
    expect(out.ended).toHaveLength(999);
    expect(out.ended[0]).toEqual({ id: 'id-t1', status: 'skipped', reason: 'when "{{ tasks.t0.status }} == \\"succeeded\\"" was false (tasks.t0.status = "skipped")' });
    expect(out.ended.map((e) => e.id)).toEqual(Array.from({ length: 999 }, (_, i) => `id-t${i + 1}`));
    expect(out.ready).toEqual([]);
    expect(out.waiting).toEqual([]);
    // Reads that double: 1 + 1, 2 + 2, … tasks, not one a wave.
    expect(w.calls.toAdmit.length).toBeLessThanOrEqual(11);
    expect(w.calls.toAdmit.flat().sort()).toEqual([...new Set(w.calls.toAdmit.flat())].sort());
    expect(w.calls.values.length).toBe(w.calls.toAdmit.length);
  });

  it('under skip_downstream, skips the descendants of a task its when skipped, naming it', async () => {
    const w = workflow([
      { key: 'a', status: 'succeeded' },
      { key: 'gate', deps: ['a'], when: '{{ tasks.a.result }} == "yes"' },
      { key: 'b', deps: ['gate'] },
      { key: 'c', deps: ['b', 'gate'] },
      { key: 'd', deps: ['a'] },
    ]);
    // `gate` ended at release in the first wave; the cascade goes on from it.
    w.graph[1].status = 'skipped';
    const out = await decideCascade(w.graph, [{ key: 'gate', status: 'skipped' }], STOP, w.reads);
    expect(out.ended).toEqual([
      { id: 'id-b', status: 'skipped', reason: 'skipped: upstream task gate skipped' },
      { id: 'id-c', status: 'skipped', reason: 'skipped: upstream task gate skipped' },
    ]);
    expect(out.ready).toEqual([]);
    expect(w.calls.toAdmit).toEqual([]);
  });

  it('fails a task whose template value is missing, skips what follows it, and releases what may run', async () => {
    const w = workflow([
      { key: 's', status: 'skipped' },
      { key: 'reads', deps: ['s'], templates: { name: null, command: 'echo {{ tasks.s.result }}', env: {} } },
      { key: 'after-reads', deps: ['reads'] },
      { key: 'status', deps: ['s'], templates: { name: 'after {{ tasks.s.status }}', command: null, env: {} } },
      { key: 'plain', deps: ['s'] },
    ]);
    const out = await decideCascade(w.graph, [{ key: 's', status: 'skipped' }], CONTINUE, w.reads);
    expect(out.ended).toEqual([
      { id: 'id-reads', status: 'failed', reason: 'cannot fill command: tasks.s.result has no value (task "s" ended skipped)' },
      { id: 'id-after-reads', status: 'skipped', reason: 'skipped: upstream task reads failed' },
    ]);
    expect(out.ready).toEqual([
      { id: 'id-status', fields: { name: 'after skipped', command: null, env: {} } },
      { id: 'id-plain', fields: null },
    ]);
  });

  it('says what a child still waits on, and releases it once the last of its parents is done', async () => {
    const w = workflow([
      { key: 'root', status: 'skipped' },
      { key: 'running', status: 'running' },
      { key: 'x', deps: ['root'], when: 'false' },
      { key: 'y', deps: ['x'], when: 'false' },
      { key: 'waits', deps: ['x', 'running', 'y'] },
      { key: 'joins', deps: ['x', 'y'] },
    ]);
    const out = await decideCascade(w.graph, [{ key: 'root', status: 'skipped' }], CONTINUE, w.reads);
    expect(out.ended.map((e) => e.id)).toEqual(['id-x', 'id-y']);
    // After x: "waiting on running, y"; after y: on running only. The last is kept.
    expect(out.waiting).toEqual([{ taskId: 'id-waits', reason: 'waiting on running' }]);
    expect(out.ready).toEqual([{ id: 'id-joins', fields: null }]);
  });

  it('decides the tasks of one wave on the values from before any of them ended', async () => {
    // b and c are admitted in the same wave; c reads b, pending when the wave began.
    const w = workflow([
      { key: 'a', status: 'skipped' },
      { key: 'x', deps: ['a'], when: 'false' },
      { key: 'b', deps: ['x'], when: 'false' },
      { key: 'c', deps: ['x'], when: '{{ tasks.b.status }} == "pending"' },
    ]);
    const out = await decideCascade(w.graph, [{ key: 'a', status: 'skipped' }], CONTINUE, w.reads);
    expect(out.ended.map((e) => e.id)).toEqual(['id-x', 'id-b']);
    expect(out.ready).toEqual([{ id: 'id-c', fields: null }]);
  });
});
