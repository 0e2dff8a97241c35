// What test/hostile-input.e2e.test.ts sends: valid bodies built from the operation's JSON schema
// in /openapi.json, the places in them (leaves, objects, record maps such as labels, arrays), and
// the hostile values, keys and sub-trees put in one of those places at a time. A mutation is
// applied to the body's JSON text, so that a value JavaScript cannot hold (1e400, a 30-digit
// integer, "__proto__" as a key, a 10,000-deep array) is sent as such.
import fc from 'fast-check';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type Path = Array<string | number>;

export interface JsonSchema {
  $ref?: string;
  type?: string | string[];
  format?: string;
  enum?: Json[];
  example?: Json;
  default?: Json;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minItems?: number;
  maxItems?: number;
  maxProperties?: number;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
}

/** One value that may hurt: its JSON text as sent, and a short label for failure messages. */
export interface Hostile {
  label: string;
  json: string;
  /** The string sent, when it is one. */
  text?: string;
}

/** A place of a valid body, walked with its schema. */
export interface Slot {
  path: Path;
  /** leaf: a scalar; object: fixed fields; map: a record (additionalProperties); array. */
  kind: 'leaf' | 'object' | 'map' | 'array';
  schema: JsonSchema | undefined;
  value: Json;
}

export type Mutation =
  | { kind: 'replace'; path: Path; value: Hostile }
  | { kind: 'add-key'; path: Path; key: Hostile; value: Hostile }
  | { kind: 'remove'; path: Path };

const HUGE = 100_000;

const shorten = (s: string, n = 60) => (s.length > n ? `${s.slice(0, n)}…(${s.length} chars)` : s);

/** A hostile value from a JavaScript value (JSON.stringify escapes NUL and lone surrogates). */
export const hv = (v: Json, label?: string): Hostile => ({ label: label ?? shorten(JSON.stringify(v)), json: JSON.stringify(v), text: typeof v === 'string' ? v : undefined });
/** A hostile value given as raw JSON text (numbers JavaScript cannot hold, deep nesting). */
export const raw = (json: string, label?: string): Hostile => ({ label: label ?? shorten(json), json });

const hugeString = (fill = 'x') => `hostile-${fill.repeat(HUGE)}`;
const deepArray = (depth: number) => raw('['.repeat(depth) + ']'.repeat(depth), `array nested ${depth} deep`);
const deepObject = (depth: number) => raw('{"a":'.repeat(depth) + '1' + '}'.repeat(depth), `object nested ${depth} deep`);

/**
 * Values in two tiers. The first ("reaching") may pass validation and reach the database, so
 * they are tried in every place; the second (type confusions and values any validator refuses)
 * in the first place of each kind only (the same field name and schema: labels in a task, in a
 * batch's task, in a workflow's task…), and at random afterwards.
 */
export const HOSTILE_STRINGS: Hostile[] = [hv('a\u0000b'), hv('\ud800'), hv('a\udfff'), hv('3000Ti'), hv('1e400'), hv('')];
/** Strings that are deep or odd in the little languages string fields hold: CEL, templates, cron, zones, quantities, URLs. */
const SYNTAX: Hostile[] = [
  hv(`${'('.repeat(3_000)}1${')'.repeat(3_000)}`, 'parentheses nested 3,000 deep'),
  hv('{{ '.repeat(1_000), '"{{ " 1,000 times'),
  hv('{{ tasks.load.outputs.rows }}'),
  hv('*/0 * * * *'),
  hv('0 0 31 2 *'),
  hv('Etc/GMT+99'),
  hv('-1Mi'),
  hv('1e400Mi'),
  hv(`${'9'.repeat(400)}Mi`),
  hv('NaN'),
  hv('Infinity'),
  hv('0.000001m'),
  hv('http://[::1'),
  hv('file:///etc/passwd'),
  hv('*'),
];
const STRING_CONFUSIONS: Hostile[] = [...SYNTAX, hv('\u0000'), hv('-1'), hv('__proto__'), hv(1e308), hv(-1), raw('9007199254740993'), hv(hugeString(), `string of ${HUGE + 8} chars`)];

