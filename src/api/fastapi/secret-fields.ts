// Body fields that carry a secret (a secret's value, a webhook's signing key): a 422 never echoes
// them. Pydantic echoes the input of every error, the whole body for a missing field; here a
// field marked with secretField() is shown as Pydantic shows a SecretStr, `**********`, wherever
// an error item would carry it.
import type { PydanticErrorItem } from './errors.ts';
import { def, unwrap, type ZodSchema } from './zod-schema.ts';

export const HIDDEN = '**********';
const SECRET = new WeakSet<object>();

/** Marks a body field's schema as a secret: 422 answers show it as `**********`. */
export function secretField<T extends ZodSchema>(schema: T): T {
  SECRET.add(schema);
  return schema;
}

/** The body model's top-level fields marked with secretField(). */
export function secretKeys(body: ZodSchema | undefined): Set<string> {
  const keys = new Set<string>();
  const shape = body ? def(unwrap(body)).shape : undefined;
  for (const [key, field] of Object.entries(shape ?? {})) if (SECRET.has(field) || SECRET.has(unwrap(field))) keys.add(key);
  return keys;
}

/** The items with every secret field's value hidden: at its own location, and inside the body echoed whole. */
export function hideSecrets(items: PydanticErrorItem[], keys: Set<string>): PydanticErrorItem[] {
  if (keys.size === 0) return items;
  return items.map((item) => {
    const [root, field] = item.loc;
    if (root !== 'body') return item;
    // The field itself, or a body that is not an object (raw text, an array of objects, ...),
    // which may hold it anywhere.
    const wholeBodyNotObject = item.loc.length === 1 && item.input !== null && (typeof item.input !== 'object' || Array.isArray(item.input));
    if ((typeof field === 'string' && keys.has(field)) || wholeBodyNotObject) return { ...item, input: HIDDEN };
    if (item.loc.length <= 2 && item.input && typeof item.input === 'object' && !Array.isArray(item.input)) {
      const input = { ...(item.input as Record<string, unknown>) };
      for (const k of keys) if (Object.hasOwn(input, k)) input[k] = HIDDEN;
      return { ...item, input };
    }
    return item;
  });
}
