// Shared shapes of the FastAPI differential test (test/fastapi-diff.e2e.test.ts).

/* eslint-disable @typescript-eslint/no-explicit-any */
export type Schema = Record<string, any>;
export interface OpenApi {
  paths: Record<string, Record<string, { parameters?: Schema[]; requestBody?: Schema }>>;
  components: { schemas: Record<string, Schema> };
}
/* eslint-enable @typescript-eslint/no-explicit-any */

/** One request, sent the same to both servers. */
export interface Case {
  /** What was varied: "wrong type", "coercible", "missing", "405", "malformed json", … */
  kind: string;
  /** "POST /tasks/{id}/cancel": the route template the request aims at. */
  route: string;
  /** The field, query or path parameter varied ("resources.cpu", "tasks.0.image", "?limit"). */
  field: string;
  method: string;
  /** Path and query string, as sent. */
  path: string;
  /** Raw body text (already JSON-encoded, or deliberately not JSON). */
  body?: string;
  headers?: Record<string, string>;
}

export const RAW = Symbol('raw JSON');
/** A JSON number written as is (1e400, 5.0): JSON.stringify cannot keep these. */
export const raw = (text: string) => ({ [RAW]: text });
