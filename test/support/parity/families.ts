// The allow-list of the FastAPI differential test: each family of known differences between
// Jarvis and the reference app, how to recognise one, the verdict and the reason. The first
// family that matches takes a difference; one that matches none fails the test. Matchers look
// at the kind of request and at the exact shape of both answers, so a new kind of difference
// (another field, another error type, another status) is not swallowed by an old family.
import { itemKey, type Answer, type Difference, type ErrorItem } from './compare.ts';

export type Verdict = 'Jarvis should change' | 'Jarvis is better as it is' | 'api.md should say';

export interface Family {
  id: string;
  verdict: Verdict;
  reason: string;
  matches(d: Difference): boolean;
}

const BIG = '9007199254740991';
const INT32 = '2147483647';
/** Checks Jarvis has and api.md does not state. */
const CONSTRAINTS = ['string_too_short', 'string_too_long', 'string_pattern_mismatch', 'greater_than', 'greater_than_equal', 'less_than_equal', 'too_short', 'too_long'];
const UNSTATED_VALUE_ERRORS = [/NUL character/, /either memory_mb or memory, not both/, /is listed twice/];

const accepted = (a: Answer) => a.status < 300 || a.status === 404;
/** Items one answer has and the other lacks. */
const minus = (a: ErrorItem[], b: ErrorItem[]) => {
  const keys = new Set(b.map(itemKey));
  return a.filter((e) => !keys.has(itemKey(e)));
};
const both422 = (d: Difference) => d.ref.status === 422 && d.jarvis.status === 422;
const differing = (d: Difference) => [...minus(d.ref.errors, d.jarvis.errors), ...minus(d.jarvis.errors, d.ref.errors)];
const sameLoc = (a: ErrorItem, b: ErrorItem) => JSON.stringify(a.loc) === JSON.stringify(b.loc);
const locHas = (e: ErrorItem, ...parts: string[]) => parts.every((p) => e.loc.includes(p));
const isConstraint = (e: ErrorItem) =>
  (CONSTRAINTS.includes(e.type) && !e.msg.includes(BIG)) || (e.type === 'value_error' && UNSTATED_VALUE_ERRORS.some((re) => re.test(e.msg)));
const nonFinite = (d: Difference) => /"(inf|NaN)"|1e400/.test(d.case.body ?? '');

