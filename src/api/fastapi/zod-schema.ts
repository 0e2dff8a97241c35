// Reading a zod schema as pydantic would see the model: which Python type a node is (int or float,
// model or dict), which child schema a key leads to, and the input at a path. Only the kinds the
// API's schemas use are known (strings, UUIDs, ISO datetimes as strings, numbers, booleans,
// objects, records, arrays, enums, unions, through optional/nullable/default and preprocess);
// anything else is 'unknown'.
import { z } from '@hono/zod-openapi';
import type { LocItem } from './errors.ts';

export type ZodSchema = z.core.$ZodType;

export type Kind = 'str' | 'uuid' | 'int' | 'float' | 'bool' | 'model' | 'dict' | 'list' | 'enum' | 'union' | 'unknown';

interface LooseDef {
  type: string;
  innerType?: ZodSchema;
  in?: ZodSchema;
  out?: ZodSchema;
  shape?: Record<string, ZodSchema>;
  element?: ZodSchema;
  keyType?: ZodSchema;
  valueType?: ZodSchema;
  options?: ZodSchema[];
  entries?: Record<string, string | number>;
  format?: string;
  checks?: { _zod: { def: { check: string; format?: string } } }[];
}

export function def(schema: ZodSchema): LooseDef {
  return schema._zod.def as unknown as LooseDef;
}

export function isZodSchema(x: unknown): x is ZodSchema {
  return typeof x === 'object' && x !== null && '_zod' in x;
}

const WRAPPERS = new Set(['optional', 'nullable', 'default']);

/** The schema that decides the input's type: through optional/nullable/default and pipes. */
export function unwrap(schema: ZodSchema): ZodSchema {
  let s = schema;
  for (;;) {
    const d = def(s);
    if (WRAPPERS.has(d.type) && d.innerType) s = d.innerType;
    // `z.preprocess(f, z.int())` checks the output; `z.string().transform(f)` the input.
    else if (d.type === 'pipe' && d.in && d.out) s = def(d.out).type === 'transform' ? d.in : d.out;
    else return s;
  }
}

const INT_FORMATS = new Set(['safeint', 'int32', 'uint32']);

export function kindOf(schema: ZodSchema): Kind {
  const d = def(unwrap(schema));
  switch (d.type) {
    case 'string': {
      // `z.guid()` carries its format in the def, `z.string().uuid()` in a check.
      const format = d.format ?? (d.checks ?? []).find((c) => c._zod.def.check === 'string_format')?._zod.def.format;
      return format === 'uuid' || format === 'guid' ? 'uuid' : 'str';
    }
    case 'number':
      return INT_FORMATS.has(d.format ?? '') || (d.checks ?? []).some((c) => INT_FORMATS.has(c._zod.def.format ?? '')) ? 'int' : 'float';
    case 'boolean':
      return 'bool';
    case 'object':
      return 'model';
    case 'record':
      return 'dict';
    case 'array':
      return 'list';
    case 'enum':
      return 'enum';
    case 'union':
      return 'union';
    default:
      return 'unknown';
  }
}

const CONSTRAINING_CHECKS = new Set(['less_than', 'greater_than', 'max_length', 'min_length', 'length_equals', 'string_format']);

/** pydantic names a member `constrained-float` rather than `float` when it has bounds. */
export function isConstrained(schema: ZodSchema): boolean {
  return (def(unwrap(schema)).checks ?? []).some((c) => CONSTRAINING_CHECKS.has(c._zod.def.check));
}

export function enumValues(schema: ZodSchema): unknown[] {
  const d = def(unwrap(schema));
  return d.type === 'enum' ? Object.values(d.entries ?? {}) : [];
}

/** The schema of `key` inside `schema` (a field, a record value, a list item). */
export function childSchema(schema: ZodSchema, key: LocItem, value: unknown): ZodSchema | undefined {
  const d = def(unwrap(schema));
  switch (d.type) {
    case 'object':
      return Object.hasOwn(d.shape ?? {}, String(key)) ? d.shape?.[String(key)] : undefined;
    case 'record':
      return d.valueType;
    case 'array':
      return d.element;
    case 'union': {
      const member = pickMember(d.options ?? [], value);
      return member ? childSchema(member, key, value) : undefined;
    }
    default:
      return undefined;
  }
}

export function schemaAt(schema: ZodSchema, path: readonly LocItem[], data: unknown): ZodSchema | undefined {
  let node: ZodSchema | undefined = schema;
  let value = data;
  for (const step of path) {
    if (!node) return undefined;
    node = childSchema(node, step, value);
    value = childValue(value, step);
  }
  return node;
}

/** The union member an input was meant for: the one it passes, else the one of its JSON type. */
function pickMember(options: ZodSchema[], value: unknown): ZodSchema | undefined {
  return options.find((o) => z.safeParse(o, value).success) ?? options.find((o) => kindAccepts(kindOf(o), value));
}

function kindAccepts(kind: Kind, value: unknown): boolean {
  switch (kind) {
    case 'int':
    case 'float':
      return typeof value === 'number';
    case 'bool':
      return typeof value === 'boolean';
    case 'model':
    case 'dict':
      return isPlainObject(value);
    case 'list':
      return Array.isArray(value);
    default:
      return typeof value === 'string';
  }
}

// ---------------------------------------------------------------------------------------------
// Reading inputs

export function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

export function childValue(value: unknown, key: LocItem): unknown {
  if (Array.isArray(value) && typeof key === 'number') return value[key];
  if (isPlainObject(value) && Object.hasOwn(value, String(key))) return value[String(key)];
  return undefined;
}

/** The input at `path`, whether it is there, and the object that holds it. */
export function lookup(data: unknown, path: readonly LocItem[]): { present: boolean; value: unknown; parent: unknown } {
  let parent: unknown = undefined;
  let value = data;
  for (const step of path) {
    parent = value;
    value = childValue(value, step);
  }
  return { present: value !== undefined, value, parent };
}
