// How Python reads and writes the values in pydantic's errors: the strings lax mode parses as
// int, float and bool, and repr() as messages show values (`'a' or 'b'`, `True`, `1e-05`).

const TRUE_STRINGS = new Set(['1', 'on', 't', 'true', 'y', 'yes']);
const FALSE_STRINGS = new Set(['0', 'off', 'f', 'false', 'n', 'no']);
const DIGITS = String.raw`\d+(?:_\d+)*`;
/** An integer string pydantic takes: digits with `_` between groups, an optional `.0…`, spaces around. */
export const INT_STRING = new RegExp(String.raw`^\s*[+-]?${DIGITS}(?:\.0*)?\s*$`);
// Written so no two parts can match the same digits: a long run of digits is checked in linear time.
/** A float string pydantic takes, including inf, infinity and nan. */
export const FLOAT_STRING = new RegExp(String.raw`^\s*[+-]?(?:(?:${DIGITS}(?:\.${DIGITS})?|\.${DIGITS})(?:[eE][+-]?\d+)?|\d+\.|inf|infinity|nan)\s*$`, 'i');

/** The boolean pydantic reads from `value` (true/false, 1/0, yes/no, on/off, t/f, y/n), if any. */
export function pythonBool(value: string): boolean | undefined {
  const lower = value.toLowerCase();
  if (TRUE_STRINGS.has(lower)) return true;
  if (FALSE_STRINGS.has(lower)) return false;
  return undefined;
}

export function parseIntLikePydantic(v: unknown): unknown {
  if (typeof v !== 'string' || !INT_STRING.test(v)) return v;
  const n = Number(v.trim().replaceAll('_', ''));
  return Number.isFinite(n) ? n : v;
}

export function parseBoolLikePydantic(v: unknown): unknown {
  return typeof v === 'string' ? (pythonBool(v) ?? v) : v;
}

/** Python's repr of a JSON value, as pydantic puts it in `expected`. */
export function pyRepr(value: unknown): string {
  if (typeof value === 'string') {
    const quote = value.includes("'") && !value.includes('"') ? '"' : "'";
    let out = '';
    for (const ch of value) {
      const code = ch.codePointAt(0) as number;
      if (ch === '\\' || ch === quote) out += `\\${ch}`;
      else if (ch === '\n') out += '\\n';
      else if (ch === '\r') out += '\\r';
      else if (ch === '\t') out += '\\t';
      else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
      else out += ch;
    }
    return `${quote}${out}${quote}`;
  }
  if (typeof value === 'number') return pyNumber(value);
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (value === null || value === undefined) return 'None';
  return JSON.stringify(value);
}

/** A number as Python writes it: `1e-05`, not `1e-5`. */
export function pyNumber(n: number): string {
  return String(n).replace(/e([+-])(\d)$/, 'e$10$2');
}

/** `'a'`, `'a' or 'b'`, `'a', 'b' or 'c'`: pydantic's list of expected values. */
export function expectedRepr(values: readonly unknown[]): string {
  const reprs = values.map(pyRepr);
  if (reprs.length <= 1) return reprs[0] ?? '';
  return `${reprs.slice(0, -1).join(', ')} or ${reprs[reprs.length - 1]}`;
}
