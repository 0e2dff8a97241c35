// The bounded records of a body (env, labels, ...), counted before zod walks them.
import { z } from '@hono/zod-openapi';
import { describe, expect, it } from 'vitest';
import { testApp } from '../../../test/support/fastapi-app.ts';
import { maxEntries, oversizedRecords } from './entry-limits.ts';
import { TaskBatchCreate, TaskCreate, WorkflowCreate, MAX_ENV_ENTRIES, MAX_LABELS } from '../schemas.ts';
import { MAX_OUTPUTS } from '../../workflow/outputs.ts';
import { ScheduleCreate } from '../schedule-schemas.ts';

const entries = (n: number, value: unknown = 'v') => Object.fromEntries(Array.from({ length: n }, (_, i) => [`K${i}`, value]));
const tooLong = (loc: unknown[], max: number, actual: number, input: unknown) => ({
  type: 'too_long',
  loc,
  msg: `Dictionary should have at most ${max} items after validation, not ${actual}`,
  input,
  ctx: { field_type: 'Dictionary', max_length: max, actual_length: actual },
});

describe('oversizedRecords', () => {
  it('finds env, labels, node_selector and outputs over their bounds, at their loc, in pydantic v2 words', () => {
    const env = entries(MAX_ENV_ENTRIES + 1, 1);
    const labels = entries(MAX_LABELS + 1);
    const outputs = entries(MAX_OUTPUTS + 1, { path: '/tmp/x' });
    expect(oversizedRecords(TaskCreate, { image: 'b', env, labels, node_selector: labels, outputs }, ['body'], 101)).toEqual([
      tooLong(['body', 'env'], MAX_ENV_ENTRIES, MAX_ENV_ENTRIES + 1, env),
      tooLong(['body', 'node_selector'], MAX_LABELS, MAX_LABELS + 1, labels),
      tooLong(['body', 'labels'], MAX_LABELS, MAX_LABELS + 1, labels),
      tooLong(['body', 'outputs'], MAX_OUTPUTS, MAX_OUTPUTS + 1, outputs),
    ]);
  });

  it('follows lists of tasks to the task that is over', () => {
    const env = entries(150_000, 1);
    const body = { name: 'w', tasks: [{ key: 'a', image: 'b', env: entries(MAX_ENV_ENTRIES) }, { key: 'b', image: 'b', env }] };
    expect(oversizedRecords(WorkflowCreate, body, ['body'], 101)).toEqual([tooLong(['body', 'tasks', 1, 'env'], MAX_ENV_ENTRIES, 150_000, env)]);
    const schedule = { name: 's', cron: '* * * * *', task: { image: 'b', env: entries(1001) }, workflow: { tasks: [{ key: 'a', image: 'b', labels: entries(101) }] } };
    expect(oversizedRecords(ScheduleCreate, schedule, ['body'], 101).map((i) => i.loc)).toEqual([['body', 'task', 'env'], ['body', 'workflow', 'tasks', 0, 'labels']]);
    expect(oversizedRecords(TaskBatchCreate, { tasks: [{ image: 'b', labels: entries(MAX_LABELS + 5) }] }, ['body'], 101)[0]?.loc).toEqual(['body', 'tasks', 0, 'labels']);
  });

  it('accepts records at their bound, and leaves anything else to zod', () => {
    const atBound = { image: 'b', env: entries(MAX_ENV_ENTRIES), labels: entries(MAX_LABELS), node_selector: entries(MAX_LABELS), outputs: entries(MAX_OUTPUTS, { path: '/a' }) };
    expect(oversizedRecords(TaskCreate, atBound, ['body'], 101)).toEqual([]);
    for (const body of [null, 'text', [], { image: 'b', env: 'not a dict' }, { image: 'b', env: [1, 2] }, { tasks: 'no' }, { tasks: [null, 1, 'x'] }, { image: 'b', command: ['a'] }]) {
      expect(oversizedRecords(WorkflowCreate, body, ['body'], 101)).toEqual([]);
      expect(oversizedRecords(TaskCreate, body, ['body'], 101)).toEqual([]);
    }
  });

  it('lists at most `cap` items', () => {
    const tasks = Array.from({ length: 300 }, (_, i) => ({ key: `t${i}`, image: 'b', labels: entries(MAX_LABELS + 1) }));
    expect(oversizedRecords(WorkflowCreate, { tasks }, ['body'], 101)).toHaveLength(101);
  });

  it('documents the bounds as maxProperties in the OpenAPI document', () => {
    const { app } = testApp([{ method: 'post', path: '/t', body: TaskCreate }]);
    const doc = app.getOpenAPI31Document({ openapi: '3.1.0', info: { title: 't', version: '1' } }) as unknown as { components: { schemas: Record<string, { properties: Record<string, { maxProperties?: number; anyOf?: Array<{ maxItems?: number }> }> }> } };
    const props = doc.components.schemas.TaskCreate!.properties;
    expect(props.env!.maxProperties).toBe(MAX_ENV_ENTRIES);
    expect(props.labels!.maxProperties).toBe(MAX_LABELS);
    expect(props.node_selector!.maxProperties).toBe(MAX_LABELS);
    expect(props.outputs!.maxProperties).toBe(MAX_OUTPUTS);
    expect(props.command!.anyOf?.[0]?.maxItems).toBe(10_000);
  });
});

describe('the request middleware', () => {
  const Body = z.strictObject({ tags: maxEntries(z.record(z.string(), z.string()), 2).optional(), n: z.int() });
  const { app } = testApp([{ method: 'post', path: '/items', body: Body }]);
  const post = (body: unknown) => app.request('/items', { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });

  it('answers one 422 for a record over its bound, before zod (whose errors elsewhere in the body are not listed)', async () => {
    const r = await post({ tags: { a: 'x', b: 'y', c: 'z' }, n: 'not an int' });
    expect(r.status).toBe(422);
    expect(await r.json()).toEqual({ detail: [{ type: 'too_long', loc: ['body', 'tags'], msg: 'Dictionary should have at most 2 items after validation, not 3', input: { a: 'x', b: 'y', c: 'z' }, ctx: { field_type: 'Dictionary', max_length: 2, actual_length: 3 } }] });
  });

  it('lets a record at its bound through to the schema', async () => {
    expect((await post({ tags: { a: 'x', b: 'y' }, n: 1 })).status).toBe(200);
    expect((await post({ tags: { a: 'x', b: 'y' }, n: 'x' })).status).toBe(422);
  });
});