/** Numbers for every numeric field: extremes, int4/int8/double edges, what JSON.parse makes Infinity or 0. */
export const HOSTILE_NUMBERS: Hostile[] = [hv(1e308), hv(-1e308), hv(2 ** 31), raw('9007199254740993'), raw('123456789012345678901234567890'), hv(-1), hv(0), hv(1e-300), raw('1e400')];
const NUMBER_CONFUSIONS: Hostile[] = [hv(-(2 ** 31) - 1), raw('5e-324'), raw('-1e400'), hv(1.5), hv('3000Ti'), hv('1e400'), hv('1'), hv('a\u0000b')];
const BOOLEAN_CONFUSIONS: Hostile[] = [hv(0), hv(1), hv(2), hv('true'), hv('yes'), hv('a\u0000b'), hv(1e308)];

/** Values of the wrong type, and the empty shapes. */
const CONFUSIONS: Hostile[] = [hv(null), hv(true), hv(false), hv([]), hv({})];

export const HOSTILE_DATES: Hostile[] = [
  hv('9999-12-31T23:59:59-23:59'),
  hv('0000-01-01T00:00:00Z'),
  hv('0001-01-01T00:00:00+23:59'),
  hv('+275760-09-13T00:00:00.001Z'),
  hv('2024-02-30T00:00:00Z'),
  hv('2024-01-01T24:00:00Z'),
  hv('2024-01-01T00:00:00.0000000001Z'),
  hv('2024-01-01'),
  hv(1e10),
  hv(253402300800),
  hv(-62135596801),
  hv(1e308),
];

export const hostileUuids = (seed: string): Hostile[] => [
  hv('00000000-0000-0000-0000-000000000000'),
  hv('ffffffff-ffff-ffff-ffff-ffffffffffff'),
  hv(seed.toUpperCase()),
  hv(seed.replace(/-/g, '')),
  hv(`{${seed}}`),
  hv(`urn:uuid:${seed}`),
  hv(`${seed}\u0000`),
];

/** Keys for maps and objects: NUL, lone surrogates, prototype names, empty, huge. */
export const HOSTILE_KEYS: Hostile[] = [
  hv('a\u0000b'),
  hv('\u0000'),
  hv('\ud800'),
  hv('a\udfff'),
  hv('__proto__'),
  hv('constructor'),
  hv('prototype'),
  hv(''),
  hv('k'.repeat(HUGE), `key of ${HUGE} chars`),
  hv('a:b'),
  hv('😀 ünï'),
];

const manyKeys = (n: number, value: Json) => hv(Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, value])), `object of ${n.toLocaleString('en')} keys`);
/** Sub-trees put in place of an object, a map or an array (the huge ones in the random phase only). */
const DEEP: Hostile[] = [deepArray(10_000), deepObject(5_000)];
const HUGE_TREES: Hostile[] = [raw(`[${Array(50_000).fill('0').join(',')}]`, 'array of 50,000 zeros'), manyKeys(10_000, 1)];

/** Components of /openapi.json: $ref resolution, example values, and the places of a value. */
export class SchemaBook {
  constructor(private readonly components: Record<string, JsonSchema>) {}

  resolve(s: JsonSchema | undefined): JsonSchema | undefined {
    for (let i = 0; s?.$ref && i < 20; i++) s = this.components[s.$ref.split('/').pop()!];
    return s;
  }

  /** The branches of a schema (anyOf/oneOf), resolved; the schema itself when it has none. */
  branches(s: JsonSchema | undefined): JsonSchema[] {
    const r = this.resolve(s);
    if (!r) return [];
    const alts = r.anyOf ?? r.oneOf;
    return alts ? alts.flatMap((a) => this.branches(a)) : [r];
  }

  /** The JSON types a schema admits ("integer" apart from "number"). */
  types(s: JsonSchema | undefined): Set<string> {
    const out = new Set<string>();
    for (const b of this.branches(s)) {
      const ts = b.type === undefined ? (b.properties || b.additionalProperties ? ['object'] : b.items ? ['array'] : b.enum ? [typeof b.enum[0]] : []) : [b.type].flat();
      for (const t of ts) out.add(t);
    }
    return out;
  }

