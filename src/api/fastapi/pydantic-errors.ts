// zod issues as FastAPI + Pydantic v2 report them: `{type, loc, msg, input, ctx?}` items with
// Pydantic's types and message texts, `loc` starting at "body", "query" or "path". The schema
// decides the Pydantic type (int vs float, model vs dict, union members): zod's issue alone does
// not say, e.g., whether a failed number was an int.
import { getRefId } from '@asteasolutions/zod-to-openapi';
import { z } from '@hono/zod-openapi';
import type { LocItem, PydanticErrorItem } from './errors.ts';
import { leftOutProblem } from '../../domain/errors.ts';
import { expectedRepr, FLOAT_STRING, INT_STRING, pyNumber, pythonBool } from './python-values.ts';
import { uuidError, uuidParsing } from './uuid.ts';
import { def, enumValues, isConstrained, isPlainObject, kindOf, lookup, schemaAt, unwrap, childSchema, childValue, type Kind, type ZodSchema } from './zod-schema.ts';

type ZodIssue = z.core.$ZodIssue;
type ItemBody = Omit<PydanticErrorItem, 'loc' | 'input'>;

export interface ConvertScope {
  /** Location of the issues' root: `["body"]`, `["query"]`, or deeper for union members. */
  loc: LocItem[];
  /** Schema at that root. */
  schema: ZodSchema;
  /** Input at that root. */
  data: unknown;
  /** Inputs are strings from the URL: FastAPI checks each parameter on its own. */
  paramTarget: boolean;
}

/**
 * Converts zod issues into the items FastAPI + Pydantic v2 would report for the same input. With
 * `limit`, converting stops once more than that many items are made (each costs ~50 µs: 100k
 * issues took 5-8 s), and one too_many_errors item counts the issues not converted.
 */
export function zodIssuesToPydantic(issues: readonly ZodIssue[], scope: ConvertScope, limit = Infinity): PydanticErrorItem[] {
  const unionsDone = new Set<string>();
  const reports = asPydanticReports(issues);
  const items: PydanticErrorItem[] = [];
  for (let i = 0; i < reports.length; i++) {
    if (items.length > limit) {
      items.push(leftOutProblem(scope.loc.slice(0, 1), reports.length - i));
      break;
    }
    for (const item of convertIssue(reports[i], scope, unionsDone)) items.push(inPydanticOrder(item));
  }
  return items;
}

const SAFE_BOUND = Number.MAX_SAFE_INTEGER;

/**
 * The issues pydantic would report: it stops at a value's type error (zod goes on to check a
 * string's length on a list, say), and it has no bound of 2^53 on integers (zod's int() has;
 * Python's ints are unbounded), so that bound is dropped when the value breaks another one.
 */
function asPydanticReports(issues: readonly ZodIssue[]): ZodIssue[] {
  const byPath = new Map<string, ZodIssue[]>();
  for (const issue of issues) {
    const key = JSON.stringify(issue.path);
    const list = byPath.get(key);
    if (list) list.push(issue);
    else byPath.set(key, [issue]);
  }
  return issues.filter((issue) => {
    const same = byPath.get(JSON.stringify(issue.path)) as ZodIssue[];
    if (same.length === 1) return true;
    if (issue.code !== 'invalid_type' && same.some((o) => o.code === 'invalid_type')) return false;
    const bound = issue.code === 'too_big' ? Number(issue.maximum) : issue.code === 'too_small' ? Number(issue.minimum) : NaN;
    if (Math.abs(bound) === SAFE_BOUND && same.some((o) => o !== issue && o.code !== 'invalid_type')) return false;
    return true;
  });
}

/** Keys in the order pydantic writes them, so responses read the same as FastAPI's. */
function inPydanticOrder({ type, loc, msg, input, ctx }: PydanticErrorItem): PydanticErrorItem {
  return ctx === undefined ? { type, loc, msg, input } : { type, loc, msg, input, ctx };
}

/** A `value_error` item, for checks done in code (e.g. a refinement) rather than by a type. */
export function valueErrorItem(loc: LocItem[], message: string, input: unknown): PydanticErrorItem {
  return { type: 'value_error', loc, msg: `Value error, ${message}`, input: input ?? null, ctx: { error: {} } };
}

