// Table-driven HTTP tests: each row is one request and what a client must see (status, JSON body,
// headers). The same rows run against an app in process (src/api/fastapi/*.test.ts) or
// against a real server over HTTP (`overHttp(url)`, test/fastapi-parity.e2e.test.ts).
import { expect, it } from 'vitest';

export interface HttpTableRow {
  name: string;
  method: string;
  path: string;
  /** A string is sent byte for byte; a Uint8Array as is; anything else JSON-encoded. */
  body?: unknown;
  /**
   * Request Content-Type. Defaults to application/json when there is a body; `null` sends none
   * (the body then goes out as bytes, so fetch does not add text/plain itself).
   */
  contentType?: string | null;
  headers?: Record<string, string>;
  status: number;
  /** The exact JSON body, or a function of it that returns false (or throws) when it is wrong. */
  json?: unknown;
  /** The raw body: exact text, a pattern, or a function that returns false (or throws) when it is wrong. */
  text?: string | RegExp | ((text: string) => boolean | void);
  /** Response headers: exact value, a pattern, or null for "absent". */
  responseHeaders?: Record<string, string | RegExp | null>;
}

/** Anything with Hono's `request()`: an app, or a wrapper around a running server. */
export interface RequestableApp {
  request(input: string, init?: RequestInit): Response | Promise<Response>;
}

/**
 * A running server as a RequestableApp: each row goes out over real HTTP with `fetch` against
 * `baseUrl` (e.g. `http://127.0.0.1:8000`). Redirects are not followed, so a 307 row sees the 307.
 */
export function overHttp(baseUrl: string): RequestableApp {
  const base = baseUrl.replace(/\/+$/, '');
  return {
    request: (input, init) => fetch(base + input, { ...init, redirect: 'manual' }),
  };
}

type AppSource = RequestableApp | (() => RequestableApp | Promise<RequestableApp>);

/** Registers one test per row, in the surrounding `describe`. */
export function runTable(app: AppSource, rows: readonly HttpTableRow[]): void {
  for (const row of rows) {
    it(row.name, async () => {
      const target = typeof app === 'function' ? await app() : app;
      await checkRow(target, row);
    });
  }
}

export async function sendRow(app: RequestableApp, row: HttpTableRow): Promise<Response> {
  const headers = new Headers(row.headers);
  let body: string | Uint8Array | undefined;
  if (row.body !== undefined) {
    body = typeof row.body === 'string' || row.body instanceof Uint8Array ? row.body : JSON.stringify(row.body);
    if (row.contentType === null) {
      if (typeof body === 'string') body = new TextEncoder().encode(body);
    } else {
      headers.set('content-type', row.contentType ?? 'application/json');
    }
  } else if (row.contentType) {
    headers.set('content-type', row.contentType);
  }
  return app.request(row.path, { method: row.method, headers, body });
}

export async function checkRow(app: RequestableApp, row: HttpTableRow): Promise<void> {
  const res = await sendRow(app, row);
  const text = await res.text();
  const context = `${row.method} ${row.path} -> ${res.status} ${text.slice(0, 2000)}`;
  expect(res.status, context).toBe(row.status);

  if (row.json !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new Error(`expected a JSON body: ${context}`);
    }
    if (typeof row.json === 'function') {
      expect((row.json as (body: unknown) => boolean | void)(parsed), context).not.toBe(false);
    } else {
      expect(parsed, context).toStrictEqual(row.json);
    }
  }

  if (row.text !== undefined) {
    if (typeof row.text === 'function') expect(row.text(text), context).not.toBe(false);
    else if (row.text instanceof RegExp) expect(text, context).toMatch(row.text);
    else expect(text, context).toBe(row.text);
  }

  for (const [name, expected] of Object.entries(row.responseHeaders ?? {})) {
    const actual = res.headers.get(name);
    if (expected === null) expect(actual, `${name} header: ${context}`).toBeNull();
    else if (expected instanceof RegExp) expect(actual ?? '', `${name} header: ${context}`).toMatch(expected);
    else expect(actual, `${name} header: ${context}`).toBe(expected);
  }
}
