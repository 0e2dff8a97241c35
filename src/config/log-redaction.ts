// What a log line may say of a URL or an error: no password, no query parameter (a node's token,
// a key's hash, a secret's sealed value are all bound parameters of some query), no Redis
// command's arguments (a failed AUTH carries the password in them).
import { stdSerializers } from 'pino';

/** Query-string names that carry a credential in a PostgreSQL or Redis URL. */
const SECRET_PARAMS = /^(password|pass|sslpassword|sslkey|sslcert|token|secret)$/i;

/** A URL fit for a log line: its password, and any credential in its query, replaced by ***; as given when it has none. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    let hidden = false;
    if (u.password) {
      u.password = '***';
      hidden = true;
    }
    for (const key of [...u.searchParams.keys()]) {
      if (SECRET_PARAMS.test(key)) {
        u.searchParams.set(key, '***');
        hidden = true;
      }
    }
    return hidden ? u.toString() : url;
  } catch {
    return '(unparseable URL)';
  }
}

/** host:port of a URL, for messages that need no more (a client's 503). */
export function hostOf(url: string, defaultPort: number): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || defaultPort}`;
  } catch {
    return '(unparseable URL)';
  }
}

interface QueryError extends Error {
  query: string;
  params: unknown[];
}

/** drizzle-orm's DrizzleQueryError: its message and stack end with every bound parameter. */
function isQueryError(err: unknown): err is QueryError {
  return err instanceof Error && typeof (err as QueryError).query === 'string' && Array.isArray((err as QueryError).params);
}

/** The error, or a copy of it without the parameters of a failed query, at any depth of its causes. */
export function withoutQueryParams(err: unknown, depth = 0): unknown {
  if (!(err instanceof Error) || depth > 8) return err;
  const cause = withoutQueryParams(err.cause, depth + 1);
  if (!isQueryError(err)) {
    if (cause === err.cause) return err;
    const copy = Object.assign(Object.create(Object.getPrototypeOf(err) as object) as Error, err);
    copy.message = err.message;
    copy.stack = err.stack;
    copy.cause = cause;
    return copy;
  }
  const message = `Failed query: ${err.query}`;
  const copy = new Error(message, { cause });
  copy.name = err.name;
  // The stack begins with the message it was made with: put the shorter one in its place.
  copy.stack = err.stack?.startsWith(`${err.name}: ${err.message}`) ? `${err.name}: ${message}${err.stack.slice(err.name.length + 2 + err.message.length)}` : message;
  Object.assign(copy, { query: err.query });
  return copy;
}

/** pino's `err` serializer, which first drops what must not be logged (see the top of this file). */
export function errSerializer(err: unknown): unknown {
  const safe = withoutQueryParams(err);
  if (!(safe instanceof Error)) {
    // Some lines log `{ err: { message } }`: the message is cut before a query's parameters.
    if (safe && typeof safe === 'object' && typeof (safe as { message?: unknown }).message === 'string') {
      const m = (safe as { message: string }).message;
      const at = m.indexOf('\nparams: ');
      return at < 0 ? safe : { ...safe, message: m.slice(0, at) };
    }
    return safe;
  }
  const out = stdSerializers.err(safe) as unknown as Record<string, unknown>;
  const command = out.command as { name?: unknown } | undefined;
  if (command && typeof command === 'object') out.command = { name: command.name };
  delete out.params;
  return out;
}
