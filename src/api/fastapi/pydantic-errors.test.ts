// zod issues as pydantic items, straight from a schema and an input (no HTTP).
import { z } from '@hono/zod-openapi';
import { describe, expect, it } from 'vitest';
import { valueErrorItem, zodIssuesToPydantic } from './pydantic-errors.ts';

function itemsFor(schema: z.ZodType, data: unknown, paramTarget = false) {
  const result = schema.safeParse(data);
  if (result.success) throw new Error('expected the input to fail');
  return zodIssuesToPydantic(result.error.issues, { loc: ['body'], schema, data, paramTarget });
}

const Model = z.strictObject({
  name: z.string().max(3).optional(),
  count: z.int().gte(1).optional(),
  ratio: z.number().lt(1).optional(),
  flag: z.boolean().optional(),
  kind: z.enum(['a', 'b']).optional(),
  tags: z.record(z.string().refine((k) => k !== 'bad', 'no bad keys'), z.string()).optional(),
  items: z.array(z.string()).max(2).optional(),
  ref: z.string().uuid().optional(),
  code: z.string().regex(/^[a-z]+$/).optional(),
  since: z.iso.datetime({ offset: true }).optional(),
  either: z.union([z.int(), z.string().min(2)]).optional(),
  inner: z.strictObject({ x: z.int() }).optional(),
});

describe('zodIssuesToPydantic', () => {
  it('stops converting past the limit and counts the issues left', () => {
    const schema = z.object({ xs: z.array(z.string()) });
    const data = { xs: Array(1000).fill(1) };
    const result = schema.safeParse(data);
    if (result.success) throw new Error('expected issues');
    const items = zodIssuesToPydantic(result.error.issues, { loc: ['body'], schema, data, paramTarget: false }, 10);
    expect(items).toHaveLength(12);
    expect(items[10]).toMatchObject({ type: 'string_type', loc: ['body', 'xs', 10] });
    expect(items[11]).toMatchObject({ type: 'too_many_errors', loc: ['body'], ctx: { left_out: 1000 - 11 } });
  });

  const cases: [string, unknown, unknown[]][] = [
    ['string_too_long', { name: 'abcd' }, [{ type: 'string_too_long', loc: ['body', 'name'], msg: 'String should have at most 3 characters', input: 'abcd', ctx: { max_length: 3 } }]],
    ['int_parsing before any bound', { count: '0x1' }, [{ type: 'int_parsing', loc: ['body', 'count'], msg: 'Input should be a valid integer, unable to parse string as an integer', input: '0x1' }]],
    ['int_from_float', { count: 1.5 }, [{ type: 'int_from_float', loc: ['body', 'count'], msg: 'Input should be a valid integer, got a number with a fractional part', input: 1.5 }]],
    ['int_type for a boolean', { count: true }, [{ type: 'int_type', loc: ['body', 'count'], msg: 'Input should be a valid integer', input: true }]],
    ['less_than', { ratio: 1 }, [{ type: 'less_than', loc: ['body', 'ratio'], msg: 'Input should be less than 1', input: 1, ctx: { lt: 1 } }]],
    ['bool_parsing for a number', { flag: 2 }, [{ type: 'bool_parsing', loc: ['body', 'flag'], msg: 'Input should be a valid boolean, unable to interpret input', input: 2 }]],
    ['bool_type', { flag: [] }, [{ type: 'bool_type', loc: ['body', 'flag'], msg: 'Input should be a valid boolean', input: [] }]],
    ['enum for a wrong type too', { kind: 3 }, [{ type: 'enum', loc: ['body', 'kind'], msg: "Input should be 'a' or 'b'", input: 3, ctx: { expected: "'a' or 'b'" } }]],
    ['a record key', { tags: { bad: 'x' } }, [{ type: 'value_error', loc: ['body', 'tags', 'bad', '[key]'], msg: 'Value error, no bad keys', input: 'bad', ctx: { error: {} } }]],
    ['too_long', { items: ['a', 'b', 'c'] }, [{ type: 'too_long', loc: ['body', 'items'], msg: 'List should have at most 2 items after validation, not 3', input: ['a', 'b', 'c'], ctx: { field_type: 'List', max_length: 2, actual_length: 3 } }]],
    ['uuid_type', { ref: 7 }, [{ type: 'uuid_type', loc: ['body', 'ref'], msg: 'UUID input should be a string, bytes or UUID object', input: 7 }]],
    ['string_pattern_mismatch', { code: 'A' }, [{ type: 'string_pattern_mismatch', loc: ['body', 'code'], msg: "String should match pattern '^[a-z]+$'", input: 'A', ctx: { pattern: '^[a-z]+$' } }]],
    ['datetime_from_date_parsing', { since: 'yesterday' }, [{ type: 'datetime_from_date_parsing', loc: ['body', 'since'], msg: 'Input should be a valid datetime or date, input is too short', input: 'yesterday', ctx: { error: 'input is too short' } }]],
    ['a union: each member under its name', { either: 'x' }, [
      { type: 'int_parsing', loc: ['body', 'either', 'int'], msg: 'Input should be a valid integer, unable to parse string as an integer', input: 'x' },
      { type: 'string_too_short', loc: ['body', 'either', 'constrained-str'], msg: 'String should have at least 2 characters', input: 'x', ctx: { min_length: 2 } },
    ]],
    ['a nested model', { inner: { x: 'y', z: 1 } }, [
      { type: 'int_parsing', loc: ['body', 'inner', 'x'], msg: 'Input should be a valid integer, unable to parse string as an integer', input: 'y' },
      { type: 'extra_forbidden', loc: ['body', 'inner', 'z'], msg: 'Extra inputs are not permitted', input: 1 },
    ]],
    ['missing: the object is the input', { inner: {} }, [{ type: 'missing', loc: ['body', 'inner', 'x'], msg: 'Field required', input: {} }]],
    ['an inherited property is not an input', { constructor: 1 }, [{ type: 'extra_forbidden', loc: ['body', 'constructor'], msg: 'Extra inputs are not permitted', input: 1 }]],
  ];
  for (const [name, data, items] of cases) it(name, () => expect(itemsFor(Model, data)).toStrictEqual(items));

  it('a missing query parameter has input null', () => {
    expect(itemsFor(z.object({ n: z.string() }), {}, true)).toStrictEqual([{ type: 'missing', loc: ['body', 'n'], msg: 'Field required', input: null }]);
  });

  it('builds value_error items for checks done in code', () => {
    expect(valueErrorItem(['body', 'tasks', 0], 'cycle: a -> a', undefined)).toStrictEqual({ type: 'value_error', loc: ['body', 'tasks', 0], msg: 'Value error, cycle: a -> a', input: null, ctx: { error: {} } });
  });
});
