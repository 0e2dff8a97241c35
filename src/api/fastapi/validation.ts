// Request validation errors as FastAPI + Pydantic v2 report them: zod issues become
// `{type, loc, msg, input, ctx?}` items with Pydantic's types and message texts, `loc` starting
// at "body", "query", "path", "header" or "cookie". Where the route's schema is known (through
// installFastApiRouting) the schema decides the Pydantic type (int vs float, model vs dict,
// union members); without it the zod issue alone is mapped as closely as it allows.
import { z } from '@hono/zod-openapi';
import type { Context, ValidationTargets } from 'hono';
import { getCookie } from 'hono/cookie';
import { HttpError, RequestValidationError, type LocItem, type PydanticErrorItem } from './errors.ts';
import { jsonBodyOf, preparedRequest, type PreparedRequest } from './http-app.ts';

export { installFastApiRouting } from './http-app.ts';

type ZodSchema = z.core.$ZodType;
type ZodIssue = z.core.$ZodIssue;
type Target = keyof ValidationTargets;

// ---------------------------------------------------------------------------------------------
// The hook

/** What @hono/zod-openapi passes to a hook (`data` is the raw input, present at run time). */
export type ValidationHookResult = { target: Target } & (
  | { success: true; data: unknown }
  | { success: false; error: z.ZodError; data?: unknown }
);

const LOC_ROOT: Record<Target, LocItem> = { json: 'body', form: 'body', query: 'query', param: 'path', header: 'header', cookie: 'cookie' };

/**
 * `new OpenAPIHono({ defaultHook: validationHook })`. On any failure it answers like FastAPI:
 * one 422 listing every problem of the request, path parameters first, then query, header,
 * cookie and body; an unreadable body (malformed JSON) alone, as FastAPI does.
 */
export async function validationHook(result: ValidationHookResult, c: Context): Promise<void> {
  const prepared = preparedRequest(c.req.raw);
  if (prepared?.body?.kind === 'invalid') throw prepared.body.error;
  const bodyPending = result.target === 'json' && (prepared?.body?.kind === 'missing' || prepared?.body?.kind === 'raw');
  if (result.success && !bodyPending) return;

  if (prepared) {
    const items = await validateWholeRequest(c, prepared);
    if (items.length > 0) throw new RequestValidationError(items);
    if (bodyPending) throw new HttpError(415, 'Unsupported Media Type: send the body as application/json');
  }
  if (!result.success) {
    throw new RequestValidationError(
      zodIssuesToPydantic(result.error.issues, { loc: [LOC_ROOT[result.target]], data: result.data, paramTarget: isParamTarget(result.target) }),
    );
  }
}

function isParamTarget(target: Target): boolean {
  return target !== 'json' && target !== 'form';
}

/** Every input of the route checked again, in FastAPI's order, with the schemas in hand. */
async function validateWholeRequest(c: Context, prepared: PreparedRequest): Promise<PydanticErrorItem[]> {
  const request = prepared.route.request;
  const items: PydanticErrorItem[] = [];
  const check = async (schema: unknown, data: unknown, loc: LocItem, paramTarget: boolean) => {
    if (!isZodSchema(schema)) return;
    const result = await z.safeParseAsync(schema, data);
    if (!result.success) items.push(...zodIssuesToPydantic(result.error.issues, { loc: [loc], schema, data, paramTarget }));
  };
  await check(request?.params, c.req.param(), 'path', true);
  await check(request?.query, queryValues(c), 'query', true);
  await check(request?.headers, headerValues(c, request?.headers), 'header', true);
  await check(request?.cookies, getCookie(c), 'cookie', true);
  const body = jsonBodyOf(prepared.route);
  if (body && isZodSchema(body.schema) && prepared.body) {
    if (prepared.body.kind === 'missing') items.push({ type: 'missing', loc: ['body'], msg: 'Field required', input: null });
    else if (prepared.body.kind === 'raw') await check(body.schema, prepared.body.text, 'body', false);
    else if (prepared.body.kind === 'json') await check(body.schema, prepared.body.value, 'body', false);
  }
  return items;
}

