// Python's json.loads errors for texts JSON.parse refuses, and the nesting check.
import { describe, expect, it } from 'vitest';
import { nestsDeeperThan, pythonJsonDecodeError } from './json-decode-error.ts';

describe('pythonJsonDecodeError', () => {
  const cases: [string, string, number][] = [
    ['{"name": }', 'Expecting value', 9],
    ['{"name": "x",}', 'Expecting property name enclosed in double quotes', 13],
    ['{"name" "x"}', "Expecting ':' delimiter", 8],
    ['[1 2]', "Expecting ',' delimiter", 3],
    ['{"a": 1} x', 'Extra data', 9],
    ['{"a": "\\q"}', 'Invalid \\escape', 7],
    ['{"a": "\\u12"}', 'Invalid \\uXXXX escape', 8],
    ['{"a": "x', 'Unterminated string starting at', 6],
    ['{"a": "x\ny"}', 'Invalid control character at', 8],
    ['   ', 'Expecting value', 3],
    ["{'a': 1}", 'Expecting property name enclosed in double quotes', 1],
    ['{"😀": }', 'Expecting value', 6],
    ['NaN', 'Expecting value', 0],
  ];
  for (const [text, msg, pos] of cases) {
    it(`${JSON.stringify(text)}: ${msg} at ${pos}`, () => expect(pythonJsonDecodeError(text, 1000)).toStrictEqual({ msg, pos }));
  }

  it('is undefined for a text Python parses', () => expect(pythonJsonDecodeError('{"a": [1, 2.5e3, true, null, "\\u00e9"]}', 1000)).toBeUndefined());
  it('says too_deep when the recursion limit comes before the syntax error', () => expect(pythonJsonDecodeError(`${'['.repeat(100_000)}x`, 1000)).toBe('too_deep'));
  it('reports the syntax error when it comes first', () => expect(pythonJsonDecodeError(`{"a": x, "b": ${'['.repeat(5000)}`, 1000)).toStrictEqual({ msg: 'Expecting value', pos: 6 }));
});

describe('nestsDeeperThan', () => {
  const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
  it('counts arrays and objects', () => {
    expect(nestsDeeperThan(deep(10), 10)).toBe(false);
    expect(nestsDeeperThan(deep(11), 10)).toBe(true);
    expect(nestsDeeperThan(`${'{"a":'.repeat(11)}1${'}'.repeat(11)}`, 10)).toBe(true);
  });
  it('does not count brackets inside strings, escaped quotes included', () => {
    expect(nestsDeeperThan(JSON.stringify({ a: `\\"${'['.repeat(50)}` }), 10)).toBe(false);
  });
  it('is false for siblings, however many', () => expect(nestsDeeperThan(JSON.stringify(Array.from({ length: 100 }, () => [[1]])), 10)).toBe(false));
});
