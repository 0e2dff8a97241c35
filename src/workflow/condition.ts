// A task's `when`: a CEL expression (@marcbachmann/cel-js, an interpreter, never eval) over its
// ancestors' values, e.g. "{{ tasks.check.result }} == 'yes'" or
// "{{ tasks.extract.outputs.rows }} > 0 and {{ tasks.a.status }} == 'succeeded'".
//   compileCondition(when)            at submit: the compiled condition, or a message for a 422;
//   decideWhen(condition, values)     at release: run, or skip with the reason to store.
// A `when` accepted at submit always compiles again at release (same code, no outside state).
// Each `{{ … }}` becomes a bound variable of the expression, never text pasted into it, so a value
// such as "' or 1 == 1" is only ever a string. A value compares as a number with numbers when it
// looks like one ("7", " 7", "-1.5e3"), as text with strings. `and`/`or`/`not` mean &&, ||, !.
import { Environment } from '@marcbachmann/cel-js';
import { lookUp, parseReference, REFERENCE_FORMS, type AncestorValues, type Reference } from './template.ts';

export const MAX_CONDITION_LENGTH = 4096;
export const MAX_CONDITION_REFERENCES = 32;

export interface CompiledCondition {
  source: string;
  /** The distinct references, in order of first use; variable i of the expression is refs[i]. */
  refs: Reference[];
  evaluate: (bindings: Record<string, Bound>) => unknown;
}