// The values Hono's validator hands the schemas, built the same way.
function queryValues(c: Context): Record<string, string | string[]> {
  return Object.fromEntries(Object.entries(c.req.queries()).map(([k, v]) => (v.length === 1 ? [k, v[0] as string] : [k, v])));
}

function headerValues(c: Context, schema: unknown): Record<string, string> {
  const headers = c.req.header();
  const shape = isZodSchema(schema) ? (def(unwrap(schema)).shape ?? {}) : {};
  const byLower = new Map(Object.keys(shape).map((k) => [k.toLowerCase(), k]));
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [byLower.get(k) ?? k, v]));
}

function isZodSchema(x: unknown): x is ZodSchema {
  return typeof x === 'object' && x !== null && '_zod' in x;
}

// ---------------------------------------------------------------------------------------------
// Issue conversion

export interface ConvertScope {
  /** Location of the issues' root: `["body"]`, `["query"]`, or deeper for union members. */
  loc: LocItem[];
  /** Schema at that root, when known. */
  schema?: ZodSchema;
  /** Input at that root. */
  data: unknown;
  /** Inputs are strings from the URL or headers: FastAPI checks each parameter on its own. */
  paramTarget: boolean;
}

/** Converts zod issues into the items FastAPI + Pydantic v2 would report for the same input. */
export function zodIssuesToPydantic(issues: readonly ZodIssue[], scope: ConvertScope): PydanticErrorItem[] {
  const unionsDone = new Set<string>();
  return issues.flatMap((issue) => convertIssue(issue, scope, unionsDone)).map(inPydanticOrder);
}

/** Keys in the order pydantic writes them, so responses read the same as FastAPI's. */
function inPydanticOrder({ type, loc, msg, input, ctx }: PydanticErrorItem): PydanticErrorItem {
  return ctx === undefined ? { type, loc, msg, input } : { type, loc, msg, input, ctx };
}

/** A `value_error` item, for checks done in code (e.g. a workflow cycle) rather than by a schema. */
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
  if (scope.schema && issue.code !== 'custom') {
    let node: ZodSchema | undefined = scope.schema;
    let value = scope.data;
    for (let depth = 0; node && depth <= path.length; depth++) {
      if (depth === path.length && missing) break;
      const u = unwrap(node);
      const members = unionMembers(u, value);
      if (members) {
        const key = JSON.stringify(path.slice(0, depth));
        if (unionsDone.has(key)) return [];
        const items = unionErrors(u, members, value, { ...scope, loc: [...scope.loc, ...path.slice(0, depth)], schema: u, data: value });
        if (items.length > 0) {
          unionsDone.add(key);
          return items;
        }
        break;
      }
      if (depth === path.length) break;
      const step = path[depth] as LocItem;
      node = childSchema(node, step, value);
      value = childValue(value, step);
    }
  }

  if (missing) {
    const input = scope.paramTarget && path.length === 1 ? null : (at.parent ?? null);
    return [{ type: 'missing', loc, msg: 'Field required', input }];
  }
  const value = at.value;
  const leaf = scope.schema ? schemaAt(scope.schema, path, scope.data) : undefined;
  const kind = leaf ? kindOf(leaf) : kindFromIssue(issue);

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
      if (kind === 'bool') return item('bool_parsing', 'Input should be a valid boolean, unable to interpret input');
      const expected = expectedRepr(issue.values);
      const type = kind === 'enum' || (kind !== 'literal' && issue.values.length > 1) ? 'enum' : 'literal_error';
      return item(type, `Input should be ${expected}`, { expected });
    }
    case 'too_small':
    case 'too_big':
      return boundError(issue, value, loc);
    case 'not_multiple_of':
      return item('multiple_of', `Input should be a multiple of ${pyNumber(issue.divisor)}`, { multiple_of: issue.divisor });
    case 'invalid_format':
      return [{ ...formatError(issue, value), loc, input: value ?? null }];
    case 'unrecognized_keys': {
      const obj = isPlainObject(value) ? value : {};
      return issue.keys.map((key) => ({ type: 'extra_forbidden', loc: [...loc, key], msg: 'Extra inputs are not permitted', input: obj[key] ?? null }));
    }
    case 'invalid_union':
      return unionErrorsWithoutSchema(issue, value, { ...scope, loc, schema: undefined, data: value });
    case 'invalid_key':
      return zodIssuesToPydantic(issue.issues, { loc: [...loc, '[key]'], data: path.length > 0 ? path[path.length - 1] : value, paramTarget: scope.paramTarget });
    case 'custom': {
      const own = issue.params as { type?: unknown; msg?: unknown; ctx?: unknown } | undefined;
      if (typeof own?.type === 'string' && typeof own.msg === 'string') {
        return item(own.type, own.msg, isPlainObject(own.ctx) ? own.ctx : undefined);
      }
      return [valueErrorItem(loc, issue.message, value)];
    }
    default:
      return [valueErrorItem(loc, issue.message, value)];
  }
}

