import { describe, expect, it } from 'vitest';
import { validateGraph, type GraphEntry } from './validate.ts';

const g = (spec: Record<string, string[]>): GraphEntry[] => Object.entries(spec).map(([key, depends_on]) => ({ key, depends_on }));

describe('validateGraph', () => {
  it('accepts an empty workflow, a lone task, a chain and a diamond', () => {
    expect(validateGraph([])).toEqual([]);
    expect(validateGraph(g({ a: [] }))).toEqual([]);
    expect(validateGraph(g({ a: [], b: ['a'], c: ['b'] }))).toEqual([]);
    expect(validateGraph(g({ a: [], b: ['a'], c: ['a'], d: ['b', 'c'] }))).toEqual([]);
    // order in the list does not matter: a child may come before its parent
    expect(validateGraph(g({ d: ['b', 'c'], c: ['a'], b: ['a'], a: [] }))).toEqual([]);
  });

  it('names a duplicate key at its second place, pointing back at the first', () => {
    const entries = [
      { key: 'a', depends_on: [] },
      { key: 'b', depends_on: [] },
      { key: 'a', depends_on: [] },
    ];
    expect(validateGraph(entries)).toEqual([
      {
        type: 'value_error',
        loc: ['body', 'tasks', 2, 'key'],
        msg: 'Value error, duplicate key "a" (also tasks[0])',
        input: 'a',
        ctx: { error: {} },
      },
    ]);
  });

  it('names an unknown dependency at its index in depends_on', () => {
    const problems = validateGraph(g({ a: [], b: ['a', 'nope'] }));
    expect(problems).toEqual([
      {
        type: 'value_error',
        loc: ['body', 'tasks', 1, 'depends_on', 1],
        msg: 'Value error, unknown dependency "nope": no task in this workflow has that key',
        input: 'nope',
        ctx: { error: {} },
      },
    ]);
  });

  it('refuses a dependency listed twice', () => {
    const problems = validateGraph(g({ a: [], b: ['a', 'a'] }));
    expect(problems.map((p) => [p.loc, p.msg])).toEqual([[['body', 'tasks', 1, 'depends_on', 1], 'Value error, "a" is listed twice']]);
  });

  it('reports every key and dependency problem at once, and no cycle check on a broken graph', () => {
    const problems = validateGraph(g({ a: ['x'], b: ['a', 'a', 'y'] }).concat({ key: 'a', depends_on: ['b'] }));
    expect(problems.map((p) => p.loc)).toEqual([
      ['body', 'tasks', 2, 'key'],
      ['body', 'tasks', 0, 'depends_on', 0],
      ['body', 'tasks', 1, 'depends_on', 1],
      ['body', 'tasks', 1, 'depends_on', 2],
    ]);
    expect(problems.some((p) => p.msg.includes('cycle'))).toBe(false);
  });

  it('finds a task that depends on itself', () => {
    expect(validateGraph(g({ a: ['a'] }))).toEqual([
      { type: 'value_error', loc: ['body', 'tasks', 0, 'depends_on', 0], msg: 'Value error, cycle: a -> a', input: 'a', ctx: { error: {} } },
    ]);
  });

  it('names a longer cycle in order and reports it at the edge that closes it', () => {
    const problems = validateGraph(g({ root: [], a: ['root', 'c'], b: ['a'], c: ['b'] }));
    expect(problems).toHaveLength(1);
    expect(problems[0].msg).toBe('Value error, cycle: a -> c -> b -> a');
    // b (index 2) depends on a: that edge closes the loop a -> c -> b -> a
    expect(problems[0].loc).toEqual(['body', 'tasks', 2, 'depends_on', 0]);
    expect(problems[0].input).toBe('a');
  });

  it('finds a cycle hanging off an acyclic part already visited', () => {
    const problems = validateGraph(g({ a: [], b: ['a'], c: ['b', 'd'], d: ['c'] }));
    expect(problems.map((p) => p.msg)).toEqual(['Value error, cycle: c -> d -> c']);
  });

  it('handles a 10,000-deep chain without recursion, and finds the cycle that closes it', () => {
    const n = 10_000;
    const chain: GraphEntry[] = Array.from({ length: n }, (_, i) => ({ key: `t${i}`, depends_on: i === 0 ? [] : [`t${i - 1}`] }));
    expect(validateGraph(chain)).toEqual([]);
    chain[0] = { key: 't0', depends_on: [`t${n - 1}`] };
    const problems = validateGraph(chain);
    expect(problems).toHaveLength(1);
    expect(problems[0].msg.startsWith('Value error, cycle: t0 -> t9999 -> t9998')).toBe(true);
    expect(problems[0].msg.split(' -> ')).toHaveLength(n + 1);
  });

  it('lists the first 100 problems and counts the rest', () => {
    const entries = Array.from({ length: 10 }, (_, t) => ({ key: `t${t}`, depends_on: Array.from({ length: 1000 }, (_, j) => `u${j}`) }));
    const problems = validateGraph(entries);
    expect(problems).toHaveLength(101);
    expect(problems[99].loc).toEqual(['body', 'tasks', 0, 'depends_on', 99]);
    expect(problems[100]).toMatchObject({ type: 'too_many_errors', loc: ['body'], ctx: { left_out: 10_000 - 100 } });
  });
});
