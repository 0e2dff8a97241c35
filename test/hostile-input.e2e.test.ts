// Hostile input against a real `jarvis server`: every route of /openapi.json fuzzed with
// generated paths, queries and bodies (fast-check, fixed seed; JARVIS_FUZZ_SEED replays another),
// with an admin key, a viewer key and none, plus oversized bodies and header abuse over a raw
// socket. Nothing may answer 5xx, and what is refused is not stored.
//
// Deep, schema-driven part: for every operation with a body, a valid body built from its schema
// (hand-written where the server refuses the schema's example; each checked to be accepted) with
// one place made hostile at a time (test/support/hostile-values.ts): every leaf, object, record
// map (labels, env, node_selector…) and array, with each hostile value its type calls for, then
// random ones; every query and path parameter of every operation likewise, the rest of the request
// valid; and a few headers. Each answer: below 500; a 4xx in FastAPI's shape that stored nothing
// (the database's rows compared before and after); after a 2xx the reads that aggregate data
// still answer; no answer echoes a secret field; the server logs no error (one logged by
// background work, the audit trail's batched writes, is traced to its request by sending the
// requests before it again). Every rule broken is collected and the test fails with all of them,
// each naming the route, the place and the value (and the server's log line of a 500).
// JARVIS_FUZZ_ROUTE=substring keeps the routes whose "METHOD /path" holds it.
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/database.ts';
import {
  applyMutation,
  describeMutation,
  hostileParams,
  mutationArbitrary,
  randomParam,
  SchemaBook,
  sweep,
  type HostileParam,
  type Json,
  type JsonSchema,
  type Mutation,
} from './support/hostile-values.ts';
import { api, startJarvis } from './support/jarvis.ts';
import { changedTables, storedRows } from './support/stored-rows.ts';
import { removeLeftovers } from './support/leftovers.ts';

// Redis keys and task containers of this file's processes; first, so that it runs after the
// other after-hooks, once those processes are stopped.
afterAll(removeLeftovers);

const ADMIN = 'hostile-admin-key-0123456789abcdef';
const SEED = Number(process.env.JARVIS_FUZZ_SEED ?? 20261202);
/** Random mutations per seed body (after the sweep), and random values per parameter; JARVIS_FUZZ_RUNS for a deeper search. */
const RANDOM_BODY_RUNS = Number(process.env.JARVIS_FUZZ_RUNS ?? 15);
const RANDOM_PARAM_RUNS = Math.ceil(RANDOM_BODY_RUNS / 5);
/** A test's time limit: room for a loaded machine, and for a deeper search. */
const LONG = 240_000 * Math.max(1, RANDOM_BODY_RUNS / 15);
/** Only the operations whose "METHOD /path" contains this (to replay one route's problems). */
const ONLY = process.env.JARVIS_FUZZ_ROUTE ?? '';

interface Param {
  name: string;
  in: string;
  required?: boolean;
  schema?: JsonSchema;
}

interface Operation {
  method: string;
  path: string;
  params: Param[];
  hasBody: boolean;
  body?: JsonSchema;
  /** The statuses /openapi.json says it can answer. */
  documented: Set<number>;
  /** Authenticated with a node's token (the one registration answered with), not a key. */
  nodeAuth: boolean;
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
  let book: SchemaBook;
  let viewer = '';