// ---------------------------------------------------------------------------------------------
// Unions

/** The members pydantic would try for `value`, when `u` is a union it would report as one. */
function unionMembers(u: ZodSchema, value: unknown): ZodSchema[] | undefined {
  const d = def(u);
  if (d.type !== 'union') return undefined;
  const options = d.options ?? [];
  // `X | None` is Optional[X] to pydantic: a nullable X, whose errors are X's, untagged.
  const members = options.filter((o) => kindOf(o) !== 'none');
  if (members.length === 0 || (value === null && members.length !== options.length)) return undefined;
  return members;
}

function unionErrors(u: ZodSchema, members: ZodSchema[], value: unknown, scope: ConvertScope): PydanticErrorItem[] {
  const d = def(u);
  if (d.discriminator !== undefined) return taggedUnionErrors(d.discriminator, members, value, scope);
  if (members.length === 1) {
    const only = members[0] as ZodSchema;
    const result = trySafeParse(only, value);
    return result && !result.success ? zodIssuesToPydantic(result.error.issues, { ...scope, schema: only }) : [];
  }
  return members.flatMap((member) => {
    const result = trySafeParse(member, value);
    if (!result || result.success) return [];
    return zodIssuesToPydantic(result.error.issues, { ...scope, loc: [...scope.loc, unionTag(member)], schema: member, data: value });
  });
}

function taggedUnionErrors(discriminator: string, members: ZodSchema[], value: unknown, scope: ConvertScope): PydanticErrorItem[] {
  const discRepr = pyRepr(discriminator);
  const byTag = new Map<unknown, ZodSchema>();
  for (const m of members) for (const tag of literalValues(def(unwrap(m)).shape?.[discriminator])) byTag.set(tag, m);
  const base = { loc: scope.loc, input: value ?? null };
  if (!isPlainObject(value) || !(discriminator in value)) {
    return [{ ...base, type: 'union_tag_not_found', msg: `Unable to extract tag using discriminator ${discRepr}`, ctx: { discriminator: discRepr } }];
  }
  const tag = value[discriminator];
  const member = byTag.get(tag);
  if (!member) {
    const expectedTags = [...byTag.keys()].map(pyRepr).join(', ');
    return [
      {
        ...base,
        type: 'union_tag_invalid',
        msg: `Input tag ${pyRepr(String(tag))} found using ${discRepr} does not match any of the expected tags: ${expectedTags}`,
        ctx: { discriminator: discRepr, tag: String(tag), expected_tags: expectedTags },
      },
    ];
  }
  const result = trySafeParse(member, value);
  if (!result || result.success) return [];
  return zodIssuesToPydantic(result.error.issues, { ...scope, loc: [...scope.loc, String(tag)], schema: member, data: value });
}

/** Without the schema: the members' issues zod kept, named from what each member expected. */
function unionErrorsWithoutSchema(issue: Extract<ZodIssue, { code: 'invalid_union' }>, value: unknown, scope: ConvertScope): PydanticErrorItem[] {
  if (issue.errors.length === 0) return [valueErrorItem(scope.loc, issue.message, value)];
  return issue.errors.flatMap((memberIssues) =>
    zodIssuesToPydantic(memberIssues, { ...scope, loc: [...scope.loc, guessUnionTag(memberIssues)] }),
  );
}

