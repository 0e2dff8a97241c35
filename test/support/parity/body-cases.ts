// Request bodies generated from the reference app's OpenAPI document (its Pydantic models): for
// every field of every request model, nested ones included, the value kinds that trip a
// validator — wrong type, missing, null, extra field, out of range, coercible strings, NUL,
// quantities — each on top of a valid body, plus seeded random JSON values (fast-check).
import fc from 'fast-check';
import { RAW, raw, type Case, type OpenApi, type Schema } from './types.ts';

const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000';
const HUGE = raw('1000000000000000000000000000000');

export interface BodyRoute {
  method: string;
  /** The path with its parameters filled in (ids that exist nowhere). */
  path: string;
  template: string;
  schema: Schema;
}

export class SchemaWalker {
  constructor(private readonly doc: OpenApi, private readonly image: string) {}

  resolve(s: Schema): Schema {
    let out = s;
    while (out && typeof out.$ref === 'string') out = this.doc.components.schemas[out.$ref.split('/').pop() as string];
    return out;
  }

  /** The schema without its `null` member; `nullable` says whether there was one. */
  unwrap(s: Schema): { schema: Schema; nullable: boolean; members: Schema[] } {
    const r = this.resolve(s);
    if (!Array.isArray(r.anyOf)) return { schema: r, nullable: false, members: [r] };
    const members = (r.anyOf as Schema[]).map((m) => this.resolve(m));
    const nonNull = members.filter((m) => m.type !== 'null');
    return { schema: nonNull.length === 1 ? nonNull[0] : { anyOf: nonNull }, nullable: nonNull.length < members.length, members: nonNull };
  }

  /** A valid value: required fields only, the smallest legal number, a string that matches. */
  sample(s: Schema, field = ''): unknown {
    const { schema } = this.unwrap(s);
    if (schema.anyOf) return this.sample(schema.anyOf[0], field);
    if (schema.enum) return schema.enum[0];
    switch (schema.type) {
      case 'object': {
        if (!schema.properties) return {};
        const out: Record<string, unknown> = {};
        for (const name of schema.required ?? []) out[name] = this.sample(schema.properties[name], name);
        // Tasks the generator creates for real stay queued: no node has this label.
        if (schema.properties.node_selector && schema.properties.image) out.node_selector = { 'jarvis-parity': 'no-such-node' };
        return out;
      }
      case 'array':
        return schema.minItems ? Array.from({ length: schema.minItems }, () => this.sample(schema.items)) : [];
      case 'integer':
      case 'number':
        return schema.minimum ?? (schema.exclusiveMinimum !== undefined ? schema.exclusiveMinimum + 1 : 1);
      case 'boolean':
        return true;
      case 'string':
        if (schema.format === 'uuid') return UNKNOWN_ID;
        if (field === 'image') return this.image;
        return field === 'key' ? 'k1' : 'x';
      default:
        return 'x';
    }
  }

  /** Values of the wrong kind, out of range, coercible, … for one field of this schema. */
  variants(s: Schema): Array<[kind: string, value: unknown]> {
    const { members } = this.unwrap(s);
    const out: Array<[string, unknown]> = [];
    const types = new Set(members.map((m) => (m.enum ? 'enum' : m.type)));
    if (!types.has('string') && !types.has('enum')) out.push(['wrong type', 'abc']);
    if (!types.has('number') && !types.has('integer')) out.push(['wrong type', 123]);
    if (!types.has('array')) out.push(['wrong type', []]);
    if (!types.has('object')) out.push(['wrong type', {}]);
    if (!types.has('boolean')) out.push(['wrong type', true]);
    for (const m of members) {
      if (m.enum) out.push(['enum', 'nope'], ['enum', String(m.enum[0]).toUpperCase()], ['enum', '']);
      else if (m.type === 'integer') {
        const ok = this.sample(m) as number;
        out.push(['coercible', String(ok)], ['coercible', `${ok}.0`], ['coercible', raw(`${ok}.0`)], ['coercible', ` ${ok} `]);
        out.push(['wrong type', 1.5], ['wrong type', '1.5'], ['wrong type', '1e3'], ['huge', HUGE], ['huge', raw('1e300')]);
        this.bounds(m, out);
      } else if (m.type === 'number') {
        out.push(['coercible', '1.5'], ['coercible', '2'], ['wrong type', 'inf'], ['wrong type', 'NaN'], ['huge', raw('1e400')]);
        this.bounds(m, out);
      } else if (m.type === 'string') {
        out.push(['string', ''], ['string', 'a\u0000b'], ['string', 'not a quantity!'], ['string', '  x  ']);
        if (m.maxLength !== undefined) out.push(['out of range', 'x'.repeat(m.maxLength + 1)], ['in range', 'x'.repeat(m.maxLength)]);
        if (m.format === 'uuid') out.push(['uuid', UNKNOWN_ID.toUpperCase()], ['uuid', UNKNOWN_ID.replaceAll('-', '')]);
      } else if (m.type === 'array') {
        out.push(['array item', [123]], ['array item', [null]], ['array item', ['x']]);
        if (m.maxItems !== undefined) out.push(['out of range', Array.from({ length: m.maxItems + 1 }, () => this.sample(m.items))]);
        if (m.minItems) out.push(['out of range', []]);
      } else if (m.type === 'object' && m.additionalProperties && typeof m.additionalProperties === 'object') {
        out.push(['map value', { K: 5 }], ['map value', { K: null }], ['map value', { K: 'a\u0000b' }], ['map value', { '': 'v' }]);
        out.push(['map value', { K: { secret: 'db' } }], ['map value', { K: { secret: 5 } }]);
      }
    }
    if (types.has('number') && types.has('string')) out.push(['quantity', '500m'], ['quantity', '0'], ['quantity', '-1']);
    return out;
  }