  /**
   * A valid value of a schema: its example, default or first enum value, else one built from
   * the type (a string names its field: "fuzz-hostname", so that an echo of it can be told).
   */
  example(s: JsonSchema | undefined, depth = 0, name = 'value'): Json {
    const r = this.resolve(s);
    if (!r || depth > 12) return null;
    if (r.example !== undefined && (r.example === null || typeof r.example !== 'object' || Array.isArray(r.example) === (this.types(r).has('array')))) return r.example;
    if (r.default !== undefined && r.default !== null) return r.default;
    if (r.enum?.length) return r.enum[0];
    const alts = r.anyOf ?? r.oneOf;
    if (alts) return this.example(alts.find((a) => !this.types(a).has('null') || this.types(a).size > 1) ?? alts[0], depth + 1, name);
    const types = [...this.types(r)].filter((t) => t !== 'null');
    switch (types[0]) {
      case 'object': {
        const out: Record<string, Json> = {};
        for (const [k, v] of Object.entries(r.properties ?? {})) out[k] = this.example(v, depth + 1, k);
        if (typeof r.additionalProperties === 'object') out.fuzz = this.example(r.additionalProperties, depth + 1, name);
        return out;
      }
      case 'array':
        return Array.from({ length: Math.max(1, r.minItems ?? 1) }, () => this.example(r.items, depth + 1, name));
      case 'integer':
      case 'number':
        return r.minimum ?? (r.exclusiveMinimum !== undefined ? r.exclusiveMinimum + 1 : 1);
      case 'boolean':
        return false;
      case 'string':
        return exampleString(r, name);
      default:
        return null;
    }
  }

  /** The schema of a value's child, choosing the branch of an anyOf that fits the value. */
  child(s: JsonSchema | undefined, key: string | number, parent: Json): JsonSchema | undefined {
    const b = this.fitting(s, parent);
    if (!b) return undefined;
    if (typeof key === 'number') return b.items;
    if (b.properties?.[key]) return b.properties[key];
    return typeof b.additionalProperties === 'object' ? b.additionalProperties : undefined;
  }

  /** The branch of a schema the value is an instance of. */
  fitting(s: JsonSchema | undefined, value: Json): JsonSchema | undefined {
    const t = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value === 'object' ? 'object' : typeof value === 'number' ? 'number' : typeof value;
    const all = this.branches(s);
    return all.find((b) => this.types(b).has(t) || (t === 'number' && this.types(b).has('integer'))) ?? all[0];
  }

  /** Every place of a value: the root, each object, map and array, and each leaf. */
  slots(value: Json, schema: JsonSchema | undefined, path: Path = []): Slot[] {
    const s = this.fitting(schema, value);
    if (Array.isArray(value)) return [{ path, kind: 'array', schema: s, value }, ...value.flatMap((v, i) => this.slots(v, this.child(s, i, value), [...path, i]))];
    if (value && typeof value === 'object') {
      const kind = s?.properties ? 'object' : 'map';
      return [{ path, kind, schema: s, value }, ...Object.entries(value).flatMap(([k, v]) => this.slots(v, this.child(s, k, value), [...path, k]))];
    }
    return [{ path, kind: 'leaf', schema: s, value }];
  }

  /**
   * The hostile values tried in a place, chosen by what its schema admits: the reaching tier
   * always, the rest when `first` (the first place of its kind).
   */
  valuesFor(slot: Slot, first: boolean): Hostile[] {
    const schema = slot.schema;
    const types = this.types(schema);
    const all = this.branches(schema);
    const out: Hostile[] = first ? [...CONFUSIONS] : [];
    const v = slot.value;
    if (slot.kind === 'leaf') {
      if (types.has('string') || typeof v === 'string') {
        out.push(...HOSTILE_STRINGS);
        if (typeof v === 'string') out.push(hv(`${v}😀`));
        if (first) out.push(...STRING_CONFUSIONS);
        if (first && typeof v === 'string') out.push(hv(`${v}\u0000`), hv(`${v}\n`));
        // At the schema's bounds: the longest string it takes, in ASCII and in characters
        // outside the BMP (two UTF-16 units each, one code point for Python).
        for (const b of all) if (b.maxLength !== undefined && b.maxLength <= 100_000) out.push(hv('x'.repeat(b.maxLength), `${b.maxLength} × "x"`), hv('😀'.repeat(b.maxLength), `${b.maxLength} × "😀"`));
        if (all.some((b) => b.format === 'date-time')) out.push(...HOSTILE_DATES);
        if (all.some((b) => b.format === 'uuid') && typeof v === 'string') out.push(...hostileUuids(v));
        if (first && all.some((b) => b.enum) && typeof v === 'string') out.push(hv(v.toUpperCase()), hv(` ${v}`));
      }
      if (types.has('number') || types.has('integer') || typeof v === 'number') {
        out.push(...HOSTILE_NUMBERS, ...(first ? NUMBER_CONFUSIONS : []));
        // At the schema's bounds and just past them.
        for (const b of all) {
          if (b.maximum !== undefined) out.push(hv(b.maximum), hv(b.maximum + 1));
          if (b.minimum !== undefined) out.push(hv(b.minimum), hv(b.minimum - 1));
          if (b.exclusiveMinimum !== undefined) out.push(hv(b.exclusiveMinimum), raw(`${b.exclusiveMinimum}.0000000000000000000001`));
        }
      }
      if (first && (types.has('boolean') || typeof v === 'boolean')) out.push(...BOOLEAN_CONFUSIONS);
      return dedupe(out);
    }
    if (first) {
      out.push(...DEEP, hv('a\u0000b'), hv(1e308));
      // An array where an object is expected and the other way round.
      out.push(Array.isArray(v) ? hv(Object.fromEntries(v.map((x, i) => [String(i), x])), 'the array as an object') : hv([v], 'the object inside an array'));
      if (slot.kind === 'object') out.push(manyKeys(1_000, 'v'));
    }
    if (first && slot.kind === 'map' && v && typeof v === 'object' && !Array.isArray(v)) {
      const entry = Object.values(v)[0] ?? this.example(typeof schema?.additionalProperties === 'object' ? schema.additionalProperties : undefined);
      out.push(hv(Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`k${i}`, entry])), 'map of 10,000 valid entries'));
    }
    if (Array.isArray(v) && v.length) out.push(hv(Array(2_000).fill(v[0]), 'array of 2,000 copies of its first item'));
    return dedupe(out);
  }
}