function guessUnionTag(issues: readonly ZodIssue[]): string {
  const first = issues[0];
  if (!first) return 'unknown';
  if (first.path.length > 0) return typeof first.path[0] === 'number' ? 'list' : 'model';
  if (first.code === 'invalid_type') return KIND_TAG[kindFromExpected(first.expected)] ?? first.expected;
  if ((first.code === 'too_big' || first.code === 'too_small') && first.origin === 'string') return 'constrained-str';
  return 'unknown';
}

const KIND_TAG: Partial<Record<Kind, string>> = { str: 'str', int: 'int', float: 'float', bool: 'bool', list: 'list', dict: 'dict', model: 'model', none: 'none' };

/** The name pydantic gives a union member in `loc` (its validator's name). */
function unionTag(schema: ZodSchema): string {
  const u = unwrap(schema);
  const d = def(u);
  switch (kindOf(u)) {
    case 'str':
      return isConstrained(d) ? 'constrained-str' : 'str';
    case 'int':
      return isConstrained(d) ? 'constrained-int' : 'int';
    case 'float':
      return isConstrained(d) ? 'constrained-float' : 'float';
    case 'list':
      return `list[${d.element ? unionTag(d.element) : 'any'}]`;
    case 'set':
      return `set[${d.valueType ? unionTag(d.valueType) : 'any'}]`;
    case 'tuple':
      return `tuple[${(d.items ?? []).map(unionTag).join(', ')}]`;
    case 'dict':
      return `dict[${d.keyType ? unionTag(d.keyType) : 'str'},${d.valueType ? unionTag(d.valueType) : 'any'}]`;
    case 'model':
      return modelName(u);
    case 'enum':
    case 'literal':
      return `literal[${literalValues(u).map(pyRepr).join(',')}]`;
    default:
      return kindOf(u) === 'unknown' ? d.type : kindOf(u);
  }
}

function modelName(schema: ZodSchema): string {
  const meta = z.globalRegistry.get(schema) as { id?: unknown; title?: unknown } | undefined;
  const name = meta?.id ?? meta?.title;
  return typeof name === 'string' ? name : 'Model';
}

// ---------------------------------------------------------------------------------------------
// Errors by kind

type Kind = 'str' | 'uuid' | 'int' | 'float' | 'bool' | 'model' | 'dict' | 'list' | 'tuple' | 'set' | 'none' | 'enum' | 'literal' | 'union' | 'datetime' | 'date' | 'unknown';
type ItemBody = Omit<PydanticErrorItem, 'loc' | 'input'>;

function typeError(kind: Kind, value: unknown, leaf: ZodSchema | undefined): ItemBody {
  switch (kind) {
    case 'str':
      return { type: 'string_type', msg: 'Input should be a valid string' };
    case 'uuid':
      return typeof value === 'string' ? uuidParsingError(value) : { type: 'uuid_type', msg: 'UUID input should be a string, bytes or UUID object' };
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
    case 'tuple':
      return { type: 'tuple_type', msg: 'Input should be a valid tuple' };
    case 'set':
      return { type: 'set_type', msg: 'Input should be a valid set' };
    case 'none':
      return { type: 'none_required', msg: 'Input should be None' };
    case 'datetime':
      return { type: 'datetime_type', msg: 'Input should be a valid datetime' };
    case 'date':
      return { type: 'date_type', msg: 'Input should be a valid date' };
    case 'enum':
    case 'literal': {
      const expected = expectedRepr(leaf ? literalValues(leaf) : []);
      return { type: kind === 'enum' ? 'enum' : 'literal_error', msg: `Input should be ${expected}`, ctx: { expected } };
    }
    default:
      return { type: 'value_error', msg: 'Value error, input has the wrong type', ctx: { error: {} } };
  }
}

