// Requests generated from the reference app's routes rather than its models: query and path
// parameters of every type, unreadable bodies, deep nesting, unknown paths, wrong methods, HEAD.
import { type BodyRoute, type SchemaWalker } from './body-cases.ts';
import type { Case, OpenApi, Schema } from './types.ts';

const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000';
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];

/** Path parameters filled with values that name nothing on either server. */
export function fillPath(template: string, id = UNKNOWN_ID): string {
  return template.replace('{id}', id).replace('{name}', 'no_such_secret');
}

/** What each kind of query parameter is tried with (valid ones too: both must take them). */
function queryValues(w: SchemaWalker, s: Schema): Array<[kind: string, value: string]> {
  const { schema } = w.unwrap(s);
  if (schema.enum) return [['enum', 'nope'], ['enum', ''], ['enum', String(schema.enum[0]).toUpperCase()], ['valid', String(schema.enum[0])]];
  switch (schema.type) {
    case 'integer': {
      const out: Array<[string, string]> = [['wrong type', 'abc'], ['wrong type', ''], ['wrong type', '1.5'], ['wrong type', '1e3'], ['wrong type', '0x10']];
      out.push(['coercible', ' 5 '], ['coercible', '+5'], ['coercible', '05'], ['coercible', '5.0'], ['coercible', '٥'], ['coercible', '5_0']);
      out.push(['huge', '100000000000000000000'], ['valid', '5']);
      if (schema.minimum !== undefined) out.push(['out of range', String(schema.minimum - 1)]);
      if (schema.maximum !== undefined) out.push(['out of range', String(schema.maximum + 1)], ['in range', String(schema.maximum)]);
      return out;
    }
    case 'boolean':
      return ['maybe', '', '2', 'TRUE', 'yes', 'on', 't', 'n', '1', 'false'].map((v) => ['bool', v]);
    case 'string':
      if (schema.format === 'uuid') return [['uuid', 'nope'], ['uuid', ''], ['uuid', UNKNOWN_ID.toUpperCase()], ['uuid', UNKNOWN_ID.replaceAll('-', '')], ['uuid', `{${UNKNOWN_ID}}`], ['valid', UNKNOWN_ID]];
      if (schema.format === 'date-time') {
        return ['yesterday', '', '2026-01-01', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00', '2026-01-01 00:00:00+01:00', '1700000000'].map((v) => ['date-time', v]);
      }
      return [['string', ''], ['string', 'a\u0000b'], ['string', 'k:v'], ['string', 'nolabel'], ['string', 'x'.repeat(300)]];
    default:
      return [['string', 'x']];
  }
}

export function routeCases(doc: OpenApi, w: SchemaWalker): { cases: Case[]; bodyRoutes: BodyRoute[] } {
  const cases: Case[] = [];
  const bodyRoutes: BodyRoute[] = [];
  const add = (c: Omit<Case, 'route'> & { template: string }) => {
    const { template, ...rest } = c;
    cases.push({ ...rest, route: `${c.method} ${template}` });
  };

  for (const [template, ops] of Object.entries(doc.paths)) {
    if (template === '/metrics') continue; // its text differs by design; its status is checked below
    for (const [m, op] of Object.entries(ops)) {
      const method = m.toUpperCase();
      const path = fillPath(template);
      const params = op.parameters ?? [];
      if (!op.requestBody) add({ template, kind: 'valid', field: '', method, path });
      for (const p of params.filter((q) => q.in === 'query')) {
        for (const [kind, v] of queryValues(w, p.schema)) {
          add({ template, kind, field: `?${p.name}`, method, path: `${path}?${p.name}=${encodeURIComponent(v)}` });
        }
        add({ template, kind: 'repeated', field: `?${p.name}`, method, path: `${path}?${p.name}=1&${p.name}=2` });
      }
      if (params.some((q) => q.in === 'query')) add({ template, kind: 'unknown query', field: '?nope', method, path: `${path}?nope=1` });
      if (template.includes('{id}')) {
        for (const v of ['nope', '123', UNKNOWN_ID.toUpperCase(), UNKNOWN_ID.replaceAll('-', ''), `{${UNKNOWN_ID}}`, `urn:uuid:${UNKNOWN_ID}`, '%00', '%20']) {
          add({ template, kind: 'path', field: '{id}', method, path: fillPath(template, v), body: op.requestBody ? '{}' : undefined });
        }
      }
      if (template.includes('{name}')) {
        for (const v of ['bad name!', '%00', 'x'.repeat(200), '1abc']) add({ template, kind: 'path', field: '{name}', method, path: template.replace('{name}', v) });
      }
      if (op.requestBody) {
        const schema = op.requestBody.content['application/json'].schema;
        bodyRoutes.push({ method, path, template, schema });
        for (const [kind, body, headers] of unreadableBodies()) add({ template, kind, field: '(body)', method, path, body, headers });
      } else if (method === 'POST') {
        add({ template, kind: 'unexpected body', field: '(body)', method, path, body: '{"x": 1}' });
      }
      if (method === 'GET') add({ template, kind: 'HEAD', field: '', method: 'HEAD', path });
    }
    const allowed = Object.keys(ops).map((m) => m.toUpperCase());
    for (const method of METHODS.filter((x) => !allowed.includes(x))) {
      add({ template, kind: '405', field: '', method, path: fillPath(template), body: method === 'GET' ? undefined : '{}' });
    }
    add({ template, kind: 'OPTIONS', field: '', method: 'OPTIONS', path: fillPath(template) });
    add({ template, kind: 'trailing slash', field: '', method: allowed[0], path: `${fillPath(template)}/` });
  }
  for (const p of ['/nope', '/TASKS', '/tasks/x/y/z', '//tasks', '/tasks/%', '/nodes/register/x', '/docs/nope']) {
    add({ template: p, kind: 'unknown path', field: '', method: 'GET', path: p });
  }
  return { cases, bodyRoutes };
}

/** Bodies no model can read: malformed JSON, not an object, wrong content type, deep nesting. */
function unreadableBodies(): Array<[kind: string, body: string, headers?: Record<string, string>]> {
  const deep = (n: number, open: string, close: string, inner = '1') => open.repeat(n) + inner + close.repeat(n);
  return [
    ['malformed json', '{"image":'],
    ['malformed json', '{'],
    ['malformed json', '{"image": "x",}'],
    ['malformed json', "{'image': 'x'}"],
    ['malformed json', '{"image": "x"} trailing'],
    ['malformed json', '{"max_retries": NaN}'],
    ['malformed json', '\uFEFF{}'],
    ['empty body', ''],
    ['not an object', '[]'],
    ['not an object', '"x"'],
    ['not an object', '1'],
    ['not an object', 'null'],
    ['duplicate key', '{"image": 5, "image": "x"}'],
    ['content type', '{}', { 'content-type': 'text/plain' }],
    ['content type', '{}', { 'content-type': 'application/json; charset=utf-8' }],
    ['content type', '{}', { 'content-type': 'application/vnd.api+json' }],
    ['deep nesting', deep(3000, '[', ']')],
    ['deep nesting', `{"image": ${deep(3000, '{"a":', '}')}}`],
    ['deep nesting', `{"env": {"K": ${deep(3000, '[', ']')}}}`],
  ];
}

/** A few requests the generator cannot make from one field at a time: rules across fields. */
export function crossFieldCases(image: string): Case[] {
  const task = { image, node_selector: { 'jarvis-parity': 'no-such-node' } };
  const wf = (tasks: Array<Record<string, unknown>>) => JSON.stringify({ tasks: tasks.map((t) => ({ ...task, ...t })) });
  const c = (route: string, field: string, body: string): Case => ({ kind: 'cross-field', route, field, method: 'POST', path: route.split(' ')[1], body });
  return [
    c('POST /tasks', 'resources', JSON.stringify({ ...task, resources: { memory_mb: 512, memory: '1Gi' } })),
    c('POST /tasks', 'resources', JSON.stringify({ ...task, resources: { memory_mb: null, memory: '1Gi', cpu: '500m' } })),
    c('POST /tasks', 'command', JSON.stringify({ ...task, command: [] })),
    c('POST /tasks', 'command', JSON.stringify({ ...task, command: '' })),
    c('POST /tasks/batch', 'tasks', JSON.stringify({ tasks: [task, { ...task, max_retries: 'x' }, { image: 5 }] })),
    c('POST /workflows', 'tasks', wf([{ key: 'a', depends_on: ['b'] }, { key: 'b', depends_on: ['a'] }])),
    c('POST /workflows', 'tasks', wf([{ key: 'a', depends_on: ['a'] }])),
    c('POST /workflows', 'tasks', wf([{ key: 'a' }, { key: 'a' }])),
    c('POST /workflows', 'tasks', wf([{ key: 'a', depends_on: ['nope'] }])),
    c('POST /workflows', 'tasks', wf([{ key: 'a' }, { key: 'b', depends_on: ['a', 'a'] }])),
    c('POST /workflows', 'tasks', wf([{ key: 'a' }, { key: 'b', depends_on: ['a'] }, { key: 'c', depends_on: ['b', 'a'] }])),
  ];
}
