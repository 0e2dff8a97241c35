// Response descriptions shared by the route modules.
import type { z } from '@hono/zod-openapi';

/** A JSON response of `schema` for createRoute's `responses`. */
export const json = <T extends z.ZodType>(schema: T, description: string) => ({
  content: { 'application/json': { schema } },
  description,
});