const TRUE_STRINGS = new Set(['1', 'on', 't', 'true', 'y', 'yes']);
const FALSE_STRINGS = new Set(['0', 'off', 'f', 'false', 'n', 'no']);
const INT_STRING = /^\s*[+-]?\d+(?:_\d+)*(?:\.0*)?\s*$/;
const FLOAT_STRING = /^\s*[+-]?(?:(?:\d+(?:_\d+)*)?\.?\d+(?:_\d+)*(?:[eE][+-]?\d+)?|\d+\.|inf|infinity|nan)\s*$/i;

/** Pydantic (lax mode) parses these from strings; the error when it cannot. */
function stringParsingError(kind: Kind, value: string): ItemBody | undefined {
  switch (kind) {
    case 'int':
      return INT_STRING.test(value) ? undefined : { type: 'int_parsing', msg: 'Input should be a valid integer, unable to parse string as an integer' };
    case 'float':
      return FLOAT_STRING.test(value) ? undefined : { type: 'float_parsing', msg: 'Input should be a valid number, unable to parse string as a number' };
    case 'bool': {
      const lower = value.toLowerCase();
      return TRUE_STRINGS.has(lower) || FALSE_STRINGS.has(lower) ? undefined : { type: 'bool_parsing', msg: 'Input should be a valid boolean, unable to interpret input' };
    }
    case 'uuid':
      return uuidError(value) === undefined ? undefined : uuidParsingError(value);
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
    case 'array':
    case 'set': {
      const fieldType = issue.origin === 'array' ? 'List' : 'Set';
      const actual = Array.isArray(value) ? value.length : value instanceof Set ? value.size : 0;
      return small
        ? [{ type: 'too_short', loc, msg: `${fieldType} should have at least ${limit} item${plural} after validation, not ${actual}`, input, ctx: { field_type: fieldType, min_length: limit, actual_length: actual } }]
        : [{ type: 'too_long', loc, msg: `${fieldType} should have at most ${limit} item${plural} after validation, not ${actual}`, input, ctx: { field_type: fieldType, max_length: limit, actual_length: actual } }];
    }
    case 'number':
    case 'int':
    case 'bigint': {
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
      return uuidParsingError(text);
    case 'regex':
    case 'starts_with':
    case 'ends_with':
    case 'includes': {
      const pattern = patternOf(issue);
      return { type: 'string_pattern_mismatch', msg: `String should match pattern '${pattern}'`, ctx: { pattern } };
    }
    case 'email': {
      const reason = emailReason(text);
      return { type: 'value_error', msg: `value is not a valid email address: ${reason}`, ctx: { reason } };
    }
    case 'url': {
      const error = text === '' ? 'input is empty' : /^[a-z][a-z0-9+.-]*:/i.test(text) ? 'empty host' : 'relative URL without a base';
      return { type: 'url_parsing', msg: `Input should be a valid URL, ${error}`, ctx: { error } };
    }
    case 'datetime': {
      const error = text.length < 10 ? 'input is too short' : 'invalid character in year';
      return { type: 'datetime_from_date_parsing', msg: `Input should be a valid datetime or date, ${error}`, ctx: { error } };
    }
    case 'date': {
      const error = text.length < 10 ? 'input is too short' : 'invalid character in year';
      return { type: 'date_from_datetime_parsing', msg: `Input should be a valid date or datetime, ${error}`, ctx: { error } };
    }
    default:
      return { type: 'value_error', msg: `Value error, ${issue.message}`, ctx: { error: {} } };
  }
}

function patternOf(issue: Extract<ZodIssue, { code: 'invalid_format' }>): string {
  const raw = issue as { pattern?: unknown; prefix?: unknown; suffix?: unknown; includes?: unknown };
  if (typeof raw.pattern === 'string') {
    const m = /^\/(.*)\/[a-z]*$/s.exec(raw.pattern);
    return m ? (m[1] as string) : raw.pattern;
  }
  if (typeof raw.prefix === 'string') return `^${escapeRegex(raw.prefix)}`;
  if (typeof raw.suffix === 'string') return `${escapeRegex(raw.suffix)}$`;
  if (typeof raw.includes === 'string') return escapeRegex(raw.includes);
  return '';
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function emailReason(text: string): string {
  if (!text.includes('@')) return 'An email address must have an @-sign.';
  if (text.startsWith('@')) return 'There must be something before the @-sign.';
  if (text.endsWith('@')) return 'There must be something after the @-sign.';
  return 'The part after the @-sign is not valid. It should have a period.';
}

function uuidParsingError(value: string): ItemBody {
  const error = uuidError(value) ?? 'failed to parse a UUID';
  return { type: 'uuid_parsing', msg: `Input should be a valid UUID, ${error}`, ctx: { error } };
}

/** The message of Rust's `uuid` crate (which pydantic-core uses) for `value`, or undefined if it parses. */
export function uuidError(value: string): string | undefined {
  const bytes = new TextEncoder().encode(value);
  const lenOk = (n: number) => bytes.length === n;
  const isHex = (b: number) => (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66);
  const hyphenated = (s: string) => /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(s);
  if ((lenOk(32) && /^[0-9a-fA-F]{32}$/.test(value)) || (lenOk(36) && hyphenated(value))) return undefined;
  if (lenOk(38) && value.startsWith('{') && value.endsWith('}') && hyphenated(value.slice(1, -1))) return undefined;
  if (lenOk(45) && value.startsWith('urn:uuid:') && hyphenated(value.slice(9))) return undefined;

  let inner = value;
  let offset = 0;
  let simple = true;
  if (value.length >= 2 && value.startsWith('{') && value.endsWith('}')) [inner, offset, simple] = [value.slice(1, -1), 1, false];
  else if (value.startsWith('urn:uuid:')) [inner, offset, simple] = [value.slice(9), 9, false];

  let hyphens = 0;
  const groupBounds: number[] = [];
  let index = 0; // byte offset in `inner`, as Rust's char_indices gives
  for (const ch of inner) {
    const code = ch.codePointAt(0) as number;
    if (code > 0x7f) return `invalid character: expected an optional prefix of \`urn:uuid:\` followed by [0-9a-fA-F-], found \`${ch}\` at ${index + offset + 1}`;
    if (ch === '-') {
      if (hyphens < 4) groupBounds[hyphens] = index;
      hyphens++;
    } else if (!isHex(code)) {
      return `invalid character: expected an optional prefix of \`urn:uuid:\` followed by [0-9a-fA-F-], found \`${ch}\` at ${index + offset + 1}`;
    }
    index += new TextEncoder().encode(ch).length;
  }
  if (hyphens === 0 && simple) return `invalid length: expected length 32 for simple format, found ${bytes.length}`;
  if (hyphens !== 4) return `invalid group count: expected 5, found ${hyphens + 1}`;
  const starts = [0, 9, 14, 19, 24];
  const expected = [8, 4, 4, 4, 12];
  for (let i = 0; i < 4; i++) {
    if (groupBounds[i] !== (starts[i + 1] as number) - 1) {
      return `invalid group length in group ${i}: expected ${expected[i]}, found ${(groupBounds[i] as number) - (starts[i] as number)}`;
    }
  }
  return `invalid group length in group 4: expected 12, found ${bytes.length - 24}`;
}

// ---------------------------------------------------------------------------------------------
// Reading zod schemas

interface LooseDef {
  type: string;
  innerType?: ZodSchema;
  in?: ZodSchema;
  out?: ZodSchema;
  getter?: () => ZodSchema;
  shape?: Record<string, ZodSchema>;
  catchall?: ZodSchema;
  element?: ZodSchema;
  keyType?: ZodSchema;
  valueType?: ZodSchema;
  items?: ZodSchema[];
  rest?: ZodSchema | null;
  options?: ZodSchema[];
  discriminator?: string;
  left?: ZodSchema;
  right?: ZodSchema;
  entries?: Record<string, string | number>;
  values?: unknown[];
  format?: string;
  checks?: { _zod: { def: { check: string; format?: string } } }[];
}

function def(schema: ZodSchema): LooseDef {
  return schema._zod.def as unknown as LooseDef;
}

const WRAPPERS = new Set(['optional', 'nullable', 'default', 'prefault', 'nonoptional', 'readonly', 'catch', 'success']);

/** The schema that decides the input's type: through optional/default/…, lazy, and pipes. */
function unwrap(schema: ZodSchema): ZodSchema {
  let s = schema;
  for (let i = 0; i < 64; i++) {
    const d = def(s);
    if (WRAPPERS.has(d.type) && d.innerType) s = d.innerType;
    else if (d.type === 'lazy' && d.getter) s = d.getter();
    // `z.string().transform(f)` checks a string; `z.preprocess(f, z.int())` and codecs check the output.
    else if (d.type === 'pipe' && d.in && d.out) s = def(d.out).type === 'transform' ? d.in : d.out;
    else return s;
  }
  return s;
}

const INT_FORMATS = new Set(['safeint', 'int32', 'uint32', 'int64', 'uint64']);

function kindOf(schema: ZodSchema): Kind {
  const d = def(unwrap(schema));
  switch (d.type) {
    case 'string': {
      // `z.uuid()` carries its format in the def, `z.string().uuid()` in a check.
      const format = d.format ?? (d.checks ?? []).find((c) => c._zod.def.check === 'string_format')?._zod.def.format;
      if (format === 'uuid' || format === 'guid') return 'uuid';
      if (format === 'datetime') return 'datetime';
      if (format === 'date') return 'date';
      return 'str';
    }
    case 'number':
      return INT_FORMATS.has(d.format ?? '') || (d.checks ?? []).some((c) => INT_FORMATS.has(c._zod.def.format ?? '')) ? 'int' : 'float';
    case 'bigint':
    case 'int':
      return 'int';
    case 'boolean':
      return 'bool';
    case 'object':
      return 'model';
    case 'record':
    case 'map':
      return 'dict';
    case 'array':
      return 'list';
    case 'tuple':
      return 'tuple';
    case 'set':
      return 'set';
    case 'null':
    case 'undefined':
    case 'void':
      return 'none';
    case 'enum':
      return 'enum';
    case 'literal':
      return 'literal';
    case 'union':
      return 'union';
    case 'date':
      return 'datetime';
    default:
      return 'unknown';
  }
}

const CONSTRAINING_CHECKS = new Set(['less_than', 'greater_than', 'multiple_of', 'max_length', 'min_length', 'length_equals', 'string_format']);

function isConstrained(d: LooseDef): boolean {
  return (d.checks ?? []).some((c) => CONSTRAINING_CHECKS.has(c._zod.def.check));
}

function literalValues(schema: ZodSchema | undefined): unknown[] {
  if (!schema) return [];
  const d = def(unwrap(schema));
  if (d.type === 'literal') return d.values ?? [];
  if (d.type === 'enum') return Object.values(d.entries ?? {});
  return [];
}

function kindFromIssue(issue: ZodIssue): Kind {
  switch (issue.code) {
    case 'invalid_type':
      return kindFromExpected(issue.expected);
    case 'invalid_value':
      return issue.values.length > 1 ? 'enum' : 'literal';
    case 'invalid_format':
      return issue.format === 'uuid' || issue.format === 'guid' ? 'uuid' : 'str';
    default:
      return 'unknown';
  }
}

function kindFromExpected(expected: string): Kind {
  const map: Record<string, Kind> = {
    string: 'str', number: 'float', int: 'int', bigint: 'int', boolean: 'bool', object: 'model', record: 'dict', map: 'dict',
    array: 'list', tuple: 'tuple', set: 'set', null: 'none', undefined: 'none', void: 'none', date: 'datetime',
  };
  return map[expected] ?? 'unknown';
}

function childSchema(schema: ZodSchema, key: LocItem, value: unknown): ZodSchema | undefined {
  const u = unwrap(schema);
  const d = def(u);
  switch (d.type) {
    case 'object':
      return d.shape?.[String(key)] ?? (d.catchall && def(d.catchall).type !== 'never' ? d.catchall : undefined);
    case 'record':
    case 'map':
      return d.valueType;
    case 'array':
      return d.element;
    case 'set':
      return d.valueType;
    case 'tuple':
      return typeof key === 'number' ? (d.items?.[key] ?? d.rest ?? undefined) : undefined;
    case 'union': {
      const member = pickMember(d.options ?? [], value);
      return member ? childSchema(member, key, value) : undefined;
    }
    case 'intersection':
      return (d.left && childSchema(d.left, key, value)) || (d.right && childSchema(d.right, key, value)) || undefined;
    default:
      return undefined;
  }
}

function schemaAt(schema: ZodSchema, path: LocItem[], data: unknown): ZodSchema | undefined {
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
  return options.find((o) => trySafeParse(o, value)?.success) ?? options.find((o) => kindAccepts(kindOf(o), value));
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
    case 'tuple':
    case 'set':
      return Array.isArray(value);
    case 'none':
      return value === null;
    default:
      return typeof value === 'string';
  }
}

function trySafeParse(schema: ZodSchema, value: unknown): z.ZodSafeParseResult<unknown> | undefined {
  try {
    return z.safeParse(schema, value);
  } catch {
    return undefined; // async refinements: nothing to learn synchronously
  }
}

// ---------------------------------------------------------------------------------------------
// Reading inputs

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function childValue(value: unknown, key: LocItem): unknown {
  if (Array.isArray(value) && typeof key === 'number') return value[key];
  if (isPlainObject(value)) return value[String(key)];
  return undefined;
}

function lookup(data: unknown, path: LocItem[]): { present: boolean; value: unknown; parent: unknown } {
  let parent: unknown = undefined;
  let value = data;
  for (const step of path) {
    parent = value;
    value = childValue(value, step);
  }
  return { present: value !== undefined, value, parent };
}

// ---------------------------------------------------------------------------------------------
// Python's way of writing values in messages

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

function pyNumber(n: number | bigint): string {
  return String(n).replace(/e([+-])(\d)$/, 'e$10$2');
}

/** `'a'`, `'a' or 'b'`, `'a', 'b' or 'c'`: pydantic's list of expected values. */
function expectedRepr(values: readonly unknown[]): string {
  const reprs = values.map(pyRepr);
  if (reprs.length <= 1) return reprs[0] ?? '';
  return `${reprs.slice(0, -1).join(', ')} or ${reprs[reprs.length - 1]}`;
}

// ---------------------------------------------------------------------------------------------
// Query and path parameters parsed as Pydantic parses them (z.coerce.number() takes "", "0x10"
// and "1e3" as numbers; pydantic rejects them).

function parseIntLikePydantic(v: unknown): unknown {
  if (typeof v !== 'string' || !INT_STRING.test(v)) return v;
  const n = Number(v.trim().replaceAll('_', ''));
  return Number.isFinite(n) ? n : v;
}

function parseFloatLikePydantic(v: unknown): unknown {
  if (typeof v !== 'string' || !FLOAT_STRING.test(v)) return v;
  const t = v.trim().toLowerCase().replaceAll('_', '');
  if (t === 'nan') return Number.NaN;
  if (/^[+-]?inf(inity)?$/.test(t)) return t.startsWith('-') ? -Infinity : Infinity;
  return Number(t);
}

function parseBoolLikePydantic(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  const lower = v.toLowerCase();
  if (TRUE_STRINGS.has(lower)) return true;
  if (FALSE_STRINGS.has(lower)) return false;
  return v;
}

/** An integer query/path parameter: `queryInt(z.int().min(1).max(500)).default(50)`. */
export function queryInt<T extends z.ZodType = z.ZodInt>(schema?: T) {
  return z.preprocess(parseIntLikePydantic, (schema ?? z.int()) as T);
}

/** A number query/path parameter: `queryNumber(z.number().gt(0))`. */
export function queryNumber<T extends z.ZodType = z.ZodNumber>(schema?: T) {
  return z.preprocess(parseFloatLikePydantic, (schema ?? z.number()) as T);
}

/** A boolean query parameter accepting what pydantic accepts (true/false, 1/0, yes/no, on/off, t/f, y/n). */
export function queryBool<T extends z.ZodType = z.ZodBoolean>(schema?: T) {
  return z.preprocess(parseBoolLikePydantic, (schema ?? z.boolean()) as T);
}