/** What makes two places "of a kind": the field's name and its schema. */
const kindOf = (slot: Slot) => `${slot.kind}|${slot.path.length ? (typeof slot.path[slot.path.length - 1] === 'number' ? '[]' : slot.path[slot.path.length - 1]) : '(root)'}|${JSON.stringify(slot.schema ?? null)}`;

const dedupe = (xs: Hostile[]) => [...new Map(xs.map((x) => [x.json, x])).values()];

function exampleString(s: JsonSchema, name: string): string {
  if (s.format === 'date-time') return new Date().toISOString();
  if (s.format === 'uuid') return '4b3c2a10-0000-4000-8000-000000000001';
  const named = `fuzz-${name}`.slice(0, s.maxLength ?? 64).padEnd(s.minLength ?? 0, 'z');
  if (s.pattern) {
    const re = new RegExp(s.pattern);
    return [named, 'fuzz', 'FUZZ', 'a', 'a:b', 'fuzz_1'].find((c) => re.test(c)) ?? named;
  }
  return named;
}

/**
 * Every mutation of the sweep: each place with each of its hostile values, hostile keys added to
 * maps, fields removed. `seen`: the kinds of place swept before (shared across bodies, so that a
 * task's fields nested in a batch, a workflow or a schedule get the reaching tier only).
 */
export function sweep(book: SchemaBook, body: Json, schema: JsonSchema | undefined, seen: Set<string>): Mutation[] {
  const out: Mutation[] = [];
  for (const slot of book.slots(body, schema)) {
    const kind = kindOf(slot);
    const first = !seen.has(kind);
    seen.add(kind);
    for (const value of book.valuesFor(slot, first)) out.push({ kind: 'replace', path: slot.path, value });
    if (slot.kind === 'map' || (slot.kind === 'object' && first)) {
      const entry = entryValue(book, slot);
      for (const key of HOSTILE_KEYS) out.push({ kind: 'add-key', path: slot.path, key, value: entry });
    }
    if (first && slot.path.length && typeof slot.path[slot.path.length - 1] === 'string') out.push({ kind: 'remove', path: slot.path });
  }
  return out;
}

/** A valid value for a new entry of a map: a copy of one it has; "v" for a fixed object. */
function entryValue(book: SchemaBook, slot: Slot): Hostile {
  const v = slot.value as Record<string, Json>;
  const first = Object.values(v)[0];
  if (slot.kind === 'map') return hv(first ?? book.example(typeof slot.schema?.additionalProperties === 'object' ? slot.schema.additionalProperties : undefined));
  return hv('v');
}

/** Strings with a NUL or a lone surrogate somewhere, random Unicode, random numbers and JSON. */
const randomHostile: fc.Arbitrary<Hostile> = fc.oneof(
  fc
    .tuple(fc.string({ maxLength: 20, unit: 'grapheme' }), fc.constantFrom('\u0000', '\ud800', '\udbff', '\udc00', '\udfff', '\uffff', '\ufeff'), fc.string({ maxLength: 20 }))
    .map(([a, bad, b]) => hv(a + bad + b)),
  fc.string({ maxLength: 40, unit: 'binary' }).map((s) => hv(s)),
  fc.double().map((d) => (Number.isFinite(d) ? hv(d) : raw(d > 0 ? '1e999' : d < 0 ? '-1e999' : '0'))),
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map((b) => raw(b.toString())),
  fc.integer({ min: 1, max: 20 }).map((e) => raw(`1e${e * 20}`)),
  fc.jsonValue({ maxDepth: 3 }).map((j) => hv(j as Json)),
  fc.constantFrom(...HOSTILE_STRINGS, ...STRING_CONFUSIONS, ...HOSTILE_NUMBERS, ...NUMBER_CONFUSIONS, ...HOSTILE_DATES, ...CONFUSIONS, ...DEEP, ...HUGE_TREES),
);

