// Body fields read in pydantic's default (lax) mode: an int field takes 60, 60.0, "60", " 60 ",
// "60.0" and true/false (as 1/0); a float field takes numbers, "1.5", "1e3" and true/false.
// Strings that are not numbers stay strings, so the error is pydantic's int_parsing /
// float_parsing. Non-finite strings ("inf", "nan") are left for the schema to refuse: Jarvis
// keeps numbers finite (docs/fastapi-parity.md, non-finite-numbers).
import { z } from '@hono/zod-openapi';
import { FLOAT_STRING, parseIntLikePydantic } from './python-values.ts';

function laxIntValue(v: unknown): unknown {
  if (typeof v === 'boolean') return v ? 1 : 0;
  return parseIntLikePydantic(v);
}

function laxFloatValue(v: unknown): unknown {
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v !== 'string' || !FLOAT_STRING.test(v)) return v;
  const n = Number(v.trim().replaceAll('_', ''));
  return Number.isFinite(n) ? n : v;
}

/** An int body field in lax mode: `laxInt(z.number().int().gte(0))`. */
export function laxInt<T extends z.ZodType>(schema: T) {
  return z.preprocess(laxIntValue, schema);
}

/** A float body field in lax mode: `laxFloat(z.number().gt(0))`. */
export function laxFloat<T extends z.ZodType>(schema: T) {
  return z.preprocess(laxFloatValue, schema);
}
