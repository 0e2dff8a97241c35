// FastAPI parity measured against FastAPI itself (issue #12): a FastAPI + Pydantic v2 app built
// from api.md (test/reference/) and a real `jarvis up` get the same requests — generated from the
// reference app's models and routes with a fixed seed — and must answer alike: the same status,
// the same Allow on a 405, the same (type, loc, msg) items on a 422. Every difference must belong
// to a family of the allow-list (test/support/parity/families.ts, each with its reason and
// verdict); a new kind of difference fails the test. The figures are printed and written to
// test-output/fastapi-parity.json; docs/fastapi-parity.md discusses them.
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase } from './support/database.ts';
import { TEST_IMAGE } from './support/env.ts';
import { ROOT, startJarvis, type JarvisProcess } from './support/jarvis.ts';
import { bodyCases, SchemaWalker } from './support/parity/body-cases.ts';
import { ask, describeCase, pool, sameAnswer, show, type Difference } from './support/parity/compare.ts';
import { FAMILIES, familyOf } from './support/parity/families.ts';
import { crossFieldCases, routeCases } from './support/parity/http-cases.ts';
import type { Case, OpenApi } from './support/parity/types.ts';
import { ensureReferenceApp, startReferenceApp, type ReferenceApp } from './support/reference-app.ts';
import { removeLeftovers } from './support/leftovers.ts';

// Redis keys and task containers of this file's processes; first, so that it runs after the
// other after-hooks, once those processes are stopped.
afterAll(removeLeftovers);

const SEED = 12_2026;

let jarvis: JarvisProcess;
let ref: ReferenceApp;
let db: Awaited<ReturnType<typeof createTestDatabase>>;

beforeAll(async () => {
  const python = await ensureReferenceApp();
  [ref, db] = await Promise.all([startReferenceApp(python), createTestDatabase()]);
  // With a secret key, as a deployment that uses secrets runs (else POST /secrets is a 503).
  jarvis = await startJarvis({ databaseUrl: db.url, env: { JARVIS_SECRET_KEY: randomBytes(32).toString('hex') } });
}, 360_000);

afterAll(async () => {
  await Promise.all([jarvis?.stop(), ref?.stop()]);
  await db?.drop();
});

function generate(doc: OpenApi): Case[] {
  let n = 0;
  const unique = () => `${SEED}-${++n}`;
  const walker = new SchemaWalker(doc, TEST_IMAGE);
  const { cases, bodyRoutes } = routeCases(doc, walker);
  bodyRoutes.forEach((r, i) => cases.push(...bodyCases(walker, r, SEED + i, unique)));
  cases.push(...crossFieldCases(TEST_IMAGE));
  return cases;
}

/** A key created on Jarvis ends its open mode: revoke it with itself and wait for open mode. */
async function revokeCreatedKey(answerText: string): Promise<void> {
  const { id, key } = JSON.parse(answerText) as { id: string; key: string };
  const res = await fetch(`${jarvis.url}/auth/keys/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${key}` } });
  expect(res.status, 'revoking the key the generator created').toBe(204);
  const until = Date.now() + 10_000;
  while ((await fetch(`${jarvis.url}/tasks?limit=1`)).status !== 200) {
    if (Date.now() > until) throw new Error('Jarvis did not return to open mode after the generated key was revoked');
    await new Promise((r) => setTimeout(r, 100));
  }
}

it('answers every generated request as FastAPI does, but for the differences listed with a reason', async () => {
  const doc = (await (await fetch(`${ref.url}/openapi.json`)).json()) as OpenApi;
  const cases = generate(doc);
  // Creating a key ends Jarvis's open mode: those requests go last, one at a time.
  const createsKey = (c: Case) => c.method === 'POST' && c.path === '/auth/keys';
  const compare = async (c: Case) => {
    const [r, j] = await Promise.all([ask(ref.url, c), ask(jarvis.url, c)]);
    return { case: c, ref: r, jarvis: j };
  };
  const started = Date.now();
  const results = await pool(cases.filter((c) => !createsKey(c)), 6, compare);
  const keysStarted = Date.now();
  for (const c of cases.filter(createsKey)) {
    const r = await compare(c);
    results.push(r);
    if (r.jarvis.status === 201) await revokeCreatedKey(r.jarvis.text);
  }

  console.log(`sent ${results.length} requests to both in ${((keysStarted - started) / 1000).toFixed(1)} s, the key-creating ones in ${((Date.now() - keysStarted) / 1000).toFixed(1)} s`);
  const diffs: Difference[] = results.filter((r) => !sameAnswer(r.ref, r.jarvis));
  const byFamily = new Map<string, Difference[]>();
  const unlisted: Difference[] = [];
  for (const d of diffs) {
    const f = familyOf(d);
    if (!f) unlisted.push(d);
    else byFamily.set(f.id, [...(byFamily.get(f.id) ?? []), d]);
  }

  const identical = results.length - diffs.length;
  const share = ((100 * identical) / results.length).toFixed(1);
  const report = {
    seed: SEED,
    requests: results.length,
    identical,
    share_identical_percent: Number(share),
    by_kind: byKind(results, diffs),
    families: FAMILIES.map((f) => ({ id: f.id, verdict: f.verdict, count: byFamily.get(f.id)?.length ?? 0, examples: (byFamily.get(f.id) ?? []).slice(0, 3).map(line) })),
    unlisted: unlisted.map(line),
  };
  mkdirSync(join(ROOT, 'test-output'), { recursive: true });
  writeFileSync(join(ROOT, 'test-output/fastapi-parity.json'), JSON.stringify(report, null, 2));
  console.log(
    `FastAPI parity: ${identical} of ${results.length} generated requests answered alike (${share}%); differences by family:\n` +
      FAMILIES.map((f) => `  ${String(byFamily.get(f.id)?.length ?? 0).padStart(4)}  ${f.id} (${f.verdict})`).join('\n'),
  );

  expect(results.length).toBeGreaterThan(900);
  expect(unlisted.map(line), 'differences from FastAPI that no family of test/support/parity/families.ts explains').toStrictEqual([]);
  // A family that no longer occurs is fixed: take it out of the list (and docs/fastapi-parity.md).
  const gone = FAMILIES.filter((f) => !byFamily.has(f.id)).map((f) => f.id);
  expect(gone, 'families of the allow-list that no longer occur (fixed? remove them)').toStrictEqual([]);
}, 240_000);

/** How many requests of each kind were sent and how many of them were answered alike. */
function byKind(results: Difference[], diffs: Difference[]) {
  const out: Record<string, { sent: number; alike: number }> = {};
  for (const r of results) {
    const k = (out[r.case.kind] ??= { sent: 0, alike: 0 });
    k.sent++;
    if (!diffs.includes(r)) k.alike++;
  }
  return out;
}

function line(d: Difference) {
  return { kind: d.case.kind, field: d.case.field, route: d.case.route, request: describeCase(d.case), fastapi: show(d.ref), jarvis: show(d.jarvis) };
}
