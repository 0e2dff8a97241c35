import { describe, expect, it } from 'vitest';
import { EVENT_TYPES, EventPattern, eventBody, matchesEvent, orderingKey, taskEvent, workflowEvent } from './events.ts';

describe('matchesEvent', () => {
  it('matches a name exactly, a family with .*, and everything with *', () => {
    expect(matchesEvent(['task.succeeded'], 'task.succeeded')).toBe(true);
    expect(matchesEvent(['task.succeeded'], 'task.failed')).toBe(false);
    expect(matchesEvent(['workflow.*'], 'workflow.failed')).toBe(true);
    expect(matchesEvent(['workflow.*'], 'task.failed')).toBe(false);
    expect(matchesEvent(['task.failed', 'workflow.*'], 'workflow.succeeded')).toBe(true);
    expect(matchesEvent([], 'task.failed')).toBe(false);
    for (const t of EVENT_TYPES) expect(matchesEvent(['*'], t)).toBe(true);
  });

  it('accepts known names and families as patterns, and says which exist otherwise', () => {
    for (const p of ['*', 'task.*', 'workflow.*', 'task.timed_out']) expect(EventPattern.safeParse(p).success, p).toBe(true);
    const r = EventPattern.safeParse('task.done');
    expect(r.success).toBe(false);
    expect(r.error?.issues[0].message).toMatch(/^unknown event "task\.done": use one of task\.queued, .*workflow\.cancelled, or task\.\*, workflow\.\*, or \*$/);
    expect(EventPattern.safeParse('tasks.*').success).toBe(false);
  });
});

describe('event payloads', () => {
  const task = { id: 't1', name: 'extract', status: 'succeeded', workflow_id: 'w1', workflow_key: 'extract', exit_code: 0, reason: null, result: '42', outputs: { rows: '42' } };

  it('are {id, type, at, data} and serialise to the bytes that get signed', () => {
    const e = taskEvent('e1', 'task.succeeded', new Date('2026-12-02T01:00:00Z'), task);
    expect(JSON.parse(eventBody(e))).toEqual({ id: 'e1', type: 'task.succeeded', at: '2026-12-02T01:00:00.000Z', data: { task } });
    const w = workflowEvent('e2', 'workflow.failed', new Date(0), { id: 'w1', name: null, status: 'failed', schedule_id: 's1' });
    expect(w).toEqual({ id: 'e2', type: 'workflow.failed', at: '1970-01-01T00:00:00.000Z', data: { workflow: { id: 'w1', name: null, status: 'failed', schedule_id: 's1' } } });
  });

  it('are ordered per task and per workflow', () => {
    expect(orderingKey(taskEvent('e1', 'task.running', new Date(0), task))).toBe('task:t1');
    expect(orderingKey(workflowEvent('e2', 'workflow.running', new Date(0), { id: 'w1', name: null, status: 'running', schedule_id: null }))).toBe('workflow:w1');
  });
});
