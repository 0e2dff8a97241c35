// Query and path parameters parsed as pydantic parses them: z.coerce.number() takes "", "0x10"
// and "1e3" as numbers, which pydantic refuses for an `int`; z.boolean() takes no string at all.
import { z } from '@hono/zod-openapi';
import { parseBoolLikePydantic, parseIntLikePydantic } from './python-values.ts';

/** An integer query/path parameter: `queryInt(z.int().min(1).max(500)).default(50)`. */
export function queryInt<T extends z.ZodType = z.ZodInt>(schema?: T) {
  return z.preprocess(parseIntLikePydantic, (schema ?? z.int()) as T);
}

/** A boolean query parameter accepting what pydantic accepts (true/false, 1/0, yes/no, on/off, t/f, y/n). */
export function queryBool<T extends z.ZodType = z.ZodBoolean>(schema?: T) {
  return z.preprocess(parseBoolLikePydantic, (schema ?? z.boolean()) as T);
}
