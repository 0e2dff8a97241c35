import { describe, expect, it } from 'vitest';
import { validateGraph } from './validate.ts';

describe('validateGraph', () => {
  it('accepts a DAG', () => {
    expect(validateGraph([{ key: 'a', depends_on: [] }, { key: 'b', depends_on: ['a'] }, { key: 'c', depends_on: ['a', 'b'] }])).toEqual([]);
  });

  it('locates duplicate keys and unknown or repeated dependencies', () => {
    const problems = validateGraph([{ key: 'a', depends_on: [] }, { key: 'a', depends_on: ['x', 'a', 'a'] }]);
    expect(problems.map((p) => [p.loc.join('.'), p.msg])).toEqual([
      ['body.tasks.1.key', 'Value error, duplicate key "a" (also tasks[0])'],
      ['body.tasks.1.depends_on.0', 'Value error, unknown dependency "x": no task in this workflow has that key'],
      ['body.tasks.1.depends_on.2', 'Value error, "a" is listed twice'],
    ]);
  });

  it('names a cycle at the edge that closes it', () => {
    const problems = validateGraph([{ key: 'a', depends_on: ['c'] }, { key: 'b', depends_on: ['a'] }, { key: 'c', depends_on: ['b'] }]);
    expect(problems).toHaveLength(1);
    expect(problems[0].msg).toBe('Value error, cycle: a -> c -> b -> a');
    expect(problems[0].loc).toEqual(['body', 'tasks', 1, 'depends_on', 0]);
  });
});