  private bounds(m: Schema, out: Array<[string, unknown]>): void {
    const step = m.type === 'integer' ? 1 : 0.5;
    if (m.minimum !== undefined) out.push(['out of range', m.minimum - step]);
    if (m.exclusiveMinimum !== undefined) out.push(['out of range', m.exclusiveMinimum]);
    if (m.maximum !== undefined) out.push(['out of range', m.maximum + step], ['in range', m.maximum]);
    if (m.minimum === undefined && m.exclusiveMinimum === undefined) out.push(['unstated bound', -1], ['unstated bound', 0]);
  }
}

/** Every case for one body route: each field × each variant, at every nesting level. */
export function bodyCases(w: SchemaWalker, route: BodyRoute, seed: number, unique: () => string): Case[] {
  const cases: Case[] = [];
  const root = w.resolve(route.schema);
  const base = () => fresh(w.sample(root), unique);
  const pushCase = (kind: string, field: string, body: unknown) =>
    cases.push({ kind, route: `${route.method} ${route.template}`, field, method: route.method, path: route.path, body: encode(body, unique) });

  pushCase('valid', '', base());
  // Walk the model: at each object, each property gets every variant on top of a valid body
  // (`make` gives that valid body with the objects on the way to `at` filled in).
  const random = mulberry32(seed);
  const walk = (schema: Schema, at: Array<string | number>, make: () => unknown, depth: number) => {
    const s = w.resolve(schema);
    const where = (field: string) => [...at, field].join('.');
    // Inside a list (tasks.0.… of a batch or workflow) the same model was walked at the top of
    // POST /tasks: a seeded third of its cases is enough to check the loc prefix and the nesting.
    const inList = at.some((p) => typeof p === 'number');
    const push = (kind: string, field: string, body: unknown) => (!inList || random() < 0.35) && pushCase(kind, field, body);
    const edit = (f: (o: Record<string, unknown>) => unknown) => setAt(make(), at, f);
    push('extra', where('unexpected'), edit((o) => ({ ...o, unexpected: 1 })));
    for (const [name, prop] of Object.entries<Schema>(s.properties ?? {})) {
      const required = (s.required ?? []).includes(name);
      if (required) push('missing', where(name), edit((o) => omit(o, name)));
      push('null', where(name), edit((o) => ({ ...o, [name]: null })));
      for (const [kind, value] of w.variants(prop)) push(kind, where(name), edit((o) => ({ ...o, [name]: value })));
      if (depth > 2) continue;
      const { schema: inner } = w.unwrap(prop);
      if (inner.type === 'object' && inner.properties) {
        const withInner = () => edit((o) => ({ ...o, [name]: o[name] ?? w.sample(inner) }));
        push('nested', where(name), withInner());
        walk(inner, [...at, name], withInner, depth + 1);
      } else if (inner.type === 'array' && w.resolve(inner.items).properties) {
        const withItem = () => edit((o) => ({ ...o, [name]: (o[name] as unknown[] | undefined)?.length ? o[name] : [w.sample(inner.items)] }));
        walk(inner.items, [...at, name, 0], withItem, depth + 1);
      }
    }
  };
  walk(root, [], base, 0);

  // Seeded random JSON values in random fields: what the table above did not think of.
  const fields = Object.keys(root.properties ?? {});
  const values = fc.sample(fc.tuple(fc.constantFrom(...fields), fc.jsonValue({ maxDepth: 2 })), { seed, numRuns: 12 });
  for (const [field, value] of values) pushCase('random', field, { ...(base() as object), [field]: value });
  return cases;
}

/** Names and idempotency keys that must not collide with another request's. */
function fresh(v: unknown, unique: () => string): unknown {
  const o = v as Record<string, unknown>;
  if (o && typeof o === 'object' && !Array.isArray(o) && 'value' in o && 'name' in o) return { ...o, name: `s_${unique()}` };
  return v;
}

function setAt(body: unknown, at: Array<string | number>, f: (o: Record<string, unknown>) => unknown): unknown {
  if (at.length === 0) return f(body as Record<string, unknown>);
  const [head, ...rest] = at;
  const copy = (Array.isArray(body) ? [...body] : { ...(body as object) }) as Record<string | number, unknown>;
  copy[head] = setAt(copy[head], rest, f);
  return copy;
}

function omit(o: Record<string, unknown>, name: string): Record<string, unknown> {
  const { [name]: _, ...rest } = o;
  return rest;
}

/** JSON text; `raw()` values are written as they are (1e400, 5.0: numbers JSON.stringify cannot keep). */
function encode(body: unknown, unique: () => string): string {
  const marks: string[] = [];
  const text = JSON.stringify(body, (key, v) => {
    // Idempotency keys are state: one key sent twice is a 200 (or a 409 in a batch), by design.
    if (key === 'idempotency_key' && typeof v === 'string' && v.length > 0 && !v.includes('\u0000')) return `${v}-${unique()}`;
    if (v && typeof v === 'object' && RAW in v) {
      marks.push((v as { [RAW]: string })[RAW]);
      return `\u0001${marks.length - 1}\u0001`;
    }
    return v;
  });
  return text.replace(/"\\u0001(\d+)\\u0001"/g, (_, i) => marks[Number(i)]);
}

/** A small seeded PRNG (mulberry32): the same cases on every run. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
