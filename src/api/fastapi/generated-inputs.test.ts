// No input makes the layer answer 500: seeded random requests to Jarvis's routes (real schemas),
// with bodies, paths and queries built from awkward values (NUL, lone surrogates, huge numbers
// and strings, deep nesting, prototype keys, bad bytes). Each answer must be one FastAPI gives
// (200, 307, 400, 404, 405, 415, 422) with a well-formed body, and nothing may reach the log as an
// unhandled error. A failure prints its seed and request; JARVIS_FUZZ_SEED replays one.
import { describe, expect, it } from 'vitest';
import { jarvisRequestRoutes, testApp } from '../../../test/support/fastapi-app.ts';
import * as schemas from '../schemas.ts';

const RUNS = 1500;
const SEED = Number(process.env.JARVIS_FUZZ_SEED ?? 20261202);

/** mulberry32: a small seeded generator, so a failure can be replayed. */
function generator(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T,>(xs: readonly T[]): T => xs[int(xs.length)] as T;
  return { next, int, pick };
}
type Gen = ReturnType<typeof generator>;

const FIELDS = [
  'image', 'command', 'name', 'env', 'priority', 'resources', 'cpu', 'memory', 'memory_mb', 'gpu', 'timeout_seconds', 'max_retries',
  'retry_backoff_seconds', 'node_selector', 'labels', 'idempotency_key', 'network', 'tasks', 'key', 'depends_on', 'on_failure',
  'max_parallel', 'hostname', 'capacity', 'max_tasks', 'cpu_percent', 'memory_used_mb', 'running_task_ids', 'engine',
  '__proto__', 'constructor', 'toString', '', 'a\u0000b', '\ud800',
];
const STRINGS = ['', 'x', '\u0000', 'a\u0000b', '\ud800', '\udfff\ud800', '😀', '500m', '1Gi', '-1', '1e999', ' 7 ', 'true', 'null', '{}', '[]', '%', '%00', 'é'];
const NUMBERS = [0, -0, 1, -1, 0.5, 1e308, -1e308, 5e-324, 2 ** 31, 2 ** 53 + 2, -(2 ** 63), 1e21, 123456.789];
const NUMBER_LITERALS = ['1e999', '-1e999', '123456789012345678901234567890', '1E+400', '-0', '0.0000000000000000000000001'];

function value(g: Gen, depth: number): unknown {
  switch (depth > 3 ? g.int(4) : g.int(9)) {
    case 0:
      return g.pick(STRINGS);
    case 1:
      return g.pick(NUMBERS);
    case 2:
      return g.pick([true, false, null]);
    case 3:
      return g.int(20) === 0 ? 'x'.repeat(100_000) : g.pick(STRINGS) + g.pick(STRINGS);
    case 4:
    case 5:
      return Array.from({ length: g.int(4) }, () => value(g, depth + 1));
    case 6:
      return nested(g, 1 + g.int(g.int(4) === 0 ? 1500 : 20));
    default:
      return object(g, depth + 1);
  }
}

function object(g: Gen, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = g.int(5); i > 0; i--) Object.defineProperty(out, g.pick(FIELDS), { value: value(g, depth), enumerable: true, configurable: true, writable: true });
  return out;
}

function nested(g: Gen, depth: number): unknown {
  let v: unknown = g.pick(STRINGS);
  for (let i = 0; i < depth; i++) v = g.int(2) ? [v] : { [g.pick(FIELDS)]: v };
  return v;
}

const VALID_BODIES: Record<string, () => Record<string, unknown>> = {
  '/tasks': () => ({ image: 'busybox', command: ['true'] }),
  '/tasks/batch': () => ({ tasks: [{ image: 'busybox' }] }),
  '/workflows': () => ({ tasks: [{ key: 'a', image: 'busybox' }] }),
  '/nodes/register': () => ({ name: 'n', hostname: 'h', capacity: { cpu: 1, memory_mb: 64, max_tasks: 1 } }),
  heartbeat: () => ({ cpu_percent: 1, running_task_ids: [] }),
};