function convertIssue(issue: ZodIssue, scope: ConvertScope, unionsDone: Set<string>): PydanticErrorItem[] {
  const path = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
  const at = lookup(scope.data, path);
  const loc = [...scope.loc, ...path];
  const missing = !at.present && issue.code !== 'custom';

  // Pydantic reports a failed union as every member's errors, each under the member's name
  // (a refinement's own issue is not the union's: it stays where it was put).
  if (issue.code !== 'custom') {
    const union = unionOnPath(scope, path, missing);
    if (union) {
      const key = JSON.stringify(path.slice(0, union.depth));
      if (unionsDone.has(key)) return [];
      const items = unionErrors(union.members, union.value, [...scope.loc, ...path.slice(0, union.depth)], scope.paramTarget);
      if (items.length > 0) {
        unionsDone.add(key);
        return items;
      }
    }
  }

  if (missing) {
    const input = scope.paramTarget && path.length === 1 ? null : (at.parent ?? null);
    return [{ type: 'missing', loc, msg: 'Field required', input }];
  }
  const value = at.value;
  const leaf = schemaAt(scope.schema, path, scope.data);
  const kind = leaf ? kindOf(leaf) : 'unknown';

  // Pydantic parses strings for numbers, booleans and UUIDs before any constraint applies.
  if (typeof value === 'string' && issue.code !== 'custom' && issue.code !== 'unrecognized_keys') {
    const parsing = stringParsingError(kind, value);
    if (parsing) return [{ ...parsing, loc, input: value }];
  }

  const item = (type: string, msg: string, ctx?: Record<string, unknown>): PydanticErrorItem[] => [
    ctx ? { type, loc, msg, input: value ?? null, ctx } : { type, loc, msg, input: value ?? null },
  ];

  switch (issue.code) {
    case 'invalid_type':
      return [{ ...typeError(kind, value, leaf), loc, input: value ?? null }];
    case 'invalid_value': {
      const expected = expectedRepr(issue.values);
      return item('enum', `Input should be ${expected}`, { expected });
    }
    case 'too_small':
    case 'too_big':
      return boundError(issue, value, loc);
    case 'invalid_format':
      return [{ ...formatError(issue, value), loc, input: value ?? null }];
    case 'unrecognized_keys': {
      const obj = isPlainObject(value) ? value : {};
      return issue.keys.map((key) => ({ type: 'extra_forbidden', loc: [...loc, key], msg: 'Extra inputs are not permitted', input: obj[key] ?? null }));
    }
    case 'invalid_key': {
      // A record key that failed its schema: pydantic's loc is the key, then "[key]".
      const keySchema = path.length > 0 ? def(unwrap(schemaAt(scope.schema, path.slice(0, -1), scope.data) ?? scope.schema)).keyType : undefined;
      if (!keySchema) return [valueErrorItem(loc, issue.message, value)];
      return zodIssuesToPydantic(issue.issues, { loc: [...loc, '[key]'], schema: keySchema, data: path[path.length - 1], paramTarget: scope.paramTarget });
    }
    default:
      return [valueErrorItem(loc, issue.message, value)];
  }
}

// ---------------------------------------------------------------------------------------------
// Unions

/** The first union on the issue's path, with the input it got. */
function unionOnPath(scope: ConvertScope, path: LocItem[], missing: boolean): { depth: number; members: ZodSchema[]; value: unknown } | undefined {
  let node: ZodSchema | undefined = scope.schema;
  let value = scope.data;
  for (let depth = 0; node && depth <= path.length; depth++) {
    if (depth === path.length && missing) return undefined;
    const u = unwrap(node);
    if (def(u).type === 'union') return { depth, members: def(u).options ?? [], value };
    if (depth === path.length) return undefined;
    const step = path[depth] as LocItem;
    node = childSchema(node, step, value);
    value = childValue(value, step);
  }
  return undefined;
}

function unionErrors(members: ZodSchema[], value: unknown, loc: LocItem[], paramTarget: boolean): PydanticErrorItem[] {
  // A member that takes the input satisfies the union: the issue is not the union's (a record
  // key's, say), so it is reported where it is.
  if (members.some((m) => z.safeParse(m, value).success)) return [];
  return members.flatMap((member) => {
    const result = z.safeParse(member, value);
    if (result.success) return [];
    return zodIssuesToPydantic(result.error.issues, { loc: [...loc, unionTag(member)], schema: member, data: value, paramTarget });
  });
}

/** The class name of a model schema given a name with `.openapi('Name')`, if any. */
function modelName(schema: ZodSchema): string | undefined {
  return getRefId(unwrap(schema) as never) ?? getRefId(schema as never);
}

/** The name pydantic gives a union member in `loc` (its validator's name; a model's class name). */
function unionTag(schema: ZodSchema): string {
  const kind = kindOf(schema);
  switch (kind) {
    case 'model':
      return modelName(schema) ?? kind;
    case 'str':
    case 'int':
    case 'float':
      return isConstrained(schema) ? `constrained-${kind}` : kind;
    case 'list': {
      const element = def(unwrap(schema)).element;
      return `list[${element ? unionTag(element) : 'any'}]`;
    }
    default:
      return kind;
  }
}

// ---------------------------------------------------------------------------------------------
// Errors by kind

