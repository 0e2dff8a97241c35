// Reading zod schemas as pydantic types.
import { z } from '@hono/zod-openapi';
import { describe, expect, it } from 'vitest';
import { queryInt } from './query-params.ts';
import { childSchema, isConstrained, kindOf, lookup, schemaAt } from './zod-schema.ts';

describe('kindOf', () => {
  const cases: [string, z.ZodType, string][] = [
    ['string', z.string(), 'str'],
    ['uuid (check)', z.string().uuid(), 'uuid'],
    ['guid (format)', z.guid(), 'uuid'],
    ['int', z.number().int(), 'int'],
    ['z.int()', z.int(), 'int'],
    ['float', z.number(), 'float'],
    ['bool', z.boolean(), 'bool'],
    ['object', z.object({}), 'model'],
    ['record', z.record(z.string(), z.string()), 'dict'],
    ['array', z.array(z.string()), 'list'],
    ['enum', z.enum(['a']), 'enum'],
    ['union', z.union([z.string(), z.int()]), 'union'],
    ['through optional, nullable and default', z.int().nullable().optional().default(1), 'int'],
    ['through preprocess', queryInt(), 'int'],
    ['a kind no schema uses', z.date(), 'unknown'],
  ];
  for (const [name, schema, kind] of cases) it(`${name}: ${kind}`, () => expect(kindOf(schema)).toBe(kind));
  it('knows constrained members', () => expect([isConstrained(z.number().gt(0)), isConstrained(z.number()), isConstrained(z.string().refine(() => true))]).toStrictEqual([true, false, false]));
});

describe('walking a schema with its input', () => {
  const S = z.object({ env: z.record(z.string(), z.int()), cmd: z.union([z.array(z.string()), z.string()]) });
  it('finds fields, record values, list items and the union member the input was meant for', () => {
    expect(kindOf(schemaAt(S, ['env', 'A'], { env: { A: 'x' } }) as z.ZodType)).toBe('int');
    expect(kindOf(schemaAt(S, ['cmd', 0], { cmd: [1] }) as z.ZodType)).toBe('str');
    expect(childSchema(S, 'nope', {})).toBeUndefined();
    expect(childSchema(S, 'toString', {})).toBeUndefined();
  });
  it('reads only own properties of the input', () => {
    expect(lookup({ a: { b: 1 } }, ['a', 'b'])).toStrictEqual({ present: true, value: 1, parent: { b: 1 } });
    expect(lookup({}, ['constructor']).present).toBe(false);
    expect(lookup([5], [0]).value).toBe(5);
  });
});
