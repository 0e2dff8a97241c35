import { describe, expect, it } from 'vitest';
import { TaskCreate, WorkflowCreate } from '../api/schemas.ts';
import { checkScheduleCron, scheduleCreateSchema, SchedulePatch } from './schedule-spec.ts';

const ScheduleCreate = scheduleCreateSchema({ task: TaskCreate, workflow: WorkflowCreate });
const issues = (v: unknown) => {
  const r = ScheduleCreate.safeParse(v);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};
const task = { image: 'alpine:3.20', command: ['echo', 'hi'] };

describe('ScheduleCreate', () => {
  it('fills the defaults: UTC, allow, no deadline, not paused', () => {
    const r = ScheduleCreate.safeParse({ name: 'nightly', cron: '0 2 * * *', task });
    expect(r.success).toBe(true);
    expect(r.data).toMatchObject({ timezone: 'UTC', concurrency: 'allow', starting_deadline_seconds: null, paused: false });
  });

  it('takes a workflow instead of a task, with every field given', () => {
    const wf = { tasks: [{ key: 'a', image: 'alpine:3.20' }] };
    const s = { name: 'etl', cron: '@daily', timezone: 'Europe/Berlin', workflow: wf, concurrency: 'forbid', starting_deadline_seconds: 600, paused: true };
    expect(issues(s)).toEqual([]);
  });

  it('wants exactly one of task or workflow', () => {
    expect(issues({ name: 'n', cron: '0 2 * * *' })).toEqual(['task: give exactly one of task (run one task per tick) or workflow (run one workflow per tick)']);
    expect(issues({ name: 'n', cron: '0 2 * * *', task, workflow: { tasks: [{ key: 'a', image: 'x' }] } })).toHaveLength(1);
  });

  it('names a bad cron, time zone, policy or deadline', () => {
    expect(issues({ name: 'n', cron: '0 25 * * *', task })).toEqual([expect.stringMatching(/^cron: cron "0 25 \* \* \*" is not valid: Invalid value for hour/)]);
    expect(issues({ name: 'n', cron: '0 2 * * *', timezone: 'Europe/Berlln', task })).toEqual([
      'timezone: timezone "Europe/Berlln" is not an IANA time zone name; use one such as "UTC", "Europe/Berlin" or "America/New_York"',
    ]);
    expect(issues({ name: 'n', cron: '0 2 * * *', task, concurrency: 'queue' })).toHaveLength(1);
    expect(issues({ name: 'n', cron: '0 2 * * *', task, starting_deadline_seconds: 0 })).toHaveLength(1);
    expect(issues({ name: 'n', cron: '0 2 * * *', task, suspend: true })).toHaveLength(1);
  });
});

describe('SchedulePatch', () => {
  it('takes any subset, and checks cron with the time zone once merged', () => {
    expect(SchedulePatch.safeParse({ paused: true }).success).toBe(true);
    expect(SchedulePatch.safeParse({ timezone: 'Nowhere/City' }).success).toBe(false);
    expect(checkScheduleCron({ cron: '0 2 * * *', timezone: 'America/New_York' })).toBeNull();
    expect(checkScheduleCron({ cron: 'every night', timezone: 'UTC' })).toMatchObject({ loc: ['cron'], msg: expect.stringMatching(/^cron "every night" is not valid/) });
  });
});
