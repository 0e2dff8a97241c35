// What test/size-limits.e2e.test.ts sends: for a JSON schema of /openapi.json, the largest value
// it admits — every string at its maxLength (or the longest its pattern matches), every array at
// maxItems, every record at maxProperties, every number at its maximum, every field present — and,
// for each of those limits (and the lower ones: minLength, minItems, minimum), the same value with
// that one place just past it. Arrays and records hold their last item at its largest and the
// others at their smallest, so that a workflow of 10,000 tasks still fits a request body; a
// union is taken at its first branch, and each other branch is a variant of its own.
//
// What a schema cannot say (a key other fields refer to, two fields that exclude each other, a
// cron expression) is left to the caller's SizeRules.
import type { Json, JsonSchema, Path, SchemaBook } from './hostile-values.ts';

/** A change to a value: its place set to `value`, or removed (`undefined`). */
export interface Edit {
  path: Path;
  value: Json | undefined;
}

/** One request body to send: edits to the maximal value, and whether it is meant to be admitted. */
export interface SizeCase {
  label: string;
  /** Past a limit of the schema: must be refused. */
  past: boolean;
  edits: Edit[];
}

/** What the schema cannot tell: values of fields with a meaning, and fields that exclude each other. */
export interface SizeRules {
  /**
   * The value of a field, in place of the one built from its schema (`built`), or undefined to
   * keep that one. `largest`: the maximal value is being built (else the smallest); `index`: the
   * item's place in its array or record (unique strings are made from it).
   */
  value?(field: string, schema: JsonSchema, built: Json, largest: boolean, index: number): Json | undefined;
  /** After an array of objects is built (items: its items; the last is the largest). */
  array?(field: string, items: Json[]): void;
  /** Pairs of fields of one object of which one only may be given: the first is kept, the second is a variant. */
  exclusive?: Array<[string, string]>;
}

/** A bounded atom of a pattern: a character that fits it, and how often it may repeat. */
interface Atom {
  chars: string;
  min: number;
  max: number;
}

const UNBOUNDED = Number.POSITIVE_INFINITY;

/**
 * The atoms of a pattern made of character classes and literals with quantifiers
 * (`^[a-z0-9][a-z0-9_-]{0,62}$`), each with the characters of it to use (a letter first, a digit
 * for unique tails); null for anything else (alternation, groups).
 */
export function patternAtoms(pattern: string): Atom[] | null {
  let p = pattern;
  if (!p.startsWith('^') || !p.endsWith('$') || p.endsWith('\\$')) return null;
  p = p.slice(1, -1);
  const atoms: Atom[] = [];
  let i = 0;
  while (i < p.length) {
    let test: (c: string) => boolean;
    if (p[i] === '[') {
      const end = p.indexOf(']', i + 2);
      if (end < 0) return null;
      const body = p.slice(i + 1, end);
      const re = new RegExp(`^[${body}]$`);
      test = (c) => re.test(c);
      i = end + 1;
    } else if (p[i] === '.') {
      test = (c) => c !== '\n';
      i++;
    } else if (p[i] === '\\') {
      const re = new RegExp(`^${p.slice(i, i + 2)}$`);
      test = (c) => re.test(c);
      i += 2;
    } else if (/[()|?*+{}]/.test(p[i])) {
      return null;
    } else {
      const lit = p[i];
      test = (c) => c === lit;
      i++;
    }
    let min = 1;
    let max = 1;
    const q = /^(?:\{(\d+)(?:(,)(\d*))?\}|([?*+]))/.exec(p.slice(i));
    if (q) {
      i += q[0].length;
      if (q[4]) [min, max] = q[4] === '?' ? [0, 1] : q[4] === '*' ? [0, UNBOUNDED] : [1, UNBOUNDED];
      else {
        min = Number(q[1]);
        max = q[2] ? (q[3] ? Number(q[3]) : UNBOUNDED) : min;
      }
    }
    const candidates = 'xkabcdefghijlmnopqrstuvwyzXKABC0123456789_-.:/';
    const chars = [...candidates].filter(test).join('');
    if (!chars) return null;
    atoms.push({ chars, min, max });
  }
  return atoms;
}

/** A string of the atoms, each `count(atom)` times, its tail made unique by `tag` where the characters allow. */
function fromAtoms(atoms: Atom[], count: (a: Atom) => number, tag: string): string {
  let out = atoms.map((a) => a.chars[0].repeat(count(a))).join('');
  // The tag (digits) over the last characters of the last atom that takes digits.
  let last = -1;
  atoms.forEach((a, i) => {
    if (/\d/.test(a.chars) && count(a) > 0) last = i;
  });
  if (last >= 0 && tag) {
    const end = atoms.slice(0, last + 1).reduce((n, a) => n + count(a), 0);
    const room = Math.min(count(atoms[last]), tag.length);
    out = out.slice(0, end - room) + tag.slice(-room) + out.slice(end);
  }
  return out;
}

