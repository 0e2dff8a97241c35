// Hostile input against a real `jarvis server`: every route of /openapi.json fuzzed with
// generated paths, queries and bodies (fast-check, fixed seed; JARVIS_FUZZ_SEED replays another),
// with an admin key, a viewer key and none, plus oversized bodies and header abuse over a raw
// socket. Nothing may answer 5xx, and what is refused is not stored.
import { connect } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/database.ts';
import { api, startJarvis } from './support/jarvis.ts';
import { removeLeftovers } from './support/leftovers.ts';

// Redis keys and task containers of this file's processes; first, so that it runs after the
// other after-hooks, once those processes are stopped.
afterAll(removeLeftovers);

const ADMIN = 'hostile-admin-key-0123456789abcdef';
const SEED = Number(process.env.JARVIS_FUZZ_SEED ?? 20261202);

interface Operation {
  method: string;
  path: string;
  params: Array<{ name: string; in: string }>;
  hasBody: boolean;
  /** The statuses /openapi.json says it can answer. */
  documented: Set<number>;
}

/** Strings meant to hurt: NUL, traversal, huge, odd Unicode, numbers that overflow. */
const nasty = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.constantFrom('', '\u0000', 'a\u0000b', '..', '../../etc/passwd', '%00', '%2e%2e%2f', '\uD800', '\uFFFF', '1e400', '-0', 'NaN', '9'.repeat(400), 'null', '{}', '[]'),
  fc.string({ minLength: 5_000, maxLength: 20_000 }),
  fc.uuid(),
);

const jsonish = fc.oneof(
  { maxDepth: 4 },
  fc.jsonValue({ maxDepth: 4 }),
  fc.record({ image: nasty, command: fc.oneof(nasty, fc.array(nasty, { maxLength: 3 })), priority: nasty, resources: fc.jsonValue({ maxDepth: 2 }) }, { requiredKeys: [] }),
  fc.record({ tasks: fc.array(fc.jsonValue({ maxDepth: 3 }), { maxLength: 3 }), name: nasty }, { requiredKeys: [] }),
  fc.record({ name: nasty, role: nasty, tenant: nasty, value: nasty, rate_limit_per_s: fc.jsonValue() }, { requiredKeys: [] }),
);