function body(g: Gen, path: string): string | Uint8Array | undefined {
  switch (g.int(8)) {
    case 0:
      return undefined;
    case 1:
      return Uint8Array.from({ length: g.int(20) }, () => g.int(256));
    case 2: {
      const text = JSON.stringify(value(g, 0)) ?? 'null';
      return text.slice(0, g.int(text.length + 1)); // truncated JSON
    }
    case 3:
      return `{"image": "busybox", "${g.pick(['timeout_seconds', 'max_retries', 'retry_backoff_seconds', 'memory_mb', 'cpu'])}": ${g.pick(NUMBER_LITERALS)}}`;
    case 4: {
      // Nested deeper than JSON.stringify can write back, balanced or cut short.
      const depth = 1 + g.int(20_000);
      const [open, close] = g.pick([['[', ']'], ['{"a":', '}']]);
      const text = `{"image": "busybox", "${g.pick(FIELDS)}": ${open.repeat(depth)}1${close.repeat(depth)}}`;
      return g.int(3) ? text : text.slice(0, g.int(text.length));
    }
    default: {
      const base = (VALID_BODIES[path.endsWith('/heartbeat') ? 'heartbeat' : path] ?? VALID_BODIES['/tasks'])?.() ?? {};
      for (let i = 1 + g.int(3); i > 0; i--) base[g.pick(FIELDS)] = value(g, 1);
      if (Array.isArray(base.tasks) && g.int(2)) base.tasks.push(object(g, 1));
      return JSON.stringify(base);
    }
  }
}

const ID = '3fa85f64-5717-4562-b3fc-2c963f66afa6';
const SEGMENTS = [ID, ID.toUpperCase(), 'x', '%00', '%FF', '%', '%E9', encodeURIComponent('\u0000\ud7ff'), 'a'.repeat(5000), '', 'register'];
const PATHS = ['/tasks', '/tasks/batch', '/tasks/{id}/logs', '/tasks/{id}/cancel', '/workflows', '/workflows/{id}', '/nodes/register', '/nodes/{id}/heartbeat', '/tasks/{id}', '/nope'];
const QUERY_KEYS = ['limit', 'offset', 'status', 'workflow_id', 'node_id', 'label', 'follow', 'x', ''];
const QUERY_VALUES = ['', '1', '0', '-1', '501', '1e2', '9'.repeat(400), 'queued', 'done', 'a:b', ':', 'yes', 'maybe', '%00', '%FF', ID, '1_0', ' 3 '];
const CONTENT_TYPES = ['application/json', 'application/json', null, 'text/plain', 'application/vnd.api+json', 'application/json; charset=latin-1', 'multipart/form-data', 'garbage'];

function request(g: Gen): { path: string; init: RequestInit } {
  const path = g.pick(PATHS).replace('{id}', g.pick(SEGMENTS));
  const query = Array.from({ length: g.int(4) }, () => `${g.pick(QUERY_KEYS)}=${g.pick(QUERY_VALUES)}`).join('&');
  const method = g.int(5) === 0 ? g.pick(['GET', 'PUT', 'DELETE', 'PATCH', 'HEAD']) : path.startsWith('/tasks?') || g.int(3) === 0 ? 'GET' : 'POST';
  const headers = new Headers();
  const contentType = g.pick(CONTENT_TYPES);
  if (contentType) headers.set('content-type', contentType);
  const sent = method === 'GET' || method === 'HEAD' ? undefined : body(g, path);
  return { path: query ? `${path}?${query}` : path, init: { method, headers, body: typeof sent === 'string' ? new TextEncoder().encode(sent) : sent } };
}

const FASTAPI_STATUSES = new Set([200, 307, 400, 404, 405, 415, 422]);

describe('generated inputs', () => {
  it(`${RUNS} seeded requests (seed ${SEED}): never a 500, always a FastAPI-shaped answer`, async () => {
    const { app, logged } = testApp(jarvisRequestRoutes(schemas));
    const g = generator(SEED);
    const statuses = new Map<number, number>();
    for (let run = 0; run < RUNS; run++) {
      const { path, init } = request(g);
      const res = await app.request(path, init);
      const text = await res.text();
      const context = `run ${run} (seed ${SEED}): ${init.method} ${path.slice(0, 200)} -> ${res.status} ${text.slice(0, 300)}`;
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      expect(FASTAPI_STATUSES.has(res.status), context).toBe(true);
      expect(logged, context).toStrictEqual([]);
      if (init.method === 'HEAD' || res.status === 307) continue;
      const parsed = JSON.parse(text) as { detail?: unknown };
      if (res.status === 422) {
        expect(Array.isArray(parsed.detail), context).toBe(true);
        for (const item of parsed.detail as Record<string, unknown>[]) {
          expect(typeof item.type === 'string' && typeof item.msg === 'string' && Array.isArray(item.loc) && 'input' in item, context).toBe(true);
        }
      } else if (res.status !== 200) {
        expect(typeof parsed.detail, context).toBe('string');
      }
    }
    // The generator reaches the answers that matter, not only 404s.
    for (const status of [200, 400, 404, 405, 422]) expect(statuses.get(status) ?? 0, `status ${status}: ${JSON.stringify([...statuses])}`).toBeGreaterThan(10);
  });
});