const isNull = (s: JsonSchema) => s.type === 'null' || (Array.isArray(s.type) && s.type.length === 1 && s.type[0] === 'null');

/** Builds the maximal value of a schema and, as it goes, the cases past each limit. */
export class SizeBuilder {
  private counter = 0;

  constructor(
    private readonly book: SchemaBook,
    private readonly rules: SizeRules = {},
  ) {}

  /** A tag unique among every value this builder made (digits). */
  private tag(): string {
    return String(++this.counter).padStart(6, '0');
  }

  /** Arrays hold their largest item only (the compact form). */
  private compact = false;

  /** The maximal value of `schema`, and the cases: its variants (other union branches, the other of exclusive fields) and each limit just past. */
  maximal(schema: JsonSchema | undefined): { value: Json; cases: SizeCase[] } {
    const cases: SizeCase[] = [];
    this.compact = false;
    const value = this.largest(schema, [], '', undefined, 0, cases, []);
    return { value, cases };
  }

  /**
   * The maximal value with every array cut to its largest item: every field present, every
   * string, record and number at its largest, but one task in a workflow, not 10,000 (where a
   * body is filled to its limit through one string, the rest need not be large).
   */
  compactMaximal(schema: JsonSchema | undefined): Json {
    this.compact = true;
    try {
      return this.largest(schema, [], '', undefined, 0, [], []);
    } finally {
      this.compact = false;
    }
  }

  /** The smallest value: required fields only, strings and arrays at their least. */
  smallest(schema: JsonSchema | undefined, field = '', hint?: Json, index = 0, depth = 0): Json {
    const s = this.book.resolve(schema);
    if (!s || depth > 20) return null;
    const branch = this.branch(s);
    let built: Json;
    const types = this.book.types(branch);
    if (branch.enum?.length) built = branch.enum[0];
    else if (types.has('object') && branch.properties) {
      const out: Record<string, Json> = {};
      for (const k of branch.required ?? []) out[k] = this.smallest(branch.properties[k], k, pick(hint, k), index, depth + 1);
      built = out;
    } else if (types.has('object')) built = {};
    else if (types.has('array')) {
      const itemHint = Array.isArray(hint) ? hint[0] : undefined;
      built = Array.from({ length: branch.minItems ?? 0 }, (_, i) => this.smallest(branch.items, field, itemHint, i, depth + 1));
    } else if (types.has('integer') || types.has('number')) built = branch.minimum ?? (branch.exclusiveMinimum !== undefined ? branch.exclusiveMinimum + 1 : typeof hint === 'number' ? hint : 1);
    else if (types.has('boolean')) built = typeof branch.default === 'boolean' ? branch.default : false;
    else if (types.has('string')) built = this.smallestString(branch, field, hint, index);
    else built = null;
    return this.ruled(field, branch, built, false, index);
  }

  private smallestString(s: JsonSchema, field: string, hint: Json | undefined, index: number): string {
    if (s.format === 'uuid') return uuidOf(index);
    if (s.format === 'date-time') return new Date().toISOString();
    const atoms = s.pattern ? patternAtoms(s.pattern) : null;
    if (atoms) return fromAtoms(atoms, (a) => (a.max === UNBOUNDED ? Math.max(a.min, 1) : Math.max(a.min, a.max > a.min ? Math.min(a.max, 6) : a.min)), String(index));
    // Short (an array of 100,000 of them must fit a body): the index in base 36.
    const base = typeof hint === 'string' ? hint : typeof s.example === 'string' ? s.example : index.toString(36);
    const min = s.minLength ?? 0;
    return base.length >= min ? base.slice(0, s.maxLength ?? base.length) : base.padEnd(min, 'x');
  }

  /** The value the rules give a field in place of the one built (null is a value: only undefined keeps it). */
  private ruled(field: string, schema: JsonSchema, built: Json, largest: boolean, index: number): Json {
    const ruled = this.rules.value?.(field, schema, built, largest, index);
    return ruled === undefined ? built : ruled;
  }

  /** The branch of a union the maximal value takes: the first that is not null. */
  private branch(s: JsonSchema): JsonSchema {
    const all = this.book.branches(s);
    return all.find((b) => !isNull(b)) ?? all[0] ?? s;
  }

