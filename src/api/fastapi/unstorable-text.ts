// Text PostgreSQL cannot store: the NUL character (text and jsonb refuse it) and an unpaired
// UTF-16 surrogate (jsonb refuses its \ud800 escape; a text column would get U+FFFD instead of
// what was sent). Pydantic accepts both, and FastAPI in front of PostgreSQL answers 500; here every
// string of a request — path, query, a body's keys and values at any depth — is checked once, as
// the request is read, and a request the schemas accept that holds one is answered 422 before
// any store sees it (one they refuse gets their own errors, as FastAPI gives them).
// Field schemas still say so for their own fields (Text() in schemas.ts); this is the net under
// every field, including those added later. So is a `__proto__` key, which the schemas' copies
// would drop without a word.
import type { LocItem, PydanticErrorItem } from './errors.ts';
import { UNPAIRED_SURROGATE } from '../../domain/storable-text.ts';

const NUL = 'Value error, must not contain the NUL character (\\u0000)';
const SURROGATE = 'Value error, must not contain an unpaired UTF-16 surrogate (\\ud800-\\udfff), which cannot be stored';

function problem(s: string): string | null {
  if (s.includes('\u0000')) return NUL;
  return UNPAIRED_SURROGATE.test(s) ? SURROGATE : null;
}

/**
 * JSON can carry NUL or a surrogate only as an escape, `\u0000` or `\ud800`-`\udfff`, so a body
 * text without one (or `__proto__`) has neither and is not walked: the common case, and the
 * escaped non-ASCII text of Python's json.dumps (`\u00e9`) too.
 */
const MAY_HOLD = /\\u(?:0000|[dD][89a-fA-F])|__proto__/;
export function mayHoldUnstorable(jsonText: string): boolean {
  return MAY_HOLD.test(jsonText);
}

/**
 * A `__proto__` key: JSON.parse keeps it as a key, but copying the object (as the schemas do for
 * labels, env, selectors) sets the copy's prototype instead, and the key vanished from what was
 * stored while the answer was 201.
 */
const PROTO = 'Value error, "__proto__" is not accepted as a key';

/** 422 items for every unstorable string of a parsed JSON body, keys too. */
export function unstorableInBody(value: unknown): PydanticErrorItem[] {
  const items: PydanticErrorItem[] = [];
  // Iterative: a body may nest thousands deep before the depth check refuses it.
  const stack: Array<{ v: unknown; loc: LocItem[] }> = [{ v: value, loc: ['body'] }];
  while (stack.length > 0) {
    const { v, loc } = stack.pop()!;
    if (typeof v === 'string') {
      const msg = problem(v);
      if (msg) items.push({ type: 'value_error', loc, msg, input: v, ctx: { error: {} } });
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i], loc: [...loc, i] });
    } else if (v !== null && typeof v === 'object') {
      const entries = Object.entries(v as Record<string, unknown>);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [k, child] = entries[i];
        stack.push({ v: child, loc: [...loc, k] });
        const msg = k === '__proto__' ? PROTO : problem(k);
        if (msg) items.push({ type: 'value_error', loc: [...loc, k, '[key]'], msg, input: k, ctx: { error: {} } });
      }
    }
  }
  return items;
}

/** 422 items for unstorable path and query values (a %00 decodes to NUL). */
export function unstorableInParams(where: 'path' | 'query', values: Record<string, string | string[]>): PydanticErrorItem[] {
  const items: PydanticErrorItem[] = [];
  for (const [name, value] of Object.entries(values)) {
    const list = [value].flat();
    list.forEach((v, i) => {
      const msg = problem(v);
      if (msg) items.push({ type: 'value_error', loc: Array.isArray(value) ? [where, name, i] : [where, name], msg, input: v, ctx: { error: {} } });
    });
  }
  return items;
}
