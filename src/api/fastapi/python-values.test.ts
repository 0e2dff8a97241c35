// Python's reading and writing of values in pydantic's errors.
import { describe, expect, it } from 'vitest';
import { expectedRepr, FLOAT_STRING, INT_STRING, parseBoolLikePydantic, parseIntLikePydantic, pyNumber, pyRepr, pythonBool } from './python-values.ts';

describe('pyRepr', () => {
  const cases: [unknown, string][] = [
    ['a', "'a'"],
    ["it's", '"it\'s"'],
    ['say "hi" it\'s', "'say \"hi\" it\\'s'"],
    ['tab\tnl\nnul\u0000del\u007f', "'tab\\tnl\\nnul\\x00del\\x7f'"],
    ['back\\slash', "'back\\\\slash'"],
    [true, 'True'],
    [null, 'None'],
    [1e-7, '1e-07'],
    [2.5, '2.5'],
    [[1], '[1]'],
  ];
  for (const [value, repr] of cases) it(`${JSON.stringify(value)} → ${repr}`, () => expect(pyRepr(value)).toBe(repr));
  it('writes exponents with two digits', () => expect([pyNumber(1e21), pyNumber(1e100)]).toStrictEqual(['1e+21', '1e+100']));
  it('lists expected values as pydantic does', () => {
    expect(expectedRepr(['a'])).toBe("'a'");
    expect(expectedRepr(['a', 'b'])).toBe("'a' or 'b'");
    expect(expectedRepr(['a', 'b', 'c'])).toBe("'a', 'b' or 'c'");
  });
});

describe('lax strings', () => {
  it('reads ints as pydantic does', () => {
    for (const s of ['1', ' 42 ', '-3', '+7', '1_000', '5.0', '5.']) expect(INT_STRING.test(s), s).toBe(true);
    for (const s of ['', '1e3', '0x10', '1.5', '1__0', '_1', 'ten']) expect(INT_STRING.test(s), s).toBe(false);
    expect([parseIntLikePydantic(' 1_000 '), parseIntLikePydantic('1e3'), parseIntLikePydantic(7)]).toStrictEqual([1000, '1e3', 7]);
  });
  it('reads floats as pydantic does', () => {
    for (const s of ['1', '1.5', '.5', '5.', '1e3', '-2.5E-3', '1_000.5', 'inf', '-Infinity', 'NaN', ' 3 ']) expect(FLOAT_STRING.test(s), s).toBe(true);
    for (const s of ['', 'half', '1.2.3', '0x10', 'e5', '1e', '.']) expect(FLOAT_STRING.test(s), s).toBe(false);
  });
  it('checks a long run of digits in linear time (it took minutes before)', () => {
    const digits = '1'.repeat(200_000);
    expect(FLOAT_STRING.test(`${digits}x`)).toBe(false);
    expect(INT_STRING.test(`${digits}x`)).toBe(false);
    expect(FLOAT_STRING.test(`${digits}.${digits}`)).toBe(true);
  });
  it('reads booleans as pydantic does', () => {
    expect(['yes', 'On', 'T', '1', 'true'].map(pythonBool)).toStrictEqual([true, true, true, true, true]);
    expect(['no', 'OFF', 'f', '0', 'false'].map(pythonBool)).toStrictEqual([false, false, false, false, false]);
    expect([pythonBool('maybe'), pythonBool('2'), parseBoolLikePydantic('maybe'), parseBoolLikePydantic(1)]).toStrictEqual([undefined, undefined, 'maybe', 1]);
  });
});