  private largest(schema: JsonSchema | undefined, path: Path, field: string, hint: Json | undefined, index: number, cases: SizeCase[], outer: Edit[]): Json {
    const s = this.book.resolve(schema);
    if (!s || path.length > 40) return null;
    const all = this.book.branches(s).filter((b) => !isNull(b));
    const branch = all[0] ?? s;
    const built = this.largestOf(branch, path, field, hint ?? (s.example as Json | undefined), index, cases, outer);
    const value = this.ruled(field, branch, built, true, index);
    // Each other branch: a variant with the place at that branch's largest, and its limits.
    for (const [n, other] of all.slice(1).entries()) {
      const sub: SizeCase[] = [];
      const alt = this.largestOf(other, path, field, undefined, index, sub, []);
      const at: Edit = { path, value: this.ruled(field, other, alt, true, index) };
      cases.push({ label: `${pathLabel(path)}: union branch ${n + 2} at its largest`, past: false, edits: [...outer, at] });
      for (const c of sub) cases.push({ ...c, label: `${pathLabel(path)} (branch ${n + 2}) ${c.label.replace(/^\S+ ?/, '')}`, edits: [...outer, at, ...c.edits] });
    }
    return value;
  }

  private largestOf(s: JsonSchema, path: Path, field: string, hint: Json | undefined, index: number, cases: SizeCase[], outer: Edit[]): Json {
    const types = this.book.types(s);
    const past = (label: string, value: Json | undefined) => cases.push({ label: `${pathLabel(path)} ${label}`, past: true, edits: [...outer, { path, value }] });
    if (s.enum?.length) return s.enum[0];
    if (types.has('object') && s.properties) {
      const out: Record<string, Json> = {};
      const exclusive = new Map((this.rules.exclusive ?? []).filter(([a, b]) => s.properties![a] && s.properties![b]).map(([a, b]) => [b, a]));
      for (const [k, child] of Object.entries(s.properties)) {
        if (exclusive.has(k)) continue;
        out[k] = this.largest(child, [...path, k], k, pick(hint, k), index, cases, outer);
      }
      // The other of each pair: a variant with it in place of the first, and its limits.
      for (const [second, first] of exclusive) {
        const sub: SizeCase[] = [];
        const alt = this.largest(s.properties[second], [...path, second], second, pick(hint, second), index, sub, []);
        const swap: Edit[] = [...outer, { path: [...path, first], value: undefined }, { path: [...path, second], value: alt }];
        cases.push({ label: `${pathLabel([...path, second])} in place of ${first}, at its largest`, past: false, edits: swap });
        for (const c of sub) cases.push({ ...c, edits: [...swap, ...c.edits] });
      }
      return out;
    }
    if (types.has('object')) {
      // A record: at its bound, the last entry at its largest; one entry more past it.
      const entry = typeof s.additionalProperties === 'object' ? s.additionalProperties : undefined;
      const entryHint = hint && typeof hint === 'object' && !Array.isArray(hint) ? Object.values(hint)[0] : undefined;
      const max = s.maxProperties ?? 1;
      const out: Record<string, Json> = {};
      for (let i = 0; i < max - 1; i++) out[keyOf(i)] = this.smallest(entry, field, entryHint, i);
      out[keyOf(max - 1)] = this.largest(entry, [...path, keyOf(max - 1)], field, entryHint, max - 1, cases, outer);
      if (s.maxProperties !== undefined) past(`with ${max + 1} entries (maxProperties ${max})`, { ...out, [keyOf(max)]: this.smallest(entry, field, entryHint, max) });
      return out;
    }
    if (types.has('array')) {
      const max = this.compact ? 1 : (s.maxItems ?? Math.max(s.minItems ?? 1, 1));
      const itemHint = Array.isArray(hint) ? hint[0] : undefined;
      const items: Json[] = [];
      for (let i = 0; i < max - 1; i++) items.push(this.smallest(s.items, field, Array.isArray(hint) ? hint[i % hint.length] : undefined, i));
      items.push(this.largest(s.items, [...path, max - 1], field, Array.isArray(hint) ? hint[(max - 1) % hint.length] : itemHint, max - 1, cases, outer));
      this.rules.array?.(field, items);
      if (s.maxItems !== undefined && !this.compact) past(`with ${max + 1} items (maxItems ${max})`, [...items, this.smallest(s.items, field, itemHint, max)]);
      if (s.minItems) past(`with ${s.minItems - 1} items (minItems ${s.minItems})`, items.slice(0, s.minItems - 1));
      return items;
    }
    if (types.has('integer') || types.has('number')) {
      const integer = !types.has('number');
      const step = (x: number) => (integer ? 1 : Math.max(Math.abs(x) * 1e-9, 1e-9));
      if (s.maximum !== undefined) past(`= ${s.maximum} + ${step(s.maximum)} (maximum ${s.maximum})`, s.maximum + step(s.maximum));
      if (s.minimum !== undefined) past(`= ${s.minimum} - ${step(s.minimum)} (minimum ${s.minimum})`, s.minimum - step(s.minimum));
      if (s.exclusiveMinimum !== undefined) past(`= ${s.exclusiveMinimum} (exclusiveMinimum)`, s.exclusiveMinimum);
      // Without a maximum, the largest integer JSON readers keep exactly.
      return s.maximum ?? (integer ? Number.MAX_SAFE_INTEGER : typeof hint === 'number' ? hint : 1e6);
    }
    if (types.has('boolean')) return typeof s.default === 'boolean' ? s.default : true;
    if (types.has('string')) return this.largestString(s, field, hint, index, past);
    return null;
  }

