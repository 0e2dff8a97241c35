// The most entries a record field of a request body may have (env, labels, node_selector,
// outputs), checked before zod sees the body. Zod walks a record whole, every key and value,
// before any check of its size could run, and a 10 MB body with 150,000 bad env values cost the
// event loop seconds per request just to be refused. A record schema is given its bound with
// maxEntries(schema, max) (which also says `maxProperties` in /openapi.json); the request
// middleware then follows the route's body schema through the parsed body — only objects, lists
// and unions of the schema, never a record's values — counts the keys of each bounded record
// and answers pydantic's dict `too_long` for those over, without zod.
import type { LocItem, PydanticErrorItem } from './errors.ts';
import { def, isPlainObject, unwrap, type ZodSchema } from './zod-schema.ts';

const BOUNDS = new WeakMap<ZodSchema, number>();

/** Marks a record schema as taking at most `max` entries; returns it. */
export function maxEntries<T extends ZodSchema>(schema: T, max: number): T {
  BOUNDS.set(schema, max);
  return schema;
}

/** The bound registered on the schema or one of its optional/nullable/default wrappers. */
function boundOf(schema: ZodSchema): number | undefined {
  let s: ZodSchema | undefined = schema;
  while (s) {
    const max = BOUNDS.get(s);
    if (max !== undefined) return max;
    const d = def(s);
    s = (d.type === 'optional' || d.type === 'nullable' || d.type === 'default') && d.innerType ? d.innerType : undefined;
  }
  return undefined;
}

/** Pydantic v2's `too_long` for a dict over its max_length. */
export function dictTooLong(loc: LocItem[], max: number, actual: number, input: unknown): PydanticErrorItem {
  return {
    type: 'too_long',
    loc,
    msg: `Dictionary should have at most ${max} item${max === 1 ? '' : 's'} after validation, not ${actual}`,
    input,
    ctx: { field_type: 'Dictionary', max_length: max, actual_length: actual },
  };
}

/**
 * An item for every bounded record of `data` over its bound (at most `cap` of them), following
 * `schema`; empty when none is. Cheap: it visits only the parts of the body where the schema has
 * a bounded record (for a workflow: each task's env, labels, node_selector, outputs), and counts
 * a record's keys without looking at its values. Recursive along the schema, which nests a few
 * levels whatever the body does.
 */
export function oversizedRecords(schema: ZodSchema, data: unknown, loc: LocItem[], cap: number): PydanticErrorItem[] {
  const items: PydanticErrorItem[] = [];
  const path = [...loc];
  const visit = (s: ZodSchema, value: unknown): void => {
    if (items.length >= cap) return;
    const max = boundOf(s);
    if (max !== undefined) {
      if (isPlainObject(value)) {
        const n = Object.keys(value).length;
        if (n > max) items.push(dictTooLong([...path], max, n, value));
      }
      return;
    }
    const d = def(unwrap(s));
    if (d.type === 'object') {
      if (!isPlainObject(value)) return;
      for (const [key, child] of fieldsHoldingBounded(s)) {
        if (!Object.hasOwn(value, key)) continue;
        path.push(key);
        visit(child, value[key]);
        path.pop();
      }
    } else if (d.type === 'array') {
      if (!Array.isArray(value) || !d.element || !mayHoldBounded(d.element)) return;
      for (let i = 0; i < value.length && items.length < cap; i++) {
        path.push(i);
        visit(d.element, value[i]);
        path.pop();
      }
    } else if (d.type === 'union') {
      // The API's unions hold no bounded record (command is a list or a string): follow those that may.
      for (const option of d.options ?? []) if (mayHoldBounded(option)) visit(option, value);
    }
  };
  if (mayHoldBounded(schema)) visit(schema, data);
  return items;
}

const FIELDS = new WeakMap<ZodSchema, Array<[string, ZodSchema]>>();

/** The fields of an object schema under which a bounded record may be. */
function fieldsHoldingBounded(schema: ZodSchema): Array<[string, ZodSchema]> {
  let fields = FIELDS.get(schema);
  if (!fields) {
    fields = Object.entries(def(unwrap(schema)).shape ?? {}).filter(([, child]) => mayHoldBounded(child));
    FIELDS.set(schema, fields);
  }
  return fields;
}

const HOLDS = new WeakMap<ZodSchema, boolean>();

/** Whether a bounded record can be found under `schema` (lists of strings are not walked). */
function mayHoldBounded(schema: ZodSchema, seen = new Set<ZodSchema>()): boolean {
  const known = HOLDS.get(schema);
  if (known !== undefined) return known;
  if (seen.has(schema)) return false;
  seen.add(schema);
  let holds = boundOf(schema) !== undefined;
  if (!holds) {
    const d = def(unwrap(schema));
    const children = d.type === 'object' ? Object.values(d.shape ?? {}) : d.type === 'array' && d.element ? [d.element] : d.type === 'union' ? (d.options ?? []) : [];
    holds = children.some((c) => mayHoldBounded(c, seen));
  }
  HOLDS.set(schema, holds);
  return holds;
}