export const FAMILIES: Family[] = [
  {
    id: 'fastapi-500-on-nan',
    verdict: 'Jarvis is better as it is',
    reason: "Python's json module reads NaN, which is not JSON (RFC 8259); FastAPI then cannot serialise the 422 that echoes it and answers 500. Jarvis answers 422 json_invalid.",
    matches: (d) => d.ref.status === 500 && /NaN/.test(d.case.body ?? '') && d.jarvis.errors[0]?.type === 'json_invalid',
  },
  {
    id: 'huge-float-for-an-int',
    verdict: 'Jarvis should change',
    reason: 'A float literal far beyond 64 bits given for an int (max_retries: 1e300): Pydantic answers int_parsing_size; Jarvis checks the field\'s own bound (less_than_equal). After JSON.parse, JavaScript cannot tell 1e300 from a 301-digit integer literal (for which Pydantic too answers less_than_equal), so telling them apart needs the raw body text.',
    matches: (d) =>
      both422(d) &&
      d.ref.errors.length > 0 &&
      d.ref.errors.every((r) => r.type === 'int_parsing_size' && d.jarvis.errors.some((e) => sameLoc(r, e) && (e.type === 'less_than_equal' || e.type === 'greater_than_equal'))),
  },
  {
    id: 'integer-storage-bounds',
    verdict: 'api.md should say',
    reason: `Jarvis stores these integers as PostgreSQL integer and rejects values above ${INT32} (offset: above ${BIG}); api.md states no upper bound, so FastAPI accepts 10**30 (or, written as 1e300, fails with int_parsing_size). Put the bounds in api.md and the schema. (These answers also carry the spurious ${BIG} item.)`,
    matches: (d) =>
      (accepted(d.ref) || d.ref.errors.every((e) => e.type === 'int_parsing_size')) &&
      d.jarvis.status === 422 &&
      d.jarvis.errors.every((e) => e.type === 'less_than_equal' && (e.msg.endsWith(BIG) || e.msg.endsWith(INT32))),
  },
  {
    id: 'non-finite-numbers',
    verdict: 'Jarvis is better as it is',
    reason: 'Pydantic floats take "inf", "NaN" and 1e400 (= inf) unless allow_inf_nan=False, so FastAPI accepts an infinite CPU count or cpu_percent (and reports "NaN" as a failed comparison); Jarvis refuses them as not a number. api.md should say numbers are finite.',
    matches: (d) =>
      nonFinite(d) && (accepted(d.ref) || d.ref.status === 422) && d.jarvis.status === 422 && d.jarvis.errors.every((e) => ['float_type', 'string_type', 'value_error'].includes(e.type)),
  },
  {
    id: 'union-member-loc-cpu',
    verdict: 'Jarvis should change',
    reason: "resources.cpu is a union (number | quantity string). Pydantic reports a failure in each member, its loc ending in the member's name, and names the string member after its validator (here function-after[_cpu_quantity(), str]); Jarvis says str, and for a bad string gives one value_error at resources.cpu instead of one item per member. The validator name is the reference's own choice, so only the shape can be matched: one item per member.",
    matches: (d) => both422(d) && differing(d).every((e) => locHas(e, 'resources', 'cpu')),
  },
  {
    id: 'secret-must-exist',
    verdict: 'Jarvis is better as it is',
    reason: 'A task whose env names a secret its tenant does not have could only fail when it runs; Jarvis refuses it at submit with a 422 value_error at body.env.KEY saying to create the secret first. The reference app has no secret store to check against.',
    matches: (d) => accepted(d.ref) && d.jarvis.status === 422 && d.jarvis.errors.length > 0 && d.jarvis.errors.every((e) => e.type === 'value_error' && locHas(e, 'env') && /secret ".*" does not exist/.test(e.msg)),
  },
  {
    id: 'task-ids-are-uuids',
    verdict: 'Jarvis should change',
    reason: 'api.md says ids are UUIDs, so running_task_ids is list[UUID] (uuid_type, uuid_parsing); Jarvis takes any string there (string_type for a non-string, and "x" goes through to the 404 of the unknown node).',
    matches: (d) => d.case.field === 'running_task_ids' && d.ref.errors.every((e) => e.type.startsWith('uuid_')) && (d.jarvis.status === 404 || d.jarvis.errors.every((e) => e.type === 'string_type')),
  },
  {
    id: 'check-order',
    verdict: 'Jarvis should change',
    reason: 'FastAPI validates the whole request before the handler runs: a bad heartbeat body for an unknown node is a 422. Jarvis looks the node up first and answers 404 (and, where it is laxer than the model, the other way round).',
    matches: (d) => d.case.route === 'POST /nodes/{id}/heartbeat' && ((d.ref.status === 422 && d.jarvis.status === 404) || (d.ref.status === 404 && d.jarvis.status === 422)),
  },
  {
    id: 'path-and-body-together',
    verdict: 'Jarvis should change',
    reason: 'FastAPI validates path, query and body together and lists every problem; Jarvis stops at a bad path id and does not report the body.',
    matches: (d) =>
      both422(d) &&
      d.jarvis.errors.every((e) => e.loc[0] === 'path') &&
      d.ref.errors.some((e) => e.loc[0] === 'body') &&
      d.ref.errors.filter((e) => e.loc[0] === 'path').length === d.jarvis.errors.length,
  },
  {
    id: 'workflow-task-idempotency-key',
    verdict: 'api.md should say',
    reason: 'api.md says a workflow entry takes every Task field, idempotency_key included; Jarvis leaves it out (extra_forbidden), rightly: a workflow\'s tasks are created together, once. api.md should say "every field but idempotency_key".',
    matches: (d) => d.case.route === 'POST /workflows' && d.case.field.endsWith('idempotency_key') && d.jarvis.errors.length === 1 && d.jarvis.errors[0].type === 'extra_forbidden',
  },
  {
    id: 'allow-header',
    verdict: 'Jarvis is better as it is',
    reason: "Starlette's 405 names only the methods of the first route that matches the path (PUT /tasks → Allow: POST, though GET /tasks exists); Jarvis lists every method of the path plus HEAD, as RFC 9110 §15.5.6 asks.",
    matches: (d) => d.ref.status === 405 && d.jarvis.status === 405 && d.ref.allow !== d.jarvis.allow,
  },
  {
    id: 'head',
    verdict: 'Jarvis is better as it is',
    reason: "FastAPI routes declared with @app.get do not answer HEAD (405); Jarvis answers HEAD as GET without the body (RFC 9110 §9.3.2), which monitors and caches use.",
    matches: (d) => d.case.method === 'HEAD' && d.ref.status === 405 && (d.jarvis.status === 200 || d.jarvis.status === 404),
  },
  {
    id: 'uuid-message',
    verdict: 'Jarvis should change',
    reason: 'pydantic-core 2.46 words a bad UUID "invalid character: found `n` at 1"; Jarvis copies an older wording ("expected an optional prefix of `urn:uuid:` followed by [0-9a-fA-F-], found …"). The text follows the Pydantic version: track the one pinned in test/reference/requirements.txt.',
    matches: (d) => both422(d) && differing(d).every((e) => e.type === 'uuid_parsing') && d.ref.errors.length === d.jarvis.errors.length,
  },
  {
    id: 'uuid-forms-in-audit',
    verdict: 'Jarvis should change',
    reason: 'GET /audit?key_id= takes only the hyphenated form in Jarvis; Pydantic\'s UUID also takes 32 hex digits and {braces}, as Jarvis already does for every path id.',
    matches: (d) => d.case.field === '?key_id' && accepted(d.ref) && d.jarvis.errors.every((e) => e.type === 'uuid_parsing'),
  },
  {
    id: 'datetime-forms',
    verdict: 'Jarvis should change',
    reason: 'GET /audit?since= : Pydantic\'s datetime takes a date alone, no offset, a space for T, and Unix seconds; Jarvis takes only full ISO 8601 with an offset, and its message ("invalid character in year") is wrong for the inputs it refuses.',
    matches: (d) => d.case.field === '?since' && accepted(d.ref) && d.jarvis.errors.every((e) => e.type.startsWith('datetime')),
  },
  {
    id: 'null-means-default',
    verdict: 'Jarvis should change',
    reason: 'resources and network have defaults; FastAPI models written from api.md take null for them (X | None = None), as a Python client sends resources=None. Jarvis refuses null there (it already takes null for memory_mb and memory).',
    matches: (d) => d.case.kind === 'null' && accepted(d.ref) && d.jarvis.errors.length === 1 && ['model_attributes_type', 'enum'].includes(d.jarvis.errors[0].type),
  },
  {
    id: 'jarvis-defaults',
    verdict: 'api.md should say',
    reason: 'api.md lists capacity.gpu, the tenant of a new key and the three heartbeat fields without a default, so FastAPI requires them; Jarvis defaults them (gpu 0, tenant default, heartbeat fields optional). The defaults are friendlier: write them into api.md.',
    matches: (d) =>
      minus(d.jarvis.errors, d.ref.errors).length === 0 &&
      minus(d.ref.errors, d.jarvis.errors).every((e) => e.type === 'missing' && ['gpu', 'tenant', 'cpu_percent', 'memory_used_mb', 'running_task_ids'].includes(String(e.loc.at(-1)))) &&
      d.ref.status === 422 && d.jarvis.status !== 404,
  },
  {
    id: 'unstated-limits',
    verdict: 'api.md should say',
    reason: 'Checks Jarvis makes that api.md does not state: non-empty image, names and keys; no NUL in strings (PostgreSQL text cannot hold it); memory and memory_mb not both; a non-empty batch; max_parallel ≥ 1; capacity and heartbeat numbers > 0 / ≥ 0; lengths of names, hostnames, idempotency keys, audit filters; patterns of tenants and secret names. Each is sound: state it in api.md and the OpenAPI schema so a generated client knows it.',
    matches: (d) =>
      d.jarvis.status === 422 && (accepted(d.ref) || d.ref.status === 422) && minus(d.ref.errors, d.jarvis.errors).length === 0 && minus(d.jarvis.errors, d.ref.errors).every(isConstraint),
  },
];

export function familyOf(d: Difference): Family | undefined {
  return FAMILIES.find((f) => f.matches(d));
}