  private largestString(s: JsonSchema, field: string, hint: Json | undefined, index: number, past: (label: string, value: Json) => void): string {
    if (s.format === 'uuid') return uuidOf(index);
    if (s.format === 'date-time') return new Date().toISOString();
    const atoms = s.pattern ? patternAtoms(s.pattern) : null;
    if (atoms && atoms.every((a) => a.max !== UNBOUNDED)) {
      const longest = fromAtoms(atoms, (a) => a.max, this.tag());
      const last = atoms[atoms.length - 1];
      past(`of ${longest.length + 1} characters (pattern ${s.pattern})`, longest + last.chars[0]);
      const least = atoms.reduce((n, a) => n + a.min, 0);
      if (least > 0) past(`of ${least - 1} characters (pattern ${s.pattern})`, fromAtoms(atoms, (a) => a.min, '').slice(0, least - 1));
      return longest;
    }
    const base = typeof hint === 'string' ? hint : typeof s.example === 'string' ? s.example : atoms ? fromAtoms(atoms, (a) => Math.max(a.min, 1), '') : `${field || 'v'}-`;
    if (s.minLength) past(`of ${s.minLength - 1} characters (minLength ${s.minLength})`, base.slice(0, s.minLength - 1).padEnd(s.minLength - 1, 'x'));
    if (s.maxLength === undefined) return base;
    // At maxLength: the example (or the field's name) padded, its tail unique.
    const tag = this.tag();
    const longest = (base.slice(0, Math.max(0, s.maxLength - tag.length)) + 'x'.repeat(s.maxLength)).slice(0, s.maxLength - tag.length) + tag.slice(-Math.min(tag.length, s.maxLength));
    past(`of ${s.maxLength + 1} characters (maxLength ${s.maxLength})`, `${longest}x`);
    return longest;
  }
}

const pick = (hint: Json | undefined, key: string): Json | undefined => (hint && typeof hint === 'object' && !Array.isArray(hint) ? hint[key] : undefined);

/** A record's key: "K000001". */
export const keyOf = (i: number) => `K${String(i).padStart(6, '0')}`;

/** A UUID (v4 shape) made from a number. */
export const uuidOf = (i: number) => `5a5e0000-0000-4000-8000-${String(i).padStart(12, '0')}`;

/** "body.tasks[9999].env.K000999". */
export function pathLabel(path: Path): string {
  return `body${path.map((p) => (typeof p === 'number' ? `[${p}]` : /^[A-Za-z_][A-Za-z0-9_]*$/.test(p) ? `.${p}` : `[${JSON.stringify(p)}]`)).join('')}`;
}

/** The value with the edits applied (a copy; the value is not changed). */
export function applyEdits(value: Json, edits: Edit[]): Json {
  let out = value;
  for (const e of edits) out = setAt(out, e.path, e.value);
  return out;
}

/** A copy of `v` with the place at `path` set (or removed); only the objects on the way are copied. */
function setAt(v: Json, path: Path, value: Json | undefined): Json {
  if (path.length === 0) return value === undefined ? null : value;
  const [head, ...rest] = path;
  if (Array.isArray(v)) {
    const copy = v.slice();
    const i = Number(head);
    if (rest.length === 0 && value === undefined) copy.splice(i, 1);
    else copy[i] = setAt(copy[i] ?? null, rest, value);
    return copy;
  }
  const obj = v && typeof v === 'object' ? { ...v } : {};
  if (rest.length === 0 && value === undefined) delete obj[head as string];
  else obj[head as string] = setAt(obj[head as string] ?? null, rest, value);
  return obj;
}

/** Every place of a value holding a string the schema gives no bound (no maxLength, pattern, enum or format): where a body is filled to its limit. */
export function unboundedStrings(book: SchemaBook, value: Json, schema: JsonSchema | undefined, path: Path = []): Path[] {
  const s = book.fitting(schema, value);
  if (typeof value === 'string') return s && s.maxLength === undefined && !s.pattern && !s.enum && !s.format ? [path] : [];
  if (Array.isArray(value)) return value.length ? unboundedStrings(book, value[value.length - 1], book.child(s, value.length - 1, value), [...path, value.length - 1]) : [];
  if (value && typeof value === 'object') {
    const entries = Object.entries(value);
    // A record: its last entry (the largest) only.
    const chosen = s?.properties ? entries : entries.slice(-1);
    return chosen.flatMap(([k, v]) => unboundedStrings(book, v, book.child(s, k, value), [...path, k]));
  }
  return [];
}