  beforeAll(async () => {
    db = await createTestDatabase();
    jarvis = await startJarvis({
      command: 'server',
      databaseUrl: db.url,
      // A secret key, so that secrets and webhooks are stored (without one they answer 503); the
      // reconciler seldom, as nothing here is ever placed (thousands of tasks wait for no node).
      env: { JARVIS_ADMIN_KEY: ADMIN, JARVIS_RATE_LIMIT_PER_S: '100000', JARVIS_SECRET_KEY: randomBytes(32).toString('base64'), JARVIS_RECONCILE_SECONDS: '30' },
    });
    const doc = (await api(jarvis.url).get('/openapi.json')).body as {
      paths: Record<string, Record<string, { parameters?: Param[]; requestBody?: { content?: Record<string, { schema?: JsonSchema }> }; responses?: Record<string, { description?: string }> }>>;
      components: { schemas: Record<string, JsonSchema> };
    };
    book = new SchemaBook(doc.components.schemas);
    ops = Object.entries(doc.paths).flatMap(([path, byMethod]) =>
      Object.entries(byMethod).map(([method, op]) => ({
        method: method.toUpperCase(),
        path,
        params: op.parameters ?? [],
        hasBody: op.requestBody !== undefined,
        body: op.requestBody?.content?.['application/json']?.schema,
        documented: new Set(Object.keys(op.responses ?? {}).map(Number)),
        nodeAuth: /node token/i.test(op.responses?.['401']?.description ?? ''),
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
    const before = (await api(jarvis.url).call('GET', '/tasks', undefined, { authorization: `Bearer ${ADMIN}` })).body.total;
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
    expect(list.body.total).toBe(before);
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

  describe('schema-driven, one hostile place at a time', () => {
    const auth = { authorization: `Bearer ${ADMIN}` };
    let sql: pg.Client;
    /** Resources the requests' paths name: `live` ones for reads, `doomed` ones for what may change or delete them. */
    const fixtures: Record<'live' | 'doomed', Record<string, string>> = { live: {}, doomed: {} };
    const nodeTokens = new Map<string, string>();
    /** Per operation with a body: its seed bodies (accepted ones, unless it cannot accept), path and credentials. */
    const targets: Target[] = [];
    const unseeded: string[] = [];
    /** This test's rule breaks. */
    let problems = new Problems();
    beforeEach(() => {
      problems = new Problems();
    });
    /** Kinds of place (and of parameter) swept already: later ones of a kind get the reaching tier only. */
    const seenKinds = new Set<string>();
    let uniq = 0;
    /** The rows as the last request left them. */
    let lastPrint = '';
    /** Accepted requests whose effect on the reads is not checked yet (checked ten at a time). */
    let unread: Accepted[] = [];
    /** Reads broken for good (still broken once what was accepted is taken back): not checked again. */
    const brokenReads = new Set<string>();
    const stats = { requests: 0, accepted: 0 };

    /** The answer to a request; its body parsed, its request id kept for the log. */
    const request = async (method: string, url: string, headers: Record<string, string>, body?: string) => {
      const abort = new AbortController();
      const init = { method, headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers }, body, signal: abort.signal };
      // A pooled connection the server closed after an answer (413, 431) fails the next request
      // sent on it before it is read: sent again, on a new connection.
      const res = await fetch(jarvis.url + url, init).catch(() => fetch(jarvis.url + url, init));
      // A stream (GET /tasks/{id}/logs?follow=true, a task that never ends) is cut after a while,
      // its connection closed (else the server's shutdown waits for it).
      let timer: NodeJS.Timeout | undefined;
      const cut = new Promise<string>((resolve) => {
        timer = setTimeout(() => {
          abort.abort();
          resolve('(a stream, cut after 2 s)');
        }, 2_000);
      });
      const text = await Promise.race([res.text().catch(() => ''), cut]).finally(() => clearTimeout(timer));
      let json: unknown = undefined;
      try {
        json = JSON.parse(text);
      } catch {
        // Not JSON: judged as such.
      }
      return { status: res.status, text, json, contentType: res.headers.get('content-type') ?? '', requestId: res.headers.get('x-request-id') ?? '' };
    };

    /** The server's log line for a request id (its error line for a 500), shortened. */
    const logLine = async (requestId: string): Promise<string> => {
      if (!requestId) return '(no request id)';
      const needle = `"request_id":"${requestId}"`;
      await jarvis.waitFor(new RegExp(needle), 2_000).catch(() => undefined);
      const out = jarvis.output();
      for (let i = out.indexOf(needle); i >= 0; i = out.indexOf(needle, i + 1)) {
        const line = out.slice(out.lastIndexOf('\n', i) + 1, out.indexOf('\n', i) < 0 ? undefined : out.indexOf('\n', i));
        if (line.includes('"msg":"request"')) continue;
        try {
          // The message's start (a failed query's is long), and the cause: the stack's "caused
          // by", or else the message's end (where a failed query's error is appended).
          const rec = JSON.parse(line) as { msg?: string; err?: { stack?: string; message?: string } };
          const flat = (x: string) => x.replace(/\s+/g, ' ').trim();
          const msg = flat(rec.msg ?? '');
          const cause = /caused by: ([^\n]*)/.exec(rec.err?.stack ?? '')?.[1];
          const message = flat(rec.err?.message ?? '');
          const tail = cause ? ` — caused by: ${cause.slice(0, 200)}` : message.length > 200 ? ` — …${message.slice(-160)}` : '';
          return `${msg.slice(0, 100)}${msg.length > 100 ? '…' : ''}${tail}`;
        } catch {
          return line.slice(0, 300);
        }
      }
      return '(no log line)';
    };

    const printOf = () => storedRows(sql);

    const byName = (route: string) => ops.find((o) => `${o.method} ${o.path}` === route);

    /** Creates what the routes' paths name, twice: live and doomed. */
    const createFixtures = async (set: 'live' | 'doomed') => {
      const f = fixtures[set];
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const post = async (path: string, body: Json, method = 'POST'): Promise<any> => {
        const r = await request(method, path, auth, JSON.stringify(body));
        if (r.status >= 300) throw new Error(`fixture ${method} ${path}: ${r.status} ${r.text}`);
        return r.json;
      };
      const image = 'jarvis/busybox:latest';
      f.task = (await post('/tasks', { image, node_selector: { zone: 'nowhere' } })).id;
      f.workflow = (await post('/workflows', { tasks: [{ key: 'a', image, node_selector: { zone: 'nowhere' } }] })).id;
      f.schedule = (await post('/schedules', { name: `fuzz-${set}`, cron: '0 0 1 1 *', paused: true, task: { image } })).id;
      f.webhook = (await post('/webhooks', { url: 'https://hooks.example.com/jarvis', events: ['task.succeeded'], secret: 'fuzz-signing-key-do-not-echo-0000' })).id;
      f.key = (await post('/auth/keys', { name: `fuzz-${set}`, role: 'viewer' })).id;
      f.secret = set === 'live' ? 'FUZZ_SECRET' : 'FUZZ_DOOMED';
      await post('/secrets', { name: f.secret, value: 'fuzz-secret-value-do-not-echo' });
      f.tenant = `fuzz-${set}`;
      await post(`/tenants/${f.tenant}`, { weight: 1 }, 'PUT');
      const node = await post('/nodes/register', { name: `fuzz-node-${set}`, hostname: 'fuzz-host', capacity: { cpu: 1, memory_mb: 1, max_tasks: 1 }, labels: { zone: 'fuzz' } });
      f.node = node.id;
      nodeTokens.set(node.id, node.token);
      // Drained, so that nothing is placed on it (nothing would start it).
      await post(`/nodes/${node.id}/drain`, null);
      f.delivery = set === 'live' ? '4b3c2a10-0000-4000-8000-0000000de11a' : '4b3c2a10-0000-4000-8000-0000000de11b';
    };

    /** The valid value of a path parameter: the fixture of its resource (a doomed one unless read). */
    const validPathValue = (op: Operation, name: string): string => {
      const f = fixtures[op.method === 'GET' ? 'live' : 'doomed'];
      if (name === 'task_id') return f.task;
      if (name === 'delivery_id') return f.delivery;
      const resource = op.path.split('/')[1] === 'auth' ? 'key' : op.path.split('/')[1].replace(/s$/, '');
      return f[resource];
    };

    const pathOf = (op: Operation, values: Record<string, string> = {}) => op.path.replace(/\{([^}]+)\}/g, (_, name: string) => values[name] ?? encodeURIComponent(validPathValue(op, name)));

    /** The admin's key; for a node's own routes, the token of the node the path names (for a hostile id, the doomed node's). */
    const headersOf = (op: Operation, path: string): Record<string, string> => {
      if (!op.nodeAuth) return auth;
      const nodeId = /^\/nodes\/([^/]+)/.exec(path)?.[1] ?? '';
      return { authorization: `Bearer ${nodeTokens.get(nodeId) ?? nodeTokens.get(fixtures.doomed.node)}` };
    };

    /**
     * Hand-written seeds, for the operations whose schema example the server does not take (a
     * task's memory given twice, a `when` naming no ancestor, a schedule with both a task and a
     * workflow) or would run something from (a schedule's example cron starts runs). Harmless:
     * never placed (no node has the selector's label), never run (yearly cron, paused); unique
     * where they must be (~uniq~ becomes a counter). Between them they hold every field.
     */
    const task = (): Record<string, Json> => ({
      image: 'jarvis/busybox:latest',
      command: ['echo', 'hello'],
      name: 'fuzz-task',
      env: { FUZZ: 'x', FUZZ_REF: { secret: 'FUZZ_SECRET' } },
      priority: 'normal',
      resources: { cpu: 0.5, memory_mb: 64, gpu: 0 },
      timeout_seconds: 60,
      max_retries: 1,
      retry_backoff_seconds: 1,
      node_selector: { zone: 'nowhere' },
      labels: { team: 'fuzz' },
      network: 'none',
      outputs: { rows: { path: '/tmp/rows' } },
    });
    const standalone = () => ({ ...task(), idempotency_key: 'fuzz-~uniq~' });
    const workflow = (full: boolean): Json => ({
      name: 'fuzz-workflow',
      tasks: [
        full ? { ...task(), key: 'extract' } : ({ key: 'extract', image: 'jarvis/busybox:latest', node_selector: { zone: 'nowhere' }, outputs: { rows: { path: '/tmp/rows' } } } as Json),
        { key: 'load', image: 'jarvis/busybox:latest', node_selector: { zone: 'nowhere' }, depends_on: ['extract'], when: '{{ tasks.extract.outputs.rows }} > 0', command: ['echo', '{{ tasks.extract.outputs.rows }}'] },
      ],
      on_failure: 'continue',
      max_parallel: 2,
    });
    const HAND: Record<string, () => Json[]> = {
      // The memory and the CPUs as numbers, and as strings ("500m", "64Mi").
      'POST /tasks': () => [standalone(), { image: 'jarvis/busybox:latest', node_selector: { zone: 'nowhere' }, resources: { cpu: '500m', memory: '64Mi' } }],
      'POST /tasks/batch': () => [{ tasks: [standalone()] }],
      'POST /workflows': () => [workflow(true)],
      'POST /schedules': (): Json[] => [
        { name: 'fuzz-schedule-~uniq~', cron: '0 0 1 1 *', timezone: 'Europe/Berlin', concurrency: 'forbid', starting_deadline_seconds: 60, paused: true, task: task() },
        { name: 'fuzz-schedule-~uniq~', cron: '0 0 1 1 *', paused: true, workflow: workflow(false) },
      ],
      'PATCH /schedules/{id}': () => [{ name: 'fuzz-patched', cron: '0 0 1 1 *', timezone: 'Europe/Berlin', concurrency: 'allow', starting_deadline_seconds: 60, paused: true }],
    };
    /** Operations whose schema example is not sent, and why. */
    const HARMFUL: Record<string, string> = {
      'PATCH /schedules/{id}': 'its example unpauses the schedule with a daily cron: a run during the test would look stored by a refused request',
    };
    /** Operations whose valid body cannot be accepted here, and why. */
    const CANNOT_ACCEPT: Record<string, string> = {
      'POST /nodes/{id}/secrets': 'needs an attempt the node runs now (a worker that started a task)',
    };

    const fresh = (seed: Json): Json => JSON.parse(JSON.stringify(seed).replaceAll('~uniq~', () => String(++uniq))) as Json;

    /**
     * The secrets a body sends: strings (8 characters or more) in its fields named like a secret
     * (a secret's value, a webhook's key…), wherever a mutation put them (inside an array, under
     * a key); not one that the body also sends in a field that is no secret (the answer may
     * show that one).
     */
    const SECRET_FIELD = /^(secret|value|key|token|password)$/;
    const secretsSent = (op: Operation, bodyText: string | undefined): string[] => {
      const names = Object.keys(book.resolve(op.body)?.properties ?? {}).filter((k) => SECRET_FIELD.test(k));
      if (!names.length || bodyText === undefined) return [];
      const secret: string[] = [];
      const plain: string[] = [];
      const walk = (v: unknown, depth: number, field: string) => {
        if (typeof v === 'string') (names.includes(field) ? secret : plain).push(v);
        if (depth > 3 || !v || typeof v !== 'object') return;
        if (Array.isArray(v)) return v.forEach((x) => walk(x, depth + 1, field));
        for (const [k, x] of Object.entries(v)) walk(x, depth + 1, k);
      };
      try {
        walk(JSON.parse(bodyText), 0, '');
      } catch {
        // Not JSON: nothing to look for.
      }
      return secret.filter((x) => x.length >= 8 && !plain.some((p) => p.includes(x.slice(0, 64))));
    };
    const echoes = (answer: unknown, secret: string): boolean => {
      if (typeof answer === 'string') return answer.includes(secret.slice(0, 64));
      if (Array.isArray(answer)) return answer.some((x) => echoes(x, secret));
      if (answer && typeof answer === 'object') return Object.entries(answer).some(([k, v]) => echoes(k, secret) || echoes(v, secret));
      return false;
    };

    /** FastAPI's shape for an error: {"detail": …}; for 422, a list of {type, loc, msg}. */
    const shapeProblem = (a: Answer): string | null => {
      // Node's HTTP server answers 431 itself, without a body (as uvicorn's h11 does).
      if (a.status === 431) return null;
      if (!a.contentType.includes('application/json') || !a.json || typeof a.json !== 'object' || Array.isArray(a.json)) return `not a JSON object: ${a.text.slice(0, 120)}`;
      const keys = Object.keys(a.json);
      if (keys.length !== 1 || keys[0] !== 'detail') return `keys ${JSON.stringify(keys)} instead of ["detail"]`;
      const detail = (a.json as { detail: unknown }).detail;
      if (a.status === 422) {
        if (!Array.isArray(detail)) return `422 with detail ${JSON.stringify(detail).slice(0, 120)}, not a list`;
        const bad = detail.find((d) => !d || typeof d.type !== 'string' || !Array.isArray(d.loc) || typeof d.msg !== 'string');
        if (bad !== undefined) return `422 item ${JSON.stringify(bad).slice(0, 160)} is not {type, loc, msg}`;
      } else if (typeof detail !== 'string' && !Array.isArray(detail)) return `detail ${JSON.stringify(detail).slice(0, 120)}`;
      return null;
    };

    /** The reads that aggregate what is stored, and the list of what an accepted request stored (its newest ten). */
    const readsAfter = (acc: Accepted): string[] => {
      const reads = ['/overview', '/tenants', '/tasks?limit=10', '/metrics'];
      const seg = acc.op.path.split('/')[1];
      const list = byName(`GET /${seg}`) ?? byName(`GET /${seg}/keys`);
      if (list && seg !== 'tasks' && seg !== 'tenants') reads.push(`${list.path}${list.params.some((p) => p.name === 'limit') ? '?limit=10' : ''}`);
      if (acc.op.path === '/tenants/{name}' || acc.op.path === '/schedules/{id}') reads.push(acc.url.split('?')[0]);
      return reads;
    };
    const readKey = (read: string) => read.replace(/\/[0-9a-f-]{36}/gi, '/{id}');

    /** The reads of the list answering 5xx. */
    const failingReads = async (reads: string[]) => {
      const answers = await Promise.all([...new Set(reads)].filter((r) => !brokenReads.has(readKey(r))).map(async (r) => [r, await request('GET', r, auth)] as const));
      return answers.filter(([, x]) => x.status >= 500);
    };

    /** Takes back what an accepted request stored: the rows of the ids of its answer; a PUT, a PATCH or a heartbeat by its seed again. */
    const undo = async (acc: Accepted) => {
      const ids = new Set<string>();
      const walk = (v: unknown) => {
        if (Array.isArray(v)) v.forEach(walk);
        else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) if (k === 'id' && typeof x === 'string') ids.add(x); else walk(x);
      };
      walk(acc.answer.json);
      const list = [...ids].filter((x) => /^[0-9a-f-]{36}$/i.test(x));
      if (list.length) {
        await sql.query('delete from task_events where task_id = any($1::uuid[])', [list]);
        for (const t of ['tasks', 'workflows', 'schedules', 'webhooks', 'api_keys', 'nodes']) await sql.query(`delete from ${t} where id = any($1::uuid[])`, [list]);
      }
      if (acc.op.path === '/secrets' && acc.body) {
        const name = (JSON.parse(acc.body) as { name?: unknown } | null)?.name;
        if (typeof name === 'string') await sql.query('delete from secrets where name = $1', [name]);
      }
      const target = targets.find((t) => t.op === acc.op);
      if (target && (acc.op.method === 'PUT' || acc.op.method === 'PATCH' || acc.op.path.endsWith('/heartbeat'))) await request(acc.op.method, target.path, target.headers, JSON.stringify(fresh(target.seeds[0])));
    };

    /**
     * The reads after accepted requests: when one answers 5xx, what they stored is taken back
     * and they are sent again one at a time to name the one that breaks it.
     */
    const checkReads = async (batch: Accepted[]) => {
      if (!batch.length) return;
      const failed = await failingReads(batch.flatMap(readsAfter));
      if (!failed.length) return;
      if (batch.length === 1) {
        const [acc] = batch;
        for (const [r, x] of failed) problems.add('read broken by a stored value', acc.route, acc.what, `${acc.answer.status}, then GET ${r} -> ${x.status} — log: ${await logLine(x.requestId)}`);
        await undo(acc);
      } else {
        for (const acc of [...batch].reverse()) await undo(acc);
        const still = new Set((await failingReads(failed.map(([r]) => r))).map(([r]) => r));
        for (const acc of batch) {
          if (failed.every(([r]) => still.has(r))) break;
          const again = await request(acc.op.method, acc.url, acc.headers, acc.body);
          if (again.status >= 200 && again.status < 300) await checkReads([{ ...acc, answer: again }]);
        }
      }
      // Still broken with all of them taken back: not checked again (and said once).
      for (const [r, x] of await failingReads(failed.map(([r]) => r))) {
        brokenReads.add(readKey(r));
        problems.add('read broken for good', `GET ${readKey(r)}`, 'after what broke it was taken back', `${x.status} — log: ${await logLine(x.requestId)}`);
      }
      lastPrint = await printOf();
    };
    const flushReads = async () => {
      const batch = unread;
      unread = [];
      await checkReads(batch);
    };

    /**
     * The server's error log. An error (level 50 or more) logged for a request is that
     * request's problem, whatever it was answered; one logged by background work (the audit
     * trail's batched writes) is found by sending the requests of the seconds before it again,
     * half of them at a time, until one alone brings it back.
     */
    let logSeen = 0;
    const recent: Sent[] = [];
    const backgroundSeen = new Set<string>();
    const newErrors = (): LoggedError[] => {
      const out = jarvis.output();
      const end = out.lastIndexOf('\n');
      if (end < logSeen) return [];
      const fresh = out.slice(logSeen, end);
      logSeen = end + 1;
      const found: LoggedError[] = [];
      for (const line of fresh.split('\n')) {
        if (!/^\{"level":(5|6)\d,/.test(line)) continue;
        try {
          const rec = JSON.parse(line) as { time: number; msg?: string; request_id?: string; err?: { message?: string } };
          const message = (rec.err?.message ?? '').replace(/\s+/g, ' ');
          found.push({ time: rec.time, requestId: rec.request_id, msg: rec.msg ?? '', detail: `${rec.msg ?? ''}${message ? ` — ${message.length > 240 ? `${message.slice(0, 120)}…${message.slice(-100)}` : message}` : ''}` });
        } catch {
          found.push({ time: Date.now(), msg: line.slice(0, 200), detail: line.slice(0, 300) });
        }
      }
      return found;
    };
    /** Past the audit trail's fold (1 s) and batch (200 ms) windows. */
    const BACKGROUND_MS = 1_500;
    const reproduces = async (sent: Sent[], msg: string) => {
      for (const r of sent) await request(r.method, r.url, r.headers, r.body);
      await sleep(BACKGROUND_MS);
      return newErrors().some((e) => e.msg === msg && !e.requestId);
    };
    const culpritOf = async (window: Sent[], msg: string): Promise<Sent | undefined> => {
      await sleep(BACKGROUND_MS);
      newErrors();
      let set = window;
      while (set.length > 1) {
        const half = set.slice(0, Math.ceil(set.length / 2));
        set = (await reproduces(half, msg)) ? half : set.slice(half.length);
      }
      return set.length && (await reproduces(set, msg)) ? set[0] : undefined;
    };
    /** Times requests were sent again to find one (the rows then change: not a request's doing). */
    let replays = 0;
    /** Looks at what the log says since the last look; `sent`: the request just answered. */
    const checkLog = async (sent?: Sent) => {
      if (sent) recent.push(sent);
      while (recent.length && recent[0].at < Date.now() - 5_000) recent.shift();
      for (const e of newErrors()) {
        if (e.requestId) {
          // Not one of the requests judged (this test's own reads, replays): a read's 5xx is
          // told as such, a 500's own line with it already.
          const whose = recent.find((r) => r.requestId === e.requestId);
          if (whose && whose.status !== 500) problems.add('error logged', whose.route, whose.what, e.detail);
          continue;
        }
        if (backgroundSeen.has(e.msg)) continue;
        backgroundSeen.add(e.msg);
        const window = recent.filter((r) => r.at >= e.time - 2_500 && r.at <= e.time);
        replays++;
        const culprit = await culpritOf(window, e.msg);
        if (culprit) problems.add('error logged in the background', culprit.route, culprit.what, `${e.detail} (it comes back whenever this request alone is sent again)`);
        else problems.add('error logged in the background', '(unknown request)', `one of the ${window.length} requests in the 2.5 s before it`, e.detail);
        lastPrint = await printOf();
      }
    };
    /**
     * The log once the background writes of the last requests are done (after the bodies, and
     * at the end; what the parameters' last requests bring is seen by the headers' test).
     */
    const settle = async () => {
      await sleep(BACKGROUND_MS);
      await checkLog();
    };

    /**
     * Judges one answer by every rule; a problem is collected, not thrown, so that a run lists
     * them all. `before`: the rows before the request (a refusal must leave them as they were;
     * a GET is compared over its whole parameter instead, by the caller).
     */
    const judge = async (req: Omit<Accepted, 'answer'> & { resolvedElsewhere?: boolean }, a: Answer, before: string) => {
      const { op, route, what } = req;
      stats.requests++;
      if (a.status >= 500) problems.add('5xx', route, what, `${a.status} ${a.text.slice(0, 80)} — log: ${await logLine(a.requestId)}`);
      if (a.status < 500 && !req.resolvedElsewhere && ![404, 405, 431].includes(a.status) && !op.documented.has(a.status)) problems.add('undocumented status', route, what, `${a.status} ${a.text.slice(0, 160)}`);
      for (const secret of secretsSent(op, req.body)) if (echoes(a.json ?? a.text, secret)) problems.add('secret echoed', route, what, `${a.status}: the answer holds ${JSON.stringify(secret.slice(0, 40))}: ${a.text.slice(0, 200)}`);
      if (a.status >= 400 && a.status < 500) {
        const shape = shapeProblem(a);
        if (shape) problems.add('not FastAPI-shaped', route, what, `${a.status} ${shape}`);
      }
      const sent: Sent = { ...req, method: op.method, at: Date.now(), requestId: a.requestId, status: a.status };
      if (op.method === 'GET') return checkLog(sent);
      const after = await printOf();
      lastPrint = after;
      if (a.status >= 400 && after !== before) problems.add(a.status >= 500 ? 'stored by a 5xx' : 'stored after refusal', route, what, `${a.status} ${a.text.slice(0, 160)}; changed: ${changedTables(before, after)}`);
      if (a.status >= 200 && a.status < 300) {
        stats.accepted++;
        const acc = { ...req, answer: a };
        // One that changes a resource in place (the next one would undo it): its reads at once.
        if (/\{/.test(op.path)) await checkReads([acc]);
        else if (unread.push(acc) >= 10) await flushReads();
      }
      await checkLog(sent);
    };

    beforeAll(async () => {
      sql = new pg.Client({ connectionString: db.url });
      await sql.connect();
      await createFixtures('live');
      await createFixtures('doomed');
      // The seeds: the schema's example, sent once by the admin; the hand-written ones where it
      // is refused. Kept when accepted.
      for (const op of ops.filter((o) => o.body)) {
        const route = `${op.method} ${op.path}`;
        const path = pathOf(op);
        const headers = headersOf(op, path);
        const seeds: Json[] = [];
        const refused: string[] = [];
        const tryOn = async (seed: Json, what: string) => {
          const a = await request(op.method, path, headers, JSON.stringify(fresh(seed)));
          if (a.status >= 200 && a.status < 300) seeds.push(seed);
          else refused.push(`${what}: ${a.status} ${a.text.slice(0, 300)}`);
        };
        const example = book.example(op.body);
        if (!HARMFUL[route]) await tryOn(example, 'the schema example');
        if (seeds.length === 0) for (const seed of HAND[route]?.() ?? []) await tryOn(seed, 'a hand-written seed');
        if (seeds.length === 0 && !CANNOT_ACCEPT[route]) unseeded.push(`${route}: ${refused.join('; ') || 'no seed'}`);
        // One that cannot accept is still fuzzed, from its example.
        targets.push({ op, route, path, seeds: seeds.length ? seeds : [example], headers });
      }
      lastPrint = await printOf();
      // What the server logged before (the tests above, the fixtures) is not looked at.
      logSeen = jarvis.output().length;
    }, 60_000);
    afterAll(async () => {
      await sql?.end();
    });

    it('has a valid body, accepted from the admin, for every operation with a body', () => {
      expect(unseeded, 'operations without an accepted seed body').toEqual([]);
      expect(targets.length).toBeGreaterThan(5);
    });

    it('refuses every hostile body with a FastAPI 4xx that stores nothing, or takes it without breaking a read', async () => {
      for (const target of targets.filter((t) => t.route.includes(ONLY))) {
        const { op, path, headers } = target;
        for (const [n, seed] of target.seeds.entries()) {
          const route = target.seeds.length > 1 ? `${target.route} (seed ${n + 1})` : target.route;
          const one = async (m: Mutation) => {
            const before = lastPrint;
            const body = applyMutation(fresh(seed), m);
            await judge({ op, route, what: describeMutation(m), url: path, headers, body }, await request(op.method, path, headers, body), before);
          };
          // The sweep first (every place with the values its type calls for), then random
          // mutations; fast-check counts its examples in numRuns.
          const examples = sweep(book, seed, op.body, seenKinds).map((m) => [m] as [Mutation]);
          await fc.assert(fc.asyncProperty(mutationArbitrary(book, seed, op.body), one), { seed: SEED, numRuns: examples.length + RANDOM_BODY_RUNS, examples });
          await flushReads();
        }
      }
      await settle();
      expect(problems.report(), problems.report()).toBe('');
    }, LONG);

    it('refuses every hostile query and path parameter with a FastAPI 4xx that stores nothing', async () => {
      for (const op of ops.filter((o) => `${o.method} ${o.path}`.includes(ONLY))) {
        const route = `${op.method} ${op.path}`;
        const target = targets.find((t) => t.op === op);
        const body = target ? JSON.stringify(fresh(target.seeds[0])) : undefined;
        // The valid query: the required parameters only (an attempt number).
        const validQuery = op.params.filter((p) => p.in === 'query' && p.required).map((p) => [p.name, p.schema?.type === 'integer' ? '1' : 'x'] as [string, string]);
        for (const p of op.params.filter((x) => x.in === 'query' || x.in === 'path')) {
          const valid = p.in === 'path' ? validPathValue(op, p.name) : undefined;
          const one = async (value: HostileParam) => {
            const before = lastPrint;
            const path = p.in === 'path' ? pathOf(op, { [p.name]: value.encoded }) : pathOf(op);
            const query = [...validQuery.filter(([k]) => k !== p.name).map(([k, v]) => `${k}=${v}`), ...(p.in === 'query' ? [`${encodeURIComponent(p.name)}=${value.encoded}`] : [])];
            const url = query.length ? `${path}?${query.join('&')}` : path;
            const headers = headersOf(op, path);
            // A path segment "." or ".." is resolved away by the URL, reaching another route.
            const resolvedElsewhere = p.in === 'path' && /^(\.|\.\.|%2e|%2e%2e|\.%2e|%2e\.)$/i.test(value.encoded);
            await judge({ op, route, what: `${p.in} ${p.name} = ${value.label}`, url, headers, body, resolvedElsewhere }, await request(op.method, url, headers, body), before);
          };
          const kind = `param|${p.in}|${p.name}|${JSON.stringify(p.schema ?? null)}`;
          const values = hostileParams(p.schema, valid, !seenKinds.has(kind));
          seenKinds.add(kind);
          // The parameter given twice, the valid value first.
          if (p.in === 'query') values.push({ label: 'given twice', encoded: `1&${encodeURIComponent(p.name)}=%00` });
          // A GET stores nothing whatever it is answered: its rows are compared over the whole parameter.
          const before = op.method === 'GET' ? await printOf() : '';
          const replaysBefore = replays;
          await fc.assert(fc.asyncProperty(randomParam, one), { seed: SEED, numRuns: values.length + RANDOM_PARAM_RUNS, examples: values.map((v) => [v] as [HostileParam]) });
          if (op.method === 'GET' && replays === replaysBefore) {
            const after = await printOf();
            if (after !== before) problems.add('stored by a GET', route, `${p.in} ${p.name}`, `changed: ${changedTables(before, after)}`);
          }
        }
        await flushReads();
      }
      expect(problems.report(), problems.report()).toBe('');
    }, LONG);

    it('refuses every hostile header with a FastAPI 4xx that stores nothing', async () => {
      // Headers every route reads (the key, the request id…), on every route; a body's own
      // headers (its type and encoding) on every route with a body. Values fetch can send
      // (Latin-1, no NUL or line break: the raw-socket test sends those).
      const everywhere: Array<[string, string, string?]> = [
        ['authorization', `Bearer ${'a'.repeat(8_000)}`, 'Bearer and 8,000 chars'],
        ['authorization', 'Bearer'],
        ['authorization', 'Basic YWRtaW46YWRtaW4='],
        ['authorization', `Bearer ${ADMIN}ÿ`],
        ['authorization', `Bearer ${ADMIN}, Bearer x`],
        ['x-request-id', 'r'.repeat(10_000), '10,000 chars'],
        ['x-request-id', 'ÿþ../x'],
        ['accept', 'text/html;q=1, application/json;q=0'],
        ['cookie', `jarvis_ui_session=%ZZ; jarvis_ui_csrf=${'c'.repeat(4_000)}`, 'cookies with %ZZ and 4,000 chars'],
        ['x-forwarded-for', `not-an-address, ::1, ${'9'.repeat(500)}`],
      ];
      const forBodies: Array<[string, string, string?]> = [
        ['content-type', 'text/plain'],
        ['content-type', 'application/x-www-form-urlencoded'],
        ['content-type', 'multipart/form-data; boundary=x'],
        ['content-type', 'application/json; charset=utf-16'],
        ['content-type', 'application/json; charset=ÿ'],
        ['content-type', ''],
        ['content-encoding', 'gzip'],
        ['content-encoding', 'x-unknown, deflate'],
      ];
      const headerValue = fc.string({ minLength: 1, maxLength: 40, unit: fc.integer({ min: 0x21, max: 0xff }).filter((c) => c !== 0x7f).map((c) => String.fromCharCode(c)) });
      const randomHeader = fc.tuple(fc.constantFrom('authorization', 'x-request-id', 'content-type', 'accept', 'cookie', 'content-encoding'), headerValue);
      for (const op of ops.filter((o) => `${o.method} ${o.path}`.includes(ONLY))) {
        const route = `${op.method} ${op.path}`;
        const target = targets.find((t) => t.op === op);
        const path = pathOf(op);
        const query = op.params.filter((p) => p.in === 'query' && p.required).map((p) => `${p.name}=1`);
        const url = query.length ? `${path}?${query.join('&')}` : path;
        const one = async ([name, value, label]: [string, string, string?]) => {
          const before = lastPrint;
          const body = target ? JSON.stringify(fresh(target.seeds[0])) : undefined;
          const headers = { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headersOf(op, path), [name]: value };
          const shown = label ?? JSON.stringify(value);
          const a = await request(op.method, url, headers, body).catch((e: Error) => ({ status: 0, text: String(e), json: undefined, contentType: '', requestId: '' }));
          if (a.status === 0) return problems.add('request not sent', route, `header ${name}: ${shown}`, a.text);
          await judge({ op, route, what: `header ${name}: ${shown}`, url, headers, body }, a, before);
        };
        const values = [...everywhere, ...(op.hasBody ? forBodies : [])];
        await fc.assert(fc.asyncProperty(randomHeader, one), { seed: SEED, numRuns: values.length + 2, examples: values.map((v) => [v]) });
        await flushReads();
      }
      await settle();
      expect(problems.report(), problems.report()).toBe('');
    }, LONG);

    afterAll(() => {
      console.log(`hostile input: ${stats.requests} schema-driven requests, ${stats.accepted} accepted`);
    });
  });
});

interface Target {
  op: Operation;
  route: string;
  path: string;
  seeds: Json[];
  headers: Record<string, string>;
}

interface Answer {
  status: number;
  text: string;
  json: unknown;
  contentType: string;
  requestId: string;
}

/** A request answered 2xx, kept to check the reads after it (and to send again, or take back). */
interface Accepted {
  op: Operation;
  route: string;
  what: string;
  url: string;
  headers: Record<string, string>;
  body: string | undefined;
  answer: Answer;
}

/** A request as sent, to send again. */
interface Sent {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string | undefined;
  route: string;
  what: string;
  /** When it was answered (ms), its request id and status. */
  at: number;
  requestId: string;
  status: number;
}

/** An error line of the server's log. */
interface LoggedError {
  time: number;
  requestId?: string;
  msg: string;
  detail: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Rule breaks, each (kind, route, place and value) once. */
class Problems {
  private readonly seen = new Map<string, string>();

  add(kind: string, route: string, what: string, detail: string): void {
    const key = `${kind} | ${route} | ${what}`;
    if (!this.seen.has(key)) this.seen.set(key, detail);
  }

  /** '' when there is none; else one line each. */
  report(): string {
    if (this.seen.size === 0) return '';
    const lines = [...this.seen].map(([k, d]) => `${k} -> ${d}`);
    return `${lines.length} rule(s) broken (seed ${SEED}; JARVIS_FUZZ_SEED replays another, JARVIS_FUZZ_ROUTE keeps the routes containing it):\n${lines.slice(0, 300).join('\n')}${lines.length > 300 ? `\n… ${lines.length - 300} more` : ''}`;
  }
}