/** A random mutation of one of the places: a random hostile value, a random hostile key, or a removal. */
export function mutationArbitrary(book: SchemaBook, body: Json, schema: JsonSchema | undefined): fc.Arbitrary<Mutation> {
  const slots = book.slots(body, schema);
  const maps = slots.filter((s) => s.kind === 'object' || s.kind === 'map');
  const key = fc.oneof(fc.constantFrom(...HOSTILE_KEYS), randomHostile.filter((h) => h.text !== undefined));
  // A value of another place of the same body (a task's own key in its depends_on, a name in a URL…).
  const leaves = slots.filter((s) => s.kind === 'leaf').map((s) => hv(s.value));
  const value = leaves.length ? fc.oneof({ weight: 4, arbitrary: randomHostile }, { weight: 1, arbitrary: fc.constantFrom(...leaves) }) : randomHostile;
  return fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('replace' as const), path: fc.constantFrom(...slots.map((s) => s.path)), value }) },
    { weight: 3, arbitrary: fc.tuple(fc.constantFrom(...maps), key).map(([slot, k]): Mutation => ({ kind: 'add-key', path: slot.path, key: k, value: entryValue(book, slot) })) },
    { weight: 1, arbitrary: fc.constantFrom(...slots.filter((s) => s.path.length > 0)).map((s): Mutation => ({ kind: 'remove', path: s.path })) },
  );
}

const MARK = '\u0001hostile\u0001';
const MARK_JSON = JSON.stringify(MARK);
const KEY_MARK = '\u0001hostile-key\u0001';

/** The JSON text of the body with the mutation applied (on the text, so any raw JSON goes in). */
export function applyMutation(body: Json, m: Mutation): string {
  if (m.path.length === 0 && m.kind === 'replace') return m.value.json;
  const copy = JSON.parse(JSON.stringify(body)) as Json;
  const parent = m.kind === 'add-key' ? at(copy, m.path) : at(copy, m.path.slice(0, -1));
  const last = m.path[m.path.length - 1];
  if (m.kind === 'remove') {
    if (Array.isArray(parent)) parent.splice(Number(last), 1);
    else delete (parent as Record<string, Json>)[last as string];
    return JSON.stringify(copy);
  }
  if (m.kind === 'add-key') {
    (parent as Record<string, Json>)[KEY_MARK] = MARK;
    return JSON.stringify(copy).replace(`${JSON.stringify(KEY_MARK)}:${MARK_JSON}`, () => `${m.key.json}:${m.value.json}`);
  }
  (parent as Record<string | number, Json>)[last] = MARK;
  return JSON.stringify(copy).replace(MARK_JSON, () => m.value.json);
}

function at(v: Json, path: Path): Json {
  let cur: Json = v;
  for (const p of path) cur = (cur as Record<string | number, Json>)[p];
  return cur;
}

/** "body.resources.memory", "body.tasks[0].labels". */
export function pathText(path: Path, root = 'body'): string {
  return root + path.map((p) => (typeof p === 'number' ? `[${p}]` : /^[A-Za-z_][A-Za-z0-9_]*$/.test(p) ? `.${p}` : `[${JSON.stringify(p)}]`)).join('');
}

/** A mutation as a failure message names it. */
export function describeMutation(m: Mutation): string {
  if (m.kind === 'remove') return `${pathText(m.path)} removed`;
  if (m.kind === 'add-key') return `${pathText(m.path)} + key ${m.key.label} = ${m.value.label}`;
  return `${pathText(m.path)} = ${m.value.label}`;
}

/** A hostile value for a query or path parameter, already percent-encoded as sent. */
export interface HostileParam {
  label: string;
  /** Percent-encoded, ready for a URL. */
  encoded: string;
}

