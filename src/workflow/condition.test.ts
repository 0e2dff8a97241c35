import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileCondition, decideWhen, evaluateCondition, type CompiledCondition } from './condition.ts';
import type { AncestorValue } from './template.ts';

const compile = (source: string): CompiledCondition => {
  const c = compileCondition(source);
  if (!c.ok) throw new Error(c.error);
  return c.condition;
};
const vals = (entries: Record<string, Partial<AncestorValue>>) =>
  new Map(Object.entries(entries).map(([k, v]) => [k, { status: 'succeeded', result: null, outputs: {}, ...v } as AncestorValue]));
const run = (source: string, values: Map<string, AncestorValue>) => evaluateCondition(compile(source), values);

describe('compileCondition', () => {
  it('accepts comparisons with and/or/not as words or symbols, numbers and strings in either quote', () => {
    for (const src of [
      "{{ tasks.check.result }} == 'yes'",
      '{{tasks.extract.outputs.rows}} > 0 and {{ tasks.a.status }} == "succeeded"',
      '({{ tasks.a.result }} >= 1.5 || {{ tasks.a.result }} < -2) && !({{ tasks.a.status }} == "failed")',
      "not ({{ tasks.a.result }} == 'x') or 3 <= {{ tasks.a.result }}",
      "'{{ tasks.check.result }}' == 'yes'",
      '{{ tasks.a.result }} == {{ tasks.b.result }}',
    ]) {
      expect(compileCondition(src).ok, src).toBe(true);
    }
  });

  it('rejects what is not a true/false expression over references, saying what to do', () => {
    const error = (src: string) => {
      const c = compileCondition(src);
      return c.ok ? 'compiled' : c.error;
    };
    expect(error("{{ tasks.check.result }} == ")).toMatch(/^invalid condition: Unexpected token/);
    expect(error('{{ tasks.check.result }} == yes')).toMatch(/^invalid condition: Unknown variable: yes; quote text \('yes'\)/);
    expect(error('{{ tasks.check.result }}')).toBe("the condition gives a value, not true or false; compare it, e.g. {{ tasks.check.result }} == 'yes'");
    expect(error('1 + 2')).toMatch(/gives a int, not true or false/);
    expect(error('{{ tasks.check.stdout }} == 1')).toMatch(/^at character 1: unknown syntax "\{\{ tasks\.check\.stdout \}\}"/);
    expect(error("'{{ tasks.a.result }}x' == 'yx'")).toMatch(/a reference inside a string would be pasted text/);
    expect(error("{{ tasks.a.result }} == 'open")).toMatch(/never closed/);
    expect(error('{{ tasks.a.result }} + 1 > 2')).toBe(
      'invalid condition: no such overload: Value + int; a reference (Value) can only be compared, with ==, !=, <, <=, > or >=, to a number, a string, true/false or another reference',
    );
    expect(error("not {{ tasks.a.result }} == 'x'")).toMatch(/not \(like !\) applies to what follows it directly: write not \(/);
    // The wrapper's own fields are not reachable from an expression.
    expect(error("{{ tasks.a.result }}.text == 'x'")).toMatch(/^invalid condition: /);
    expect(error('')).toMatch(/the condition is empty/);
    expect(error('x'.repeat(5000))).toMatch(/at most 4096/);
  });

  it('reads a run of word characters as one word: keywords only stand alone, and a long run is one step', () => {
    const ok = (source: string) => compileCondition(source).ok;
    expect(ok("{{ tasks.a.result }} == 'x' and not ({{ tasks.a.status }} == 'failed') or 1 == 1")).toBe(true);
    // "0and", "1or" and "x_not" hold no keyword.
    for (const source of ['1 == 0and 1', '1 == 1or 1', 'x_not']) expect(ok(source), source).toBe(false);
    // A word behind a digit, as long as a condition may be (was matched again at each of its characters: quadratic).
    const long = compileCondition(`0${'a'.repeat(4095)}`);
    expect(long.ok || long.error).toBe(compileCondition('0aaaa').ok || "invalid condition: Unexpected character: 'a'");
  });

  it('names the references it uses, once each', () => {
    expect(compile('{{ tasks.a.result }} == {{ tasks.a.result }} && {{ tasks.b.outputs.n }} > 1').refs.map((r) => r.text)).toEqual([
      'tasks.a.result',
      'tasks.b.outputs.n',
    ]);
  });
});

describe('evaluateCondition', () => {
  it('compares a number-like value as a number with numbers and as text with strings', () => {
    const v = vals({ e: { outputs: { rows: '10' }, result: ' 7' } });
    expect(run('{{ tasks.e.outputs.rows }} > 9', v)).toEqual({ ok: true, value: true }); // "10" > "9" as text would be false
    expect(run('{{ tasks.e.outputs.rows }} == 10.0', v)).toEqual({ ok: true, value: true });
    expect(run('{{ tasks.e.outputs.rows }} < 9.5', v)).toEqual({ ok: true, value: false });
    expect(run("{{ tasks.e.outputs.rows }} == '10'", v)).toEqual({ ok: true, value: true });
    expect(run("{{ tasks.e.outputs.rows }} == '10.0'", v)).toEqual({ ok: true, value: false });
    expect(run('{{ tasks.e.result }} == 7 and 5 < {{ tasks.e.result }}', v)).toEqual({ ok: true, value: true });
    expect(run('{{ tasks.e.outputs.rows }} > {{ tasks.e.result }}', v)).toEqual({ ok: true, value: true });
    expect(run('{{ tasks.e.outputs.rows }} == 99999999999999999999', vals({ e: { outputs: { rows: '99999999999999999998' } } }))).toEqual({ ok: true, value: false });
  });

  it('reads statuses, booleans and quoted references', () => {
    const v = vals({ a: { status: 'failed', result: 'true' }, c: { result: 'yes' } });
    expect(run("{{ tasks.a.status }} == 'failed' and {{ tasks.a.result }} == true", v)).toEqual({ ok: true, value: true });
    expect(run("'{{tasks.c.result}}' == 'yes'", v)).toEqual({ ok: true, value: true });
    expect(run("not ({{ tasks.c.result }} == 'yes')", v)).toEqual({ ok: true, value: false });
  });

  it('is an error, not false, to order a non-number against a number, or to use a missing value', () => {
    expect(run('{{ tasks.e.result }} > 0', vals({ e: { result: 'abc' } }))).toEqual({
      ok: false,
      error: 'tasks.e.result = "abc" is not a number, so it cannot be compared with 0',
    });
    expect(run('{{ tasks.e.outputs.rows }} > 0', vals({ e: { status: 'skipped' } }))).toEqual({
      ok: false,
      error: 'tasks.e.outputs.rows has no value (task "e" ended skipped)',
    });
    // An error on one side of `or` does not matter when the other side is true (CEL's rule).
    expect(run("{{ tasks.e.status }} == 'skipped' or {{ tasks.e.outputs.rows }} > 0", vals({ e: { status: 'skipped' } }))).toEqual({ ok: true, value: true });
  });

  it('orders number-like values as numbers, whatever their spelling (property)', () => {
    const cond = compile('{{ tasks.n.result }} > 1000 or {{ tasks.n.result }} <= -7.5');
    fc.assert(
      fc.property(fc.integer({ min: -100_000, max: 100_000 }), fc.constantFrom('', ' ', '+', '0'), (n, spelling) => {
        const text = n >= 0 && spelling !== ' ' ? `${spelling}${n}` : spelling === ' ' ? ` ${n} ` : String(n);
        expect(evaluateCondition(cond, vals({ n: { result: text } }))).toEqual({ ok: true, value: n > 1000 || n <= -7.5 });
      }),
    );
  });

  it('binds values: text that looks like expression syntax stays text (property)', () => {
    const cond = compile("{{ tasks.check.result }} == 'yes'");
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.constantFrom("' or 1 == 1 or '", "yes' || true || 'x", '") || true || ("', '}} == {{')), (text) => {
        fc.pre(text !== 'yes');
        expect(evaluateCondition(cond, vals({ check: { result: text } }))).toEqual({ ok: true, value: false });
      }),
    );
  });
});

describe('decideWhen', () => {
  it('runs when true; otherwise gives the skip reason with the values it saw', () => {
    const cond = compile("{{ tasks.check.result }} == 'yes'");
    expect(decideWhen(cond, vals({ check: { result: 'yes' } }))).toEqual({ run: true });
    expect(decideWhen(cond, vals({ check: { result: 'no' } }))).toEqual({
      run: false,
      reason: `when "{{ tasks.check.result }} == 'yes'" was false (tasks.check.result = "no")`,
    });
    const num = compile('{{ tasks.x.outputs.n }} > 0');
    expect(decideWhen(num, vals({ x: { outputs: { n: 'many' } } }))).toEqual({
      run: false,
      reason: `when "{{ tasks.x.outputs.n }} > 0" could not be evaluated: tasks.x.outputs.n = "many" is not a number, so it cannot be compared with 0 (tasks.x.outputs.n = "many")`,
    });
    expect(decideWhen(num, vals({ x: { status: 'skipped' } }))).toMatchObject({ run: false, reason: expect.stringContaining('(tasks.x.outputs.n has no value)') });
  });
});
