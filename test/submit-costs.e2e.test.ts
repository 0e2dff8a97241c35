// Submit-path costs on hostile input (an algorithmic-complexity audit, docs/decisions.md
// "Submit-path costs on hostile input (session 33)"): each input here once blocked the API's event
// loop for seconds, answered a response of hundreds of MB, or a 500. What is asserted is the
// shape of the answer (status, item count, size); the times are in the commit messages and bench/.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/database.ts';
import { api, startJarvis } from './support/jarvis.ts';
import { removeLeftovers } from './support/leftovers.ts';

afterAll(removeLeftovers);

const ADMIN = 'submit-costs-admin-key-0123456789ab';
const auth = { authorization: `Bearer ${ADMIN}` };

describe('submit costs on hostile input', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let jarvis: Awaited<ReturnType<typeof startJarvis>>;
  const call = (method: string, path: string, body?: unknown) => api(jarvis.url).call(method, path, body, auth);
  /** The call, with the length of the answer as sent. */
  const sized = async (path: string, body: unknown) => {
    const res = await fetch(jarvis.url + path, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, length: text.length, body: JSON.parse(text) };
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    jarvis = await startJarvis({ command: 'server', databaseUrl: db.url, env: { JARVIS_ADMIN_KEY: ADMIN } });
  });
  afterAll(async () => {
    await jarvis?.stop();
    await db?.drop();
  });

  it('lists a few template errors per field, with an excerpt of it, however many the field holds', async () => {
    // Was one item per "{{}}", each echoing the whole field: 16 KB → a 65 MB answer; 128 KB → 500.
    for (const k of [4_000, 32_000]) {
      const command = '{{}}'.repeat(k);
      const r = await sized('/workflows', { tasks: [{ key: 'a', image: 'b', command }] });
      expect(r.status).toBe(422);
      expect(r.body.detail).toHaveLength(11);
      expect(r.body.detail[0]).toMatchObject({ type: 'value_error', loc: ['body', 'tasks', 0, 'command'] });
      expect(r.body.detail[0].msg).toMatch(/^Value error, at character 1: unknown syntax "\{\{  \}\}"/);
      expect(r.body.detail[10].msg).toBe('Value error, at character 41: more problems follow; only the first 10 are listed, fix them and submit again');
      expect(r.body.detail[0].input).toBe(`${command.slice(0, 1024)}… (${command.length} characters, cut)`);
      expect(r.length).toBeLessThan(20_000);
    }
    // A short field is echoed whole, as pydantic does.
    const short = await call('POST', '/workflows', { tasks: [{ key: 'a', image: 'b', command: 'echo {{ x }}' }] });
    expect(short.status).toBe(422);
    expect(short.body.detail).toHaveLength(1);
    expect(short.body.detail[0].input).toBe('echo {{ x }}');
    expect((await call('GET', '/workflows')).body.total).toBe(0);
  });

  it('lists the first 100 problems of a body and counts the rest, and never answers 500 when zod gives up', async () => {
    // 50,000 env values in one task: over env's bound (1,000 entries), refused before zod walks them.
    const envOf = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 1]));
    const oneTask = await sized('/workflows', { tasks: [{ key: 'a', image: 'b', env: envOf(50_000) }] });
    expect(oneTask.status).toBe(422);
    expect(oneTask.body.detail).toEqual([expect.objectContaining({ type: 'too_long', loc: ['body', 'tasks', 0, 'env'], ctx: { field_type: 'Dictionary', max_length: 1000, actual_length: 50_000 } })]);
    // 50,000 env values that are numbers, 1,000 a task: 100,000 items (5-8 s to convert) before, now 101.
    const many = await sized('/workflows', { tasks: Array.from({ length: 50 }, (_, t) => ({ key: `t${t}`, image: 'b', env: envOf(1000) })) });
    expect(many.status).toBe(422);
    expect(many.body.detail).toHaveLength(101);
    expect(many.body.detail[0]).toMatchObject({ loc: ['body', 'tasks', 0, 'env', 'k0', 'str'], type: 'string_type' });
    const last = many.body.detail[100];
    expect(last).toMatchObject({ type: 'too_many_errors', loc: ['body'], input: null });
    expect(last.ctx.left_out).toBeGreaterThan(49_000);
    expect(last.msg).toBe(`${last.ctx.left_out} more problems were found and not listed (only the first 100 are); fix these and send the request again`);
    // 150,000 of them, spread over tasks: zod overflows its stack (RangeError), which was a 500.
    const over = await sized('/workflows', { tasks: Array.from({ length: 150 }, (_, t) => ({ key: `t${t}`, image: 'b', env: envOf(1000) })) });
    expect(over.status).toBe(422);
    expect(over.body.detail).toEqual([expect.objectContaining({ type: 'too_many_errors', loc: ['body'] })]);
    expect(over.body.detail[0].msg).toMatch(/too many invalid values to check them all/);
    // 400,000 unknown dependencies: 400,000 items, a 76 MB answer, before.
    const unknown = await sized('/workflows', { tasks: Array.from({ length: 100 }, (_, t) => ({ key: `t${t}`, image: 'b', depends_on: Array.from({ length: 4_000 }, (_, j) => `u${j}`) })) });
    expect(unknown.status).toBe(422);
    expect(unknown.body.detail).toHaveLength(101);
    expect(unknown.body.detail[0]).toMatchObject({ loc: ['body', 'tasks', 0, 'depends_on', 0], msg: 'Value error, unknown dependency "u0": no task in this workflow has that key' });
    expect(unknown.body.detail[100]).toMatchObject({ type: 'too_many_errors', ctx: { left_out: 400_000 - 100 } });
    expect(unknown.length).toBeLessThan(40_000);
    // A batch the same way.
    const batch = await sized('/tasks/batch', { tasks: Array.from({ length: 1000 }, () => ({ image: 1, command: 2 })) });
    expect(batch.status).toBe(422);
    expect(batch.body.detail).toHaveLength(101);
    expect((await call('GET', '/workflows')).body.total).toBe(0);
    expect((await call('GET', '/tasks')).body.total).toBe(0);
  });

  it('accepts a 10,000-task chain each reading its parent, and still refuses a reference to a non-ancestor', async () => {
    // Was 10 s and 1.1 GB of the API's heap to check (each ancestor set copied its parent's).
    const tasks = Array.from({ length: 10_000 }, (_, i) => ({ key: `t${i}`, image: 'b', depends_on: i ? [`t${i - 1}`] : [], name: i ? `{{ tasks.t${i - 1}.status }}` : 'x' }));
    const r = await call('POST', '/workflows', { tasks: [...tasks].reverse() });
    expect(r.status).toBe(201);
    expect(r.body.tasks).toHaveLength(10_000);
    expect((await call('POST', `/workflows/${r.body.id}/cancel`)).status).toBe(200);
    const bad = await call('POST', '/workflows', { tasks: [...tasks.slice(0, 3), { key: 'x', image: 'b', depends_on: ['t0'], command: 'echo {{ tasks.t2.result }}' }] });
    expect(bad.status).toBe(422);
    expect(bad.body.detail).toEqual([
      expect.objectContaining({ loc: ['body', 'tasks', 3, 'command'], msg: 'Value error, {{ tasks.t2.result }}: task "t2" is not an ancestor of "x"; add "t2" to depends_on (directly or through a task that depends on it) so it has finished before "x" starts' }),
    ]);
  });

  it("looks a batch's idempotency keys up together and names the first one already used, in batch order", async () => {
    const first = await call('POST', '/tasks/batch', { tasks: ['k999', 'k10', 'k500'].map((k) => ({ image: 'b', idempotency_key: k })) });
    expect(first.status).toBe(201);
    const k10 = first.body.items[1].id;
    const before = (await call('GET', '/tasks')).body.total;
    const again = await call('POST', '/tasks/batch', { tasks: Array.from({ length: 1000 }, (_, i) => ({ image: 'b', idempotency_key: `k${i}` })) });
    expect(again.status).toBe(409);
    expect(again.body.detail).toBe(`idempotency_key "k10" is already used by task ${k10}; nothing was stored`);
    expect((await call('GET', '/tasks')).body.total).toBe(before);
    const fresh = await call('POST', '/tasks/batch', { tasks: Array.from({ length: 1000 }, (_, i) => ({ image: 'b', idempotency_key: `fresh-${i}` })) });
    expect(fresh.status).toBe(201);
    expect(fresh.body.items).toHaveLength(1000);
  });
});