/** Percent-encodes a string; a lone surrogate goes as its WTF-8 bytes (%ED%A0%80), invalid UTF-8. */
export function encodeParam(s: string): string {
  let out = '';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (c >= 0xd800 && c <= 0xdfff) out += `%${(0xe0 | (c >> 12)).toString(16).toUpperCase()}%${(0x80 | ((c >> 6) & 0x3f)).toString(16).toUpperCase()}%${(0x80 | (c & 0x3f)).toString(16).toUpperCase()}`;
    else out += encodeURIComponent(ch);
  }
  return out;
}

const param = (s: string, label?: string): HostileParam => ({ label: label ?? shorten(JSON.stringify(s)), encoded: encodeParam(s) });
const rawParam = (encoded: string, label?: string): HostileParam => ({ label: label ?? `raw ${shorten(encoded)}`, encoded });

/**
 * Values for one query or path parameter, chosen by its schema, around the valid value it would
 * have. As for bodies, in two tiers: `first` (the first parameter of its kind: name, place and
 * schema) adds the values any validator refuses to those that may reach the database.
 */
export function hostileParams(schema: JsonSchema | undefined, valid: string | undefined, first: boolean): HostileParam[] {
  const type = [schema?.type].flat()[0];
  const out: HostileParam[] = [
    param('a\u0000b'),
    rawParam('%00'),
    rawParam('a%00b%3Ac'),
    param('\ud800'),
    rawParam('%FF%FE', 'raw %FF%FE (invalid UTF-8)'),
    param('x'.repeat(8_000), '8,000 chars'),
    param('x'.repeat(HUGE), `${HUGE} chars`),
    param(''),
  ];
  if (type === 'integer' || type === 'number') out.push(...['1e308', '-1e308', String(2 ** 31), '9007199254740993', '123456789012345678901234567890', '-1', '0', '1e-300', '1e400', '1.5', '٣'].map((x) => param(x)));
  if (schema?.format === 'date-time') out.push(...['9999-12-31T23:59:59-23:59', '0000-01-01T00:00:00Z', '0001-01-01T00:00:00+23:59', '+275760-09-13T00:00:00.001Z', '2024-02-30T00:00:00Z', '1e10', '-62135596801', '1e308'].map((x) => param(x)));
  if (schema?.format === 'uuid') out.push(...hostileUuids(valid ?? '4b3c2a10-0000-4000-8000-000000000001').map((h) => param(h.text!)));
  // A filter's own syntax (label "key:value"), and what SQL's LIKE and JSON give meaning to.
  if (type === 'string' && !schema?.format) out.push(...[':', 'a:b\u0000', '\u0000:b', '😀:ünï', 'a'.repeat(63), '3000Ti', 'a\\', '%_\\', 'a"b\\c:d%_\''].map((x) => param(x)));
  if (type === 'boolean') out.push(param('yes'), param('2'));
  if (valid !== undefined) out.push(param(`${valid}\u0000`), param(`${valid}😀`));
  if (first) {
    out.push(
      param('\u0000'),
      param('a\udfff'),
      rawParam('%ED%A0%80', 'raw %ED%A0%80 (a lone surrogate in WTF-8)'),
      rawParam('%C0%80', 'raw %C0%80 (overlong NUL)'),
      rawParam('%', 'raw % alone'),
      rawParam('%zz'),
      param('1e308'),
      param('-1'),
      param('3000Ti'),
      param(' '),
      param('null'),
      param('true'),
      param('[]'),
      param('{}'),
      param('__proto__'),
      param('constructor'),
      param('9999-12-31T23:59:59-23:59'),
      param('0000-01-01T00:00:00Z'),
      param('..'),
      param('a/b'),
    );
    if (valid !== undefined) out.push(param(`${valid}\n`), param(valid.toUpperCase()), param(valid.repeat(64)));
  }
  return [...new Map(out.map((p) => [p.encoded, p])).values()];
}

/** Random parameter values: strings with NUL or a lone surrogate somewhere, numbers, Unicode. */
export const randomParam: fc.Arbitrary<HostileParam> = fc.oneof(
  fc.tuple(fc.string({ maxLength: 20 }), fc.constantFrom('\u0000', '\ud800', '\udfff', '\uffff', ':'), fc.string({ maxLength: 20 })).map(([a, b, c]) => param(a + b + c)),
  fc.string({ maxLength: 30, unit: 'binary' }).map((s) => param(s)),
  fc.double().map((d) => param(String(d))),
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map((b) => param(b.toString())),
  fc.date({ min: new Date(-8.64e15), max: new Date(8.64e15), noInvalidDate: true }).map((d) => param(d.toISOString())),
);