describe('hostile input', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let jarvis: Awaited<ReturnType<typeof startJarvis>>;
  let ops: Operation[] = [];
  let viewer = '';

  beforeAll(async () => {
    db = await createTestDatabase();
    jarvis = await startJarvis({ command: 'server', databaseUrl: db.url, env: { JARVIS_ADMIN_KEY: ADMIN, JARVIS_RATE_LIMIT_PER_S: '100000' } });
    const doc = (await api(jarvis.url).get('/openapi.json')).body as {
      paths: Record<string, Record<string, { parameters?: Array<{ name: string; in: string }>; requestBody?: unknown; responses?: Record<string, unknown> }>>;
    };
    ops = Object.entries(doc.paths).flatMap(([path, byMethod]) =>
      Object.entries(byMethod).map(([method, op]) => ({
        method: method.toUpperCase(),
        path,
        params: op.parameters ?? [],
        hasBody: op.requestBody !== undefined,
        documented: new Set(Object.keys(op.responses ?? {}).map(Number)),
      })),
    );
    const v = await api(jarvis.url).call('POST', '/auth/keys', { name: 'v', role: 'viewer' }, { authorization: `Bearer ${ADMIN}` });
    viewer = v.body.key;
  });
  afterAll(async () => {
    await jarvis?.stop();
    await db?.drop();
  });

  const send = async (op: Operation, segs: string[], query: Array<[string, string]>, body: unknown, raw: string | null, key: string | null) => {
    let i = 0;
    // A lone surrogate cannot be percent-encoded as UTF-8 (encodeURIComponent throws): send the
    // replacement character instead; the raw-socket test sends the invalid bytes themselves.
    const enc = (x: string) => encodeURIComponent(x.replace(/[\uD800-\uDFFF]/g, '\uFFFD'));
    const path = op.path.replace(/\{[^}]+\}/g, () => enc(segs[i++ % segs.length] ?? 'x'));
    const url = new URL(jarvis.url + path);
    for (const [k, v] of query) url.searchParams.append(k, v);
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (key) headers.authorization = `Bearer ${key}`;
    const res = await fetch(url, { method: op.method, headers, body: op.method === 'GET' || op.method === 'HEAD' ? undefined : (raw ?? JSON.stringify(body)) });
    await res.arrayBuffer();
    return res.status;
  };

  for (const who of ['admin', 'viewer', 'no key'] as const) {
    it(`never answers 5xx to generated requests on every route (${who})`, async () => {
      const seen: string[] = [];
      const undocumented = new Set<string>();
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 0, max: 10_000 }),
          fc.array(nasty, { minLength: 1, maxLength: 2 }),
          fc.array(fc.tuple(fc.oneof(fc.constantFrom('limit', 'offset', 'status', 'label', 'follow', 'tenant', 'since', 'key_id', 'action', 'workflow_id'), nasty), nasty), { maxLength: 4 }),
          jsonish,
          fc.option(fc.oneof(nasty, fc.constant('{"a":'), fc.constant('['.repeat(5000))), { nil: null }),
          async (pick, segs, query, body, raw) => {
            const op = ops[pick % ops.length];
            // Skip the one route that would stop the server working for the rest of the run.
            if (op.method === 'DELETE' && op.path === '/auth/keys/{id}') return;
            const key = who === 'admin' ? ADMIN : who === 'viewer' ? viewer : null;
            const status = await send(op, segs, query, body, raw, key);
            const what = `${op.method} ${op.path} -> ${status} segs=${JSON.stringify(segs).slice(0, 200)} query=${JSON.stringify(query).slice(0, 200)}`;
            if (status >= 500) seen.push(what);
            expect(status, what).toBeLessThan(500);
            // Every answer is one the document gives for the operation; 404 and 405 are the
            // router's for a path that matched no route (as in FastAPI), 431 Node's HTTP server's
            // for a request line over its header limit (as uvicorn's h11 answers it).
            // (A path segment "." or ".." is resolved away by the URL, reaching another route.)
            const resolvedElsewhere = segs.some((s) => s === '.' || s === '..');
            if (!resolvedElsewhere && ![404, 405, 431].includes(status) && !op.documented.has(status)) undocumented.add(`${op.method} ${op.path} -> ${status}`);
          },
        ),
        { seed: SEED, numRuns: 250 },
      );
      expect(seen).toEqual([]);
      expect([...undocumented].sort()).toEqual([]);
    });
  }

  it('answers 413 to a body over the limit, declared or streamed, and stores nothing', async () => {
    const big = JSON.stringify({ image: 'x', command: 'a'.repeat(2 * 1024 * 1024) });
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${ADMIN}` };
    const declared = await fetch(`${jarvis.url}/tasks`, { method: 'POST', headers, body: big });
    expect(declared.status).toBe(413);
    expect(((await declared.json()) as { detail: string }).detail).toMatch(/^Request body too large: the limit is 1048576 bytes \(1 MiB\)/);
    const stream = new ReadableStream({
      start(c) {
        for (let i = 0; i < 40; i++) c.enqueue(new TextEncoder().encode('a'.repeat(64 * 1024)));
        c.close();
      },
    });
    const streamed = await fetch(`${jarvis.url}/tasks`, { method: 'POST', headers, body: stream, duplex: 'half' } as RequestInit);
    expect(streamed.status).toBe(413);
    const list = await api(jarvis.url).call('GET', '/tasks', undefined, { authorization: `Bearer ${ADMIN}` });
    expect(list.body.total).toBe(0);
  });

  it('survives header and path abuse over a raw socket', async () => {
    const { port } = new URL(jarvis.url);
    const raw = (text: string) =>
      new Promise<string>((resolve) => {
        const s = connect(Number(port), '127.0.0.1', () => s.write(text));
        let out = '';
        s.on('data', (d) => (out += d));
        s.on('end', () => resolve(out));
        s.on('error', () => resolve(out));
        setTimeout(() => {
          s.destroy();
          resolve(out);
        }, 5_000);
      });
    const status = (res: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(res)?.[1] ?? 0);
    const cases = [
      `GET /tasks/..%2F..%2Fetc%2Fpasswd HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ADMIN}\r\nConnection: close\r\n\r\n`,
      `GET /tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${'a'.repeat(12_000)}\r\nConnection: close\r\n\r\n`,
      `GET /tasks/%00 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ADMIN}\r\nConnection: close\r\n\r\n`,
      `GET /tasks/%ED%A0%80?status=%FF HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ADMIN}\r\nConnection: close\r\n\r\n`,
      `GET /${'a/'.repeat(3000)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
      `POST /tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ADMIN}\r\nContent-Type: application/json\r\nContent-Length: 5\r\nConnection: close\r\n\r\n{"a":`,
      `GET /tasks HTTP/1.1\r\nHost: x\r\nX-Junk: a\u0001b\r\nConnection: close\r\n\r\n`,
    ];
    for (const c of cases) {
      const s = status(await raw(c));
      expect(s, c.slice(0, 80)).toBeGreaterThanOrEqual(400);
      expect(s, c.slice(0, 80)).toBeLessThan(500);
    }
    // Still serving (a raw socket too: a pooled fetch socket may be the one a 413 closed).
    expect(status(await raw('GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'))).toBe(200);
  });
});
