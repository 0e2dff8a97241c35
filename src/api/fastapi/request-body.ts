// A request body read the way FastAPI reads it for a route whose body is a required JSON model:
// JSON with no content type or `application/json` / `application/*+json`; the raw text (which
// then fails the model) with any other; empty or JSON `null` is a missing body. Unreadable
// bodies are answered alone, before any validation: bad UTF-8 or JSON nested deeper than
// Python's recursion limit is 400, malformed JSON a 422 json_invalid with Python's message.
// The nesting of JSON that parsed is checked only when the request is found invalid (no schema
// of the API accepts more than a few levels, so a deep body always is), which keeps a scan of
// every large valid body (a 10,000-task workflow) off the path of requests that succeed.
import { HttpError, RequestValidationError, type PydanticErrorItem } from './errors.ts';
import { nestsDeeperThan, pythonJsonDecodeError } from './json-decode-error.ts';

/** How the request body looked to FastAPI's rules, before any schema saw it. */
export type RequestBody =
  /** Parsed JSON, not null, and its text. */
  | { kind: 'json'; value: unknown; text: string }
  /** Absent (empty, or JSON `null`): one `missing` item at `["body"]`. */
  | { kind: 'missing' }
  /** A non-JSON content type: FastAPI validates the raw text against the model. */
  | { kind: 'raw'; text: string }
  /** Unreadable: answered with this error alone. */
  | { kind: 'invalid'; error: HttpError | RequestValidationError };

/**
 * Python's json.loads gives up at its recursion limit (1000 frames by default, a few of which the
 * server's own stack takes), and FastAPI answers that 400 "There was an error parsing the body".
 * Shallower bodies are validated and echoed in the 422 as usual.
 */
export const MAX_JSON_DEPTH = 1000;

const PARSE_ERROR = 'There was an error parsing the body';
/** Decoders keep no state between calls made without `stream`: one of each serves every request. */
const STRICT = new TextDecoder('utf-8', { fatal: true });
const LENIENT = new TextDecoder();

export function readRequestBody(bytes: Uint8Array, contentType: string | null): RequestBody {
  if (bytes.length === 0) return { kind: 'missing' };
  if (contentType !== null && !fastApiReadsAsJson(contentType)) {
    return { kind: 'raw', text: LENIENT.decode(bytes) };
  }
  let text: string;
  try {
    text = STRICT.decode(bytes);
  } catch (err) {
    return { kind: 'invalid', error: new HttpError(400, PARSE_ERROR, { cause: err }) };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    const failure = pythonJsonDecodeError(text, MAX_JSON_DEPTH) ?? { msg: 'Expecting value', pos: 0 };
    if (failure === 'too_deep') return { kind: 'invalid', error: new HttpError(400, PARSE_ERROR) };
    const item: PydanticErrorItem = { type: 'json_invalid', loc: ['body', failure.pos], msg: 'JSON decode error', input: {}, ctx: { error: failure.msg } };
    return { kind: 'invalid', error: new RequestValidationError([item]) };
  }
  return value === null ? { kind: 'missing' } : { kind: 'json', value, text };
}

/** Throws FastAPI's 400 for a JSON body nested deeper than Python's json.loads parses. */
export function refuseDeepNesting(body: RequestBody | undefined): void {
  if (body?.kind === 'json' && nestsDeeperThan(body.text, MAX_JSON_DEPTH)) throw new HttpError(400, PARSE_ERROR);
}

/** FastAPI parses the body as JSON with no content type, or `application/json` / `application/*+json`. */
export function fastApiReadsAsJson(contentType: string): boolean {
  const [essence = ''] = contentType.split(';');
  const [main, sub] = essence.trim().toLowerCase().split('/');
  return main === 'application' && sub !== undefined && (sub === 'json' || sub.endsWith('+json'));
}
