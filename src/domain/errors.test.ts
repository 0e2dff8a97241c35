import { describe, expect, it } from 'vitest';
import { InvalidInput, listedProblems, MAX_LISTED_PROBLEMS, type InputProblem } from './errors.ts';

const problem = (i: number): InputProblem => ({ type: 'value_error', loc: ['body', 'tasks', i], msg: `bad ${i}`, input: i });

describe('listedProblems', () => {
  it('keeps a list of up to MAX_LISTED_PROBLEMS + 1 whole', () => {
    const list = Array.from({ length: MAX_LISTED_PROBLEMS + 1 }, (_, i) => problem(i));
    expect(listedProblems(list)).toBe(list);
  });

  it('lists the first MAX_LISTED_PROBLEMS and counts the rest, left-out items by their count', () => {
    const list = Array.from({ length: 500 }, (_, i) => problem(i));
    const cut = listedProblems([...list, { type: 'too_many_errors', loc: ['body'], msg: '', input: null, ctx: { left_out: 1000 } }]);
    expect(cut).toHaveLength(MAX_LISTED_PROBLEMS + 1);
    expect(cut.slice(0, MAX_LISTED_PROBLEMS)).toEqual(list.slice(0, MAX_LISTED_PROBLEMS));
    expect(cut[MAX_LISTED_PROBLEMS]).toEqual({
      type: 'too_many_errors',
      loc: ['body'],
      msg: '1400 more problems were found and not listed (only the first 100 are); fix these and send the request again',
      input: null,
      ctx: { left_out: 1400 },
    });
  });

  it('keeps InvalidInput and its message bounded', () => {
    const err = new InvalidInput(Array.from({ length: 100_000 }, (_, i) => problem(i)));
    expect(err.problems).toHaveLength(MAX_LISTED_PROBLEMS + 1);
    expect(err.message.length).toBeLessThan(1000);
  });
});