/** A referenced value as the expression sees it: its text, or why it has none. */
class Bound {
  constructor(
    readonly label: string,
    readonly text: string | null,
    readonly missing: string = '',
  ) {}
  get value(): string {
    if (this.text === null) throw new Error(this.missing);
    return this.text;
  }
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const INTEGER = /^[+-]?\d+$/;

/** Compares a value with a number: <0, 0, >0; null when the value is not a number. */
function compareNumber(b: Bound, n: bigint | number): number | null {
  const t = b.value.trim();
  if (!NUMBER.test(t)) return null;
  if (typeof n === 'bigint' && INTEGER.test(t)) {
    const x = BigInt(t);
    return x < n ? -1 : x > n ? 1 : 0;
  }
  const x = Number(t);
  const y = Number(n);
  return x < y ? -1 : x > y ? 1 : 0;
}

function orderNumber(b: Bound, n: bigint | number): number {
  const c = compareNumber(b, n);
  if (c === null) throw new Error(`${b.label} = ${quote(b.value)} is not a number, so it cannot be compared with ${n}`);
  return c;
}

const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function compareBounds(a: Bound, b: Bound): number {
  const x = a.value.trim();
  const y = b.value.trim();
  if (NUMBER.test(x) && NUMBER.test(y)) return compareNumber(a, INTEGER.test(y) ? BigInt(y) : Number(y)) as number;
  return compareText(a.value, b.value);
}

const ORDERINGS: Array<[string, (c: number) => boolean]> = [
  ['<', (c) => c < 0],
  ['<=', (c) => c <= 0],
  ['>', (c) => c > 0],
  ['>=', (c) => c >= 0],
];

const VAR = (i: number) => `_jarvis_ref_${i}`;

let shared: Environment | undefined;
/** One environment for every condition (building one is the expensive part). */
function environment(): Environment {
  if (shared) return shared;
  const env = new Environment({ limits: { maxAstNodes: 2000, maxDepth: 64, maxListElements: 256, maxMapEntries: 256, maxCallArguments: 8 } });
  // `fields: {}` keeps the wrapper's own properties (label, text) out of reach of expressions.
  env.registerType('Value', { ctor: Bound, fields: {} });
  for (let i = 0; i < MAX_CONDITION_REFERENCES; i++) env.registerVariable(VAR(i), 'Value');
  // `==` overloads serve both operand orders (and `!=`); orderings need each order.
  for (const num of ['int', 'double']) {
    env.registerOperator(`Value == ${num}`, (a: Bound, n: bigint | number) => compareNumber(a, n) === 0);
    for (const [op, holds] of ORDERINGS) {
      env.registerOperator(`Value ${op} ${num}`, (a: Bound, n: bigint | number) => holds(orderNumber(a, n)));
      env.registerOperator(`${num} ${op} Value`, (n: bigint | number, a: Bound) => holds(-orderNumber(a, n)));
    }
  }
  env.registerOperator('Value == string', (a: Bound, s: string) => a.value === s);
  env.registerOperator('Value == bool', (a: Bound, b: boolean) => a.value.trim() === String(b));
  env.registerOperator('Value == Value', (a: Bound, b: Bound) => compareBounds(a, b) === 0);
  for (const [op, holds] of ORDERINGS) {
    env.registerOperator(`Value ${op} string`, (a: Bound, s: string) => holds(compareText(a.value, s)));
    env.registerOperator(`string ${op} Value`, (s: string, a: Bound) => holds(compareText(s, a.value)));
    env.registerOperator(`Value ${op} Value`, (a: Bound, b: Bound) => holds(compareBounds(a, b)));
  }
  shared = env;
  return env;
}

export type CompiledResult = { ok: true; condition: CompiledCondition } | { ok: false; error: string };

/** Parses and type-checks `when`; the error says what is wrong and how to write it instead. */
export function compileCondition(source: string): CompiledResult {
  if (source.length > MAX_CONDITION_LENGTH) return { ok: false, error: `the condition is ${source.length} characters long; at most ${MAX_CONDITION_LENGTH} are allowed` };
  const rewritten = rewrite(source);
  if (!rewritten.ok) return rewritten;
  const { expression, refs } = rewritten;
  if (expression.trim() === '') return { ok: false, error: `the condition is empty; write one such as "{{ tasks.check.result }} == 'yes'"` };
  const env = environment();
  const explain = (message: string) => namesBack(message.split('\n')[0], refs);
  let evaluate: CompiledCondition['evaluate'];
  try {
    evaluate = env.parse(expression) as CompiledCondition['evaluate'];
  } catch (e) {
    return { ok: false, error: `invalid condition: ${explain((e as Error).message)}` };
  }
  const checked = env.check(expression);
  if (!checked.valid) {
    const msg = explain(checked.error?.message ?? 'type error');
    const hint = /Unknown variable/.test(msg)
      ? `; quote text ('yes'), and write references as ${REFERENCE_FORMS}`
      : /overload: !Value/.test(msg)
        ? `; not (like !) applies to what follows it directly: write not ({{ tasks.a.result }} == 'x')`
        : /overload: .*Value/.test(msg)
          ? '; a reference (Value) can only be compared, with ==, !=, <, <=, > or >=, to a number, a string, true/false or another reference'
          : '';
    return { ok: false, error: `invalid condition: ${msg}${hint}` };
  }
  if (checked.type !== 'bool') {
    return { ok: false, error: `the condition gives ${checked.type === 'Value' ? 'a value' : `a ${checked.type}`}, not true or false; compare it, e.g. {{ tasks.check.result }} == 'yes'` };
  }
  return { ok: true, condition: { source, refs, evaluate } };
}

export type Evaluated = { ok: true; value: boolean } | { ok: false; error: string };

/** Evaluates against the ancestors' values: true/false, or the error (then the task is skipped). */
export function evaluateCondition(condition: CompiledCondition, values: AncestorValues): Evaluated {
  const bindings: Record<string, Bound> = {};
  condition.refs.forEach((ref, i) => {
    const v = lookUp(ref, values);
    bindings[VAR(i)] = v.ok ? new Bound(ref.text, v.value) : new Bound(ref.text, null, v.error);
  });
  try {
    const value = condition.evaluate(bindings);
    if (typeof value !== 'boolean') return { ok: false, error: `the condition gave ${String(value)}, not true or false` };
    return { ok: true, value };
  } catch (e) {
    return { ok: false, error: namesBack((e as Error).message.split('\n')[0], condition.refs) };
  }
}

export type WhenDecision = { run: true } | { run: false; reason: string };

/**
 * The release-time decision with the text to store as the skip reason, e.g.
 * `when "{{ tasks.check.result }} == 'yes'" was false (tasks.check.result = "no")`.
 */
export function decideWhen(condition: CompiledCondition, values: AncestorValues): WhenDecision {
  const r = evaluateCondition(condition, values);
  if (r.ok && r.value) return { run: true };
  const shown = condition.refs
    .map((ref) => {
      const v = lookUp(ref, values);
      return v.ok ? `${ref.text} = ${quote(v.value)}` : `${ref.text} has no value`;
    })
    .join(', ');
  const context = shown ? ` (${shown})` : '';
  const head = `when ${JSON.stringify(condition.source)}`;
  return { run: false, reason: r.ok ? `${head} was false${context}` : `${head} could not be evaluated: ${r.error}${context}` };
}

function quote(value: string): string {
  return JSON.stringify(value.length > 100 ? `${value.slice(0, 100)}…` : value);
}

function namesBack(message: string, refs: Reference[]): string {
  return message.replace(/_jarvis_ref_(\d+)/g, (_, i: string) => `{{ ${refs[Number(i)]?.text ?? '?'} }}`);
}

/** A run of word characters; inside a run (behind a letter, digit or _) it is no keyword. */
const WORD = /[A-Za-z0-9_]+/y;

type Rewritten = { ok: true; expression: string; refs: Reference[] } | { ok: false; error: string };

/**
 * Replaces each `{{ ref }}` (bare, or as the whole of a quoted string, as Argo users write it) by a
 * variable, and the words and/or/not by &&, ||, !, leaving string literals untouched.
 */
function rewrite(source: string): Rewritten {
  const refs: Reference[] = [];
  const index = new Map<string, number>();
  const variable = (inner: string, at: number): string | { error: string } => {
    const ref = parseReference(inner.trim());
    const shown = inner.trim().length > 80 ? `${inner.trim().slice(0, 80)}…` : inner.trim();
    if (!ref) return { error: `at character ${at + 1}: unknown syntax "{{ ${shown} }}": a reference looks like ${REFERENCE_FORMS}` };
    let i = index.get(ref.text);
    if (i === undefined) {
      if (refs.length === MAX_CONDITION_REFERENCES) return { error: `the condition uses more than ${MAX_CONDITION_REFERENCES} different references` };
      index.set(ref.text, (i = refs.length));
      refs.push(ref);
    }
    return VAR(i);
  };
  let out = '';
  let i = 0;
  while (i < source.length) {
    const c = source[i];
    if (source.startsWith('{{', i)) {
      const close = source.indexOf('}}', i + 2);
      if (close < 0) return { ok: false, error: `at character ${i + 1}: "{{" is never closed by "}}"` };
      const v = variable(source.slice(i + 2, close), i);
      if (typeof v !== 'string') return { ok: false, ...v };
      out += ` ${v} `;
      i = close + 2;
      continue;
    }
    const prefix = /^[rRbB]{0,2}/.exec(source.slice(i, i + 2))?.[0] ?? '';
    const q = source[i + prefix.length];
    const startsWord = i === 0 || !/[A-Za-z0-9_]/.test(source[i - 1]);
    if ((q === "'" || q === '"') && (prefix === '' || startsWord)) {
      const raw = /r/i.test(prefix);
      const delim = source.startsWith(q.repeat(3), i + prefix.length) ? q.repeat(3) : q;
      let j = i + prefix.length + delim.length;
      while (j < source.length && !source.startsWith(delim, j)) j += !raw && source[j] === '\\' ? 2 : 1;
      if (j >= source.length) return { ok: false, error: `at character ${i + 1}: the string starting here is never closed by ${delim}` };
      const literal = source.slice(i, j + delim.length);
      const content = source.slice(i + prefix.length + delim.length, j);
      const whole = /^\s*\{\{([^}]*)\}\}\s*$/.exec(content);
      if (whole && prefix === '') {
        const v = variable(whole[1], i);
        if (typeof v !== 'string') return { ok: false, ...v };
        out += ` ${v} `;
      } else if (content.includes('{{')) {
        return { ok: false, error: `at character ${i + 1}: a reference inside a string would be pasted text; write it alone, e.g. {{ tasks.check.result }} == 'yes'` };
      } else {
        out += literal;
      }
      i = j + delim.length;
      continue;
    }
    // The whole run of word characters in one step, from a sticky match at i: matching the rest
    // of the text at every character of a word behind a digit ("0aaa…") was quadratic (4 KB: 7 ms).
    WORD.lastIndex = i;
    const word = WORD.exec(source);
    if (word) {
      const w = word[0];
      out += !startsWord ? w : w === 'and' ? ' && ' : w === 'or' ? ' || ' : w === 'not' ? ' ! ' : w;
      i += w.length;
      continue;
    }
    out += c;
    i++;
  }
  return { ok: true, expression: out, refs };
}
