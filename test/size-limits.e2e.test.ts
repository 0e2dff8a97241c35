// Requests at the size limits against a real `jarvis server`: for every operation of /openapi.json,
// the largest request its schemas admit (test/support/size-values.ts: every string at its
// maxLength or the longest its pattern takes, every array at maxItems, every record at its entry
// cap, numbers at their maximum, every field present; each other union branch and each of two
// fields that exclude each other as a variant), then that request with one limit just past, for
// each limit; its body filled to the route's body limit (with whitespace, and through each string
// the schema leaves unbounded) and one byte past; every query and path parameter at its largest
// and just past; the request head at the HTTP server's header limit and one byte past.
//
// Each answer: below 500, within TIMEOUT_MS; a 4xx in FastAPI's shape; one past a limit refused
// (413 past the body limit, 431 past the header limit); one at a limit not refused for its size
// (no 413 or 431); a refused one stores nothing (the database's rows compared before and after);
// after each operation's requests the reads that aggregate what is stored still answer. Every rule
// broken is collected and the test fails with all of them. JARVIS_FUZZ_ROUTE=substring keeps the
// operations whose "METHOD /path" holds it.
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/database.ts';
import { SchemaBook, type Json, type JsonSchema, type Path } from './support/hostile-values.ts';
import { startJarvis } from './support/jarvis.ts';
import { removeLeftovers } from './support/leftovers.ts';
import { applyEdits, pathLabel, patternAtoms, SizeBuilder, unboundedStrings, type SizeRules } from './support/size-values.ts';
import { changedTables, storedRows } from './support/stored-rows.ts';

afterAll(removeLeftovers);

const ADMIN = 'sizes-admin-key-0123456789abcdef';
const ONLY = process.env.JARVIS_FUZZ_ROUTE ?? '';
/** A request not answered within this is a problem (a hang, or a cost out of all proportion). */
const TIMEOUT_MS = 20_000;
const IMAGE = 'jarvis/busybox:latest';

interface Param {
  name: string;
  in: string;
  required?: boolean;
  schema?: JsonSchema;
}

interface Operation {
  method: string;
  path: string;
  route: string;
  params: Param[];
  body?: JsonSchema;
  /** Authenticated with a node's token (the one registration answered with), not a key. */
  nodeAuth: boolean;
}

/**
 * What the schemas cannot say, by field name (not by route): values with a meaning elsewhere, and
 * fields of which one only may be given. Without these the largest requests would be refused for
 * what they mean, not for their size, and never reach the database.
 */
const RULES: SizeRules = {
  // A task's memory in MiB or as a quantity; a schedule runs a task or a workflow.
  exclusive: [
    ['memory_mb', 'memory'],
    ['task', 'workflow'],
  ],
  value(field, schema, built, largest) {
    const types = [schema.type].flat();
    switch (field) {
      // Never runs during the test (a run would look stored by a refused request).
      case 'paused':
        return true;
      // Once a year, at its maxLength a five-field cron with a long minute list: "00,0,0,…,0 0 1 1 *".
      case 'cron': {
        const room = (schema.maxLength ?? 9) - 9;
        return largest ? `${room % 2 ? '00' : '0'}${',0'.repeat(Math.floor(room / 2))} 0 1 1 *` : '0 0 1 1 *';
      }
      // No IANA zone name is as long as the bound.
      case 'timezone':
        return 'Europe/Berlin';
      // A CEL condition names ancestors: only the largest task of a workflow has one (below).
      case 'when':
        return null;
      // Quantities at the largest the columns take (test/input-limits.e2e).
      case 'memory':
        return '2047Ti';
      case 'cpu':
        return types.includes('string') ? '1000000' : undefined;
      // Known event names.
      case 'events':
        return typeof built === 'string' ? 'task.succeeded' : undefined;
      default:
        return undefined;
    }
  },
  // A workflow's tasks: a chain, each depending on the one before (as deep as a workflow goes),
  // and the largest, last one also on every other (as wide a fan-in), running on a condition
  // over the first one's status. One root: what is queued at once is one task, not 9,999.
  array(field, items) {
    if (field !== 'tasks') return;
    const keys: string[] = [];
    for (const [i, t] of items.entries()) {
      if (!t || typeof t !== 'object' || Array.isArray(t) || typeof t.key !== 'string') return;
      if (i === items.length - 1) {
        if ('depends_on' in t) t.depends_on = keys.slice(-10_000);
        if ('when' in t && keys.length) t.when = `{{ tasks.${keys[0]}.status }} == "succeeded"`;
      } else if (keys.length) t.depends_on = [keys[keys.length - 1]];
      keys.push(t.key);
    }
  },
};