function typeError(kind: Kind, value: unknown, leaf: ZodSchema | undefined): ItemBody {
  switch (kind) {
    case 'str':
      return { type: 'string_type', msg: 'Input should be a valid string' };
    case 'uuid':
      return typeof value === 'string' ? uuidParsing(value) : { type: 'uuid_type', msg: 'UUID input should be a string, bytes or UUID object' };
    case 'int':
      if (typeof value === 'number' && Number.isFinite(value) && !Number.isInteger(value)) {
        return { type: 'int_from_float', msg: 'Input should be a valid integer, got a number with a fractional part' };
      }
      return { type: 'int_type', msg: 'Input should be a valid integer' };
    case 'float':
      return { type: 'float_type', msg: 'Input should be a valid number' };
    case 'bool':
      return typeof value === 'number'
        ? { type: 'bool_parsing', msg: 'Input should be a valid boolean, unable to interpret input' }
        : { type: 'bool_type', msg: 'Input should be a valid boolean' };
    case 'model':
      return { type: 'model_attributes_type', msg: 'Input should be a valid dictionary or object to extract fields from' };
    case 'dict':
      return { type: 'dict_type', msg: 'Input should be a valid dictionary' };
    case 'list':
      return { type: 'list_type', msg: 'Input should be a valid list' };
    case 'enum': {
      const expected = expectedRepr(leaf ? enumValues(leaf) : []);
      return { type: 'enum', msg: `Input should be ${expected}`, ctx: { expected } };
    }
    default:
      return { type: 'value_error', msg: 'Value error, input has the wrong type', ctx: { error: {} } };
  }
}

/** Pydantic (lax mode) parses these from strings; the error when it cannot. */
function stringParsingError(kind: Kind, value: string): ItemBody | undefined {
  switch (kind) {
    case 'int':
      return INT_STRING.test(value) ? undefined : { type: 'int_parsing', msg: 'Input should be a valid integer, unable to parse string as an integer' };
    case 'float':
      return FLOAT_STRING.test(value) ? undefined : { type: 'float_parsing', msg: 'Input should be a valid number, unable to parse string as a number' };
    case 'bool':
      return pythonBool(value) !== undefined ? undefined : { type: 'bool_parsing', msg: 'Input should be a valid boolean, unable to interpret input' };
    case 'uuid':
      return uuidError(value) === undefined ? undefined : uuidParsing(value);
    default:
      return undefined;
  }
}

function boundError(issue: Extract<ZodIssue, { code: 'too_small' | 'too_big' }>, value: unknown, loc: LocItem[]): PydanticErrorItem[] {
  const small = issue.code === 'too_small';
  const limit = Number(small ? (issue as { minimum: number | bigint }).minimum : (issue as { maximum: number | bigint }).maximum);
  const input = value ?? null;
  const plural = limit === 1 ? '' : 's';
  switch (issue.origin) {
    case 'string':
      return small
        ? [{ type: 'string_too_short', loc, msg: `String should have at least ${limit} character${plural}`, input, ctx: { min_length: limit } }]
        : [{ type: 'string_too_long', loc, msg: `String should have at most ${limit} character${plural}`, input, ctx: { max_length: limit } }];
    case 'array': {
      const actual = Array.isArray(value) ? value.length : 0;
      const ctx = { field_type: 'List', [small ? 'min_length' : 'max_length']: limit, actual_length: actual };
      const msg = `List should have ${small ? 'at least' : 'at most'} ${limit} item${plural} after validation, not ${actual}`;
      return [{ type: small ? 'too_short' : 'too_long', loc, msg, input, ctx }];
    }
    case 'number':
    case 'int': {
      const inclusive = issue.inclusive !== false;
      const [type, word, key] = small
        ? inclusive ? ['greater_than_equal', 'greater than or equal to', 'ge'] : ['greater_than', 'greater than', 'gt']
        : inclusive ? ['less_than_equal', 'less than or equal to', 'le'] : ['less_than', 'less than', 'lt'];
      return [{ type, loc, msg: `Input should be ${word} ${pyNumber(limit)}`, input, ctx: { [key]: limit } }];
    }
    default:
      return [valueErrorItem(loc, issue.message, value)];
  }
}

function formatError(issue: Extract<ZodIssue, { code: 'invalid_format' }>, value: unknown): ItemBody {
  const text = typeof value === 'string' ? value : '';
  switch (issue.format) {
    case 'uuid':
    case 'guid':
      return uuidParsing(text);
    case 'regex': {
      const raw = (issue as { pattern?: unknown }).pattern;
      const source = typeof raw === 'string' ? raw : '';
      const pattern = /^\/(.*)\/[a-z]*$/s.exec(source)?.[1] ?? source;
      return { type: 'string_pattern_mismatch', msg: `String should match pattern '${pattern}'`, ctx: { pattern } };
    }
    case 'datetime': {
      // z.iso.datetime() (the audit log's `since`): pydantic's first complaint about the text.
      const error = text.length < 10 ? 'input is too short' : 'invalid character in year';
      return { type: 'datetime_from_date_parsing', msg: `Input should be a valid datetime or date, ${error}`, ctx: { error } };
    }
    default:
      return { type: 'value_error', msg: `Value error, ${issue.message}`, ctx: { error: {} } };
  }
}