/** Fields made unique per request (their last six characters), so that a request repeated is stored again, not answered from the first. */
const UNIQUE = /"(idempotency_key|name)":"([^"\\]*)([^"\\]{6})"/g;

interface Case {
  op: Operation;
  label: string;
  /** at: admitted by the schema (must not be refused for its size); past: must be refused. */
  at: boolean;
  /** The status a refusal past this limit must have (413, 431), when only one will do. */
  pastStatus?: number;
  url: string;
  body?: string;
  /** The request head sent by hand (the header cases), else fetch's. */
  rawHead?: string;
}

interface Answer {
  status: number;
  text: string;
  json: unknown;
  contentType: string;
  requestId: string;
  ms: number;
}

describe('size limits', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let jarvis: Awaited<ReturnType<typeof startJarvis>>;
  let sql: pg.Client;
  let ops: Operation[] = [];
  let book: SchemaBook;
  const auth = { authorization: `Bearer ${ADMIN}` };
  const fixtures: Record<'live' | 'doomed', Record<string, string>> = { live: {}, doomed: {} };
  const nodeTokens = new Map<string, string>();
  let uniq = 0;

  beforeAll(async () => {
    db = await createTestDatabase();
    jarvis = await startJarvis({
      command: 'server',
      databaseUrl: db.url,
      // Secrets and webhooks are stored only with a secret key; nothing here is ever placed.
      env: { JARVIS_ADMIN_KEY: ADMIN, JARVIS_RATE_LIMIT_PER_S: '100000', JARVIS_SECRET_KEY: randomBytes(32).toString('base64'), JARVIS_RECONCILE_SECONDS: '30' },
    });
    sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    const doc = (await (await fetch(`${jarvis.url}/openapi.json`, { headers: auth })).json()) as {
      paths: Record<string, Record<string, { parameters?: Param[]; requestBody?: { content?: Record<string, { schema?: JsonSchema }> }; responses?: Record<string, { description?: string }> }>>;
      components: { schemas: Record<string, JsonSchema> };
    };
    book = new SchemaBook(doc.components.schemas);
    ops = Object.entries(doc.paths).flatMap(([path, byMethod]) =>
      Object.entries(byMethod).map(([method, op]) => ({
        method: method.toUpperCase(),
        path,
        route: `${method.toUpperCase()} ${path}`,
        params: op.parameters ?? [],
        body: op.requestBody?.content?.['application/json']?.schema,
        nodeAuth: /node token/i.test(op.responses?.['401']?.description ?? ''),
      })),
    );
    await createFixtures('live');
    await createFixtures('doomed');
  }, 120_000);
  afterAll(async () => {
    await sql?.end();
    await jarvis?.stop();
    await db?.drop();
  });

  const request = async (method: string, url: string, headers: Record<string, string>, body?: string): Promise<Answer> => {
    const started = performance.now();
    const init = { method, headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers }, body, signal: AbortSignal.timeout(TIMEOUT_MS) };
    // A pooled connection the server closed after an answer (413) fails the next request sent on it: sent again.
    const res = await fetch(jarvis.url + url, init).catch((err: Error) => (err.name === 'TimeoutError' ? Promise.reject(err) : fetch(jarvis.url + url, init)));
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      // Not JSON: judged as such.
    }
    return { status: res.status, text, json, contentType: res.headers.get('content-type') ?? '', requestId: res.headers.get('x-request-id') ?? '', ms: performance.now() - started };
  };

  /** A request head (and body) sent over a socket of its own; the answer's status and body. */
  const rawRequest = (text: string): Promise<Answer> =>
    new Promise((resolve) => {
      const started = performance.now();
      const { port } = new URL(jarvis.url);
      const s = connect(Number(port), '127.0.0.1', () => s.write(text));
      const chunks: Buffer[] = [];
      const done = () => {
        clearTimeout(timer);
        s.destroy();
        const out = Buffer.concat(chunks).toString();
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(out)?.[1] ?? 0);
        const split = out.indexOf('\r\n\r\n');
        const head = split < 0 ? out : out.slice(0, split);
        const body = split < 0 ? '' : out.slice(split + 4);
        // Chunked or not, the JSON is the part from the first brace to the last.
        const jsonText = body.slice(body.indexOf('{'), body.lastIndexOf('}') + 1);
        let json: unknown;
        try {
          json = JSON.parse(jsonText);
        } catch {
          // Not JSON.
        }
        resolve({ status, text: jsonText || body, json, contentType: /content-type: ([^\r\n]*)/i.exec(head)?.[1] ?? '', requestId: /x-request-id: ([^\r\n]*)/i.exec(head)?.[1] ?? '', ms: performance.now() - started });
      };
      const timer = setTimeout(done, TIMEOUT_MS);
      s.on('data', (d: Buffer) => chunks.push(d));
      s.on('end', done);
      s.on('error', done);
    });

  /** Creates what the routes' paths name, twice: live (read) and doomed (changed or deleted). */
  const createFixtures = async (set: 'live' | 'doomed') => {
    const f = fixtures[set];
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const post = async (path: string, body: Json, method = 'POST'): Promise<any> => {
      const r = await request(method, path, auth, JSON.stringify(body));
      if (r.status >= 300) throw new Error(`fixture ${method} ${path}: ${r.status} ${r.text}`);
      return r.json;
    };
    f.task = (await post('/tasks', { image: IMAGE, node_selector: { zone: 'nowhere' } })).id;
    f.workflow = (await post('/workflows', { tasks: [{ key: 'a', image: IMAGE, node_selector: { zone: 'nowhere' } }] })).id;
    f.schedule = (await post('/schedules', { name: `sizes-${set}`, cron: '0 0 1 1 *', paused: true, task: { image: IMAGE } })).id;
    f.webhook = (await post('/webhooks', { url: 'https://hooks.example.com/jarvis', events: ['task.succeeded'], secret: 'sizes-signing-key-0000000000' })).id;
    f.key = (await post('/auth/keys', { name: `sizes-${set}`, role: 'viewer' })).id;
    f.secret = set === 'live' ? 'SIZES_SECRET' : 'SIZES_DOOMED';
    await post('/secrets', { name: f.secret, value: 'sizes-secret-value' });
    f.tenant = `sizes-${set}`;
    await post(`/tenants/${f.tenant}`, { weight: 1 }, 'PUT');
    const node = await post('/nodes/register', { name: `sizes-node-${set}`, hostname: 'sizes-host', capacity: { cpu: 1, memory_mb: 1, max_tasks: 1 } });
    f.node = node.id;
    nodeTokens.set(node.id, node.token);
    // Drained, so that nothing is placed on it.
    await post(`/nodes/${node.id}/drain`, null);
    f.delivery = '5a5e0000-0000-4000-8000-00000000de11';
  };

  /** A path parameter's fixture (a doomed one unless the operation only reads). */
  const fixtureOf = (op: Operation, name: string): string => {
    const f = fixtures[op.method === 'GET' ? 'live' : 'doomed'];
    if (name === 'task_id') return f.task;
    if (name === 'delivery_id') return f.delivery;
    const resource = op.path.split('/')[1] === 'auth' ? 'key' : op.path.split('/')[1].replace(/s$/, '');
    return f[resource];
  };

  /** A node's own routes take the token of the node the path names; the rest the admin's key. */
  const headersOf = (op: Operation, url: string): Record<string, string> => {
    if (!op.nodeAuth) return auth;
    const nodeId = /^\/nodes\/([^/?]+)/.exec(url)?.[1] ?? '';
    return { authorization: `Bearer ${nodeTokens.get(nodeId) ?? nodeTokens.get(fixtures.doomed.node)}` };
  };

  /**
   * A parameter's largest admitted value (as text) and the values just past its limits. A
   * pattern-bound name takes the longest its pattern matches (the fixture's own name is not that
   * long: a path then names nothing, and is answered 404); a UUID, the fixture's.
   */
  const paramValues = (op: Operation, p: Param): { at: string; past: Array<[string, string]> } => {
    const s = book.resolve(p.schema) ?? {};
    const type = [s.type].flat()[0];
    const past: Array<[string, string]> = [];
    if (s.format === 'uuid') return { at: p.in === 'path' ? fixtureOf(op, p.name) : '5a5e0000-0000-4000-8000-000000000000', past: [['one character more than a UUID', `${fixtureOf(op, p.name) ?? '5a5e0000-0000-4000-8000-000000000000'}0`]] };
    if (s.format === 'date-time') return { at: new Date().toISOString(), past: [] };
    if (s.enum?.length) return { at: String(s.enum[0]), past: [] };
    if (type === 'integer' || type === 'number') {
      if (s.maximum !== undefined) past.push([`maximum ${s.maximum} + 1`, String(s.maximum + 1)]);
      if (s.minimum !== undefined) past.push([`minimum ${s.minimum} - 1`, String(s.minimum - 1)]);
      return { at: String(s.maximum ?? Number.MAX_SAFE_INTEGER), past };
    }
    if (type === 'boolean') return { at: String(s.default ?? true), past: [] };
    const atoms = s.pattern ? patternAtoms(s.pattern) : null;
    if (atoms && atoms.every((a) => Number.isFinite(a.max))) {
      const longest = atoms.map((a) => a.chars[0].repeat(a.max)).join('');
      past.push([`${longest.length + 1} characters (pattern ${s.pattern})`, `${longest}${atoms[atoms.length - 1].chars[0]}`]);
      return { at: longest, past };
    }
    if (s.maxLength !== undefined) {
      past.push([`${s.maxLength + 1} characters (maxLength ${s.maxLength})`, 'x'.repeat(s.maxLength + 1)]);
      return { at: 'x'.repeat(s.maxLength), past };
    }
    // Unbounded (a label filter "key:value"): a value its pattern takes, of some size.
    return { at: s.pattern && !new RegExp(s.pattern).test('x'.repeat(1000)) ? `k:${'v'.repeat(1000)}` : 'x'.repeat(1000), past };
  };

  /** The URL of an operation with its parameters (the largest each), one of them replaced. */
  const urlOf = (op: Operation, replace?: { name: string; value: string }): string => {
    const value = (p: Param) => (replace?.name === p.name ? replace.value : paramValues(op, p).at);
    const path = op.path.replace(/\{([^}]+)\}/g, (_, name: string) => encodeURIComponent(value(op.params.find((p) => p.name === name && p.in === 'path') ?? { name, in: 'path' })));
    const query = op.params.filter((p) => p.in === 'query').map((p) => `${encodeURIComponent(p.name)}=${encodeURIComponent(value(p))}`);
    return query.length ? `${path}?${query.join('&')}` : path;
  };

  /** The body limit of an operation, from the 413 of a declared Content-Length no server takes. */
  const bodyLimitOf = async (op: Operation): Promise<number> => {
    const url = urlOf(op);
    const a = await rawRequest(`${op.method} ${url} HTTP/1.1\r\nHost: x\r\nAuthorization: ${headersOf(op, url).authorization}\r\nContent-Type: application/json\r\nContent-Length: 1099511627776\r\nConnection: close\r\n\r\n`);
    const limit = Number(/the limit is (\d+) bytes/.exec(a.text)?.[1]);
    if (a.status !== 413 || !limit) throw new Error(`${op.route}: no 413 naming the body limit for a declared 1 TiB (${a.status} ${a.text.slice(0, 200)})`);
    return limit;
  };

  /**
   * The request head. Node's HTTP server counts, against its header limit, the bytes of the URL
   * and of each header's name and value (node_http_parser.cc, TrackHeader); `counted` is that
   * sum, the limit found on /health once and then met exactly on every route.
   */
  let headLimit = 0;
  const headOf = (method: string, url: string, headers: Record<string, string>, fill: number, body?: string) => {
    const lines: Array<[string, string]> = [['Host', 'x'], ...Object.entries(headers), ...(body === undefined ? [] : ([['Content-Type', 'application/json'], ['Content-Length', String(Buffer.byteLength(body))]] as Array<[string, string]>)), ['Connection', 'close'], ['X-Fill', 'f'.repeat(fill)]];
    return {
      text: [`${method} ${url} HTTP/1.1`, ...lines.map(([k, v]) => `${k}: ${v}`), '', ''].join('\r\n'),
      counted: Buffer.byteLength(url) + lines.reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v), 0),
    };
  };
  const findHeadLimit = async () => {
    let [ok, bad] = [0, 1 << 17];
    while (bad - ok > 1) {
      const mid = (ok + bad) >> 1;
      const status = (await rawRequest(headOf('GET', '/health', {}, mid).text)).status;
      if (status === 200) ok = mid;
      // 0: the connection reset while a head far over the limit was still being written.
      else if (status === 431 || status === 0) bad = mid;
      else throw new Error(`GET /health with a header of ${mid} bytes: ${status}`);
    }
    return headOf('GET', '/health', {}, ok).counted;
  };

  /** Every request of an operation. */
  const casesOf = async (op: Operation): Promise<Case[]> => {
    const cases: Case[] = [];
    const url = urlOf(op);
    const headers = headersOf(op, url);
    // The parameters' and the head's cases carry the smallest body (their limits do not depend on it).
    let small: string | undefined;
    if (op.body) {
      const builder = new SizeBuilder(book, RULES);
      const { value, cases: built } = builder.maximal(op.body);
      small = JSON.stringify(builder.smallest(op.body));
      const body = JSON.stringify(value);
      cases.push({ op, label: 'the largest body', at: true, url, body });
      for (const c of built) cases.push({ op, label: c.label, at: !c.past, url, body: JSON.stringify(applyEdits(value, c.edits)) });
      const limit = await bodyLimitOf(op);
      const room = limit - Buffer.byteLength(body);
      if (room >= 0) {
        cases.push({ op, label: `the largest body padded with whitespace to the body limit (${limit} bytes)`, at: true, url, body: body + ' '.repeat(room) });
        cases.push({ op, label: `the largest body padded to one byte past the body limit (${limit + 1} bytes)`, at: false, pastStatus: 413, url, body: body + ' '.repeat(room + 1) });
        // Each string without a bound grown until the body is at its limit, in the compact
        // maximal body (a workflow of one task: stored, ten thousand would cost seconds each).
        const compact = builder.compactMaximal(op.body);
        const compactRoom = limit - Buffer.byteLength(JSON.stringify(compact));
        for (const place of unboundedStrings(book, compact, op.body)) {
          const old = at(compact, place) as string;
          cases.push({ op, label: `${pathLabel(place)} grown to bring the body to its limit (${limit} bytes)`, at: true, url, body: JSON.stringify(applyEdits(compact, [{ path: place, value: old + 'x'.repeat(compactRoom) }])) });
        }
      } else {
        cases.push({ op, label: `the largest body is ${-room} bytes over the body limit (${limit})`, at: false, pastStatus: 413, url, body });
      }
    }
    // Each parameter just past its limits, the others at their largest.
    for (const p of op.params) for (const [label, value] of paramValues(op, p).past) cases.push({ op, label: `${p.in} ${p.name}: ${label}`, at: false, url: urlOf(op, { name: p.name, value }), body: small });
    // The request head at the server's header limit, and one byte past.
    const fill = headLimit - headOf(op.method, url, headers, 0, small).counted;
    for (const [n, past] of [[fill, false], [fill + 1, true]] as const) {
      cases.push({ op, label: `request head ${past ? 'one byte past' : 'at'} the header limit (URL, names and values of ${headLimit + (past ? 1 : 0)} bytes)`, at: !past, pastStatus: past ? 431 : undefined, url, body: small, rawHead: headOf(op.method, url, headers, n, small).text });
    }
    return cases;
  };

  it('answers every request at and past each size limit of every route without a 5xx, and stores nothing it refuses', async () => {
    headLimit = await findHeadLimit();
    const problems = new Map<string, string>();
    const add = (kind: string, c: Case, detail: string) => {
      const key = `${kind} | ${c.op.route} | ${c.label}`;
      if (!problems.has(key)) problems.set(key, detail);
    };
    const timings: Array<{ ms: number; what: string; status: number }> = [];
    const counts = { requests: 0, accepted: 0, atRefused: 0, past: 0 };
    const notAccepted: string[] = [];
    let print = await storedRows(sql);

    const perRoute: Array<{ route: string; ms: number; requests: number }> = [];
    // The deletes last, so that the routes after them in the document still find their fixtures.
    const order = ops.filter((o) => o.route.includes(ONLY)).sort((x, y) => Number(x.method === 'DELETE') - Number(y.method === 'DELETE'));
    for (const op of order) {
      const routeStarted = performance.now();
      const printBefore = print;
      /** The ids in the operation's 2xx answers: the tasks and workflows taken back after its reads. */
      const stored = new Set<string>();
      const opCases = await casesOf(op);
      for (const c of opCases) {
        const headers = headersOf(op, c.url);
        const body = c.body?.replace(UNIQUE, (_, field: string, head: string) => `"${field}":"${head}${String(++uniq % 1e6).padStart(6, '0')}"`);
        let a: Answer;
        try {
          a = c.rawHead ? await rawRequest(c.rawHead + (body ?? '')) : await request(op.method, c.url, headers, body);
        } catch (err) {
          add('no answer', c, `within ${TIMEOUT_MS} ms: ${String(err)}`);
          print = await storedRows(sql);
          continue;
        }
        counts.requests++;
        if (!c.at) counts.past++;
        timings.push({ ms: a.ms, what: `${op.route} ${c.label} (${body?.length ?? 0} bytes)`, status: a.status });
        if (a.status === 0) add('no answer', c, `connection closed without an answer after ${Math.round(a.ms)} ms`);
        if (a.status >= 500) add('5xx', c, `${a.status} ${a.text.slice(0, 120)} — log: ${logLine(a.requestId)}`);
        if (a.status >= 400 && a.status < 500) {
          const shape = shapeProblem(a);
          if (shape) add('not FastAPI-shaped', c, `${a.status} ${shape}`);
        }
        if (!c.at && a.status >= 200 && a.status < 300) add('accepted past its limit', c, `${a.status} ${a.text.slice(0, 160)}`);
        if (!c.at && c.pastStatus && a.status !== c.pastStatus && a.status < 500) add(`not ${c.pastStatus}`, c, `${a.status} ${a.text.slice(0, 160)}`);
        if (c.at && (a.status === 413 || a.status === 431)) add('refused for its size within the limit', c, `${a.status} ${a.text.slice(0, 160)}`);
        if (c.at && a.status >= 200 && a.status < 300) {
          counts.accepted++;
          if (op.method !== 'GET') idsIn(a.json, stored);
        }
        if (c.at && a.status >= 400 && a.status < 500) {
          counts.atRefused++;
          notAccepted.push(`${op.route} ${c.label}: ${a.status} ${a.text.slice(0, 200)}`);
        }
        if (op.method === 'GET') continue;
        const after = await storedRows(sql);
        if (a.status >= 400 && after !== print) add(a.status >= 500 ? 'stored by a 5xx' : 'stored after refusal', c, `${a.status} ${a.text.slice(0, 160)}; changed: ${changedTables(print, after)}`);
        print = after;
      }
      // The reads that aggregate what is stored, after the operation's largest values.
      if (print !== printBefore) {
        for (const read of ['/overview', '/tenants', '/tasks?limit=500', '/workflows?limit=500', '/schedules?limit=500', '/webhooks?limit=500', '/nodes', '/metrics']) {
          const r = await request('GET', read, auth);
          timings.push({ ms: r.ms, what: `GET ${read} after ${op.route} (${r.text.length} bytes answered)`, status: r.status });
          if (r.status >= 500) add('read broken', { op, label: `after its requests`, at: true, url: read }, `GET ${read} -> ${r.status} — log: ${logLine(r.requestId)}`);
        }
      }
      // Ten thousand tasks a workflow, queued: taken back, so that every later read does not
      // pay for them (GET /overview reads the queued tasks' shapes and the last hour's events).
      // (Not the fixtures: a cancel answers with its task, and a retry comes after it.)
      for (const f of [...Object.values(fixtures.live), ...Object.values(fixtures.doomed)]) stored.delete(f);
      if (stored.size) {
        const ids = [...stored];
        await sql.query('delete from task_events where task_id in (select id from tasks where id = any($1::uuid[]) or workflow_id = any($1::uuid[]))', [ids]);
        await sql.query('delete from tasks where id = any($1::uuid[]) or workflow_id = any($1::uuid[])', [ids]);
        await sql.query('delete from workflows where id = any($1::uuid[])', [ids]);
        print = await storedRows(sql);
      }
      perRoute.push({ route: op.route, ms: performance.now() - routeStarted, requests: opCases.length });
    }

    const slowest = timings.sort((x, y) => y.ms - x.ms).slice(0, 10);
    console.log(
      [
        `size limits: ${ops.filter((o) => o.route.includes(ONLY)).length} operations, ${counts.requests} requests (${counts.past} past a limit), ${counts.accepted} at a limit accepted, ${counts.atRefused} at a limit refused; header limit ${headLimit} bytes (URL, names and values); server peak RSS ${peakRss(jarvis.child.pid)}`,
        `slowest operations: ${perRoute
          .sort((x, y) => y.ms - x.ms)
          .slice(0, 6)
          .map((r) => `${r.route} ${Math.round(r.ms / 100) / 10} s (${r.requests} requests)`)
          .join(', ')}`,
        'slowest requests:',
        ...slowest.map((t) => `  ${Math.round(t.ms)} ms ${t.status} ${t.what.slice(0, 200)}`),
        `at a limit, refused for what they mean (not their size): ${notAccepted.length}`,
        ...notAccepted.map((n) => `  ${n}`),
      ].join('\n'),
    );
    // Nothing the requests did made the server log an error, in a request or in the background.
    for (const line of jarvis.output().split('\n').filter((l) => /^\{"level":(5|6)\d,/.test(l))) problems.set(`error logged | ${line.slice(0, 200)}`, line.slice(200, 600));
    const report = [...problems].map(([k, d]) => `${k} -> ${d}`).join('\n');
    expect(report, `${problems.size} rule(s) broken:\n${report}`).toBe('');
  }, 600_000);

  /** The server's error line for a request id, shortened. */
  const logLine = (requestId: string): string => {
    const out = jarvis.output();
    const needle = `"request_id":"${requestId}"`;
    for (let i = out.indexOf(needle); requestId && i >= 0; i = out.indexOf(needle, i + 1)) {
      const line = out.slice(out.lastIndexOf('\n', i) + 1, out.indexOf('\n', i) < 0 ? undefined : out.indexOf('\n', i));
      if (!line.includes('"msg":"request"')) return line.slice(0, 400);
    }
    return '(no log line)';
  };
});

/** Adds every UUID under an `id` key of an answer to `into`. */
function idsIn(v: unknown, into: Set<string>): void {
  if (Array.isArray(v)) for (const x of v) idsIn(x, into);
  else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (k === 'id' && typeof x === 'string' && /^[0-9a-f-]{36}$/i.test(x)) into.add(x);
      else idsIn(x, into);
    }
  }
}

/** The value at a path. */
function at(v: Json, path: Path): Json {
  let cur: Json = v;
  for (const p of path) cur = (cur as Record<string | number, Json>)[p];
  return cur;
}

/** FastAPI's shape for an error: {"detail": …}; for 422, a list of {type, loc, msg}. */
function shapeProblem(a: Answer): string | null {
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
  } else if (typeof detail !== 'string') return `detail ${JSON.stringify(detail).slice(0, 120)}, not a string`;
  return null;
}

/** The peak resident memory of a process (Linux), as "123 MB". */
function peakRss(pid: number | undefined): string {
  try {
    const kb = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
    return `${Math.round(kb / 1024)} MB`;
  } catch {
    return '(unknown)';
  }
}
