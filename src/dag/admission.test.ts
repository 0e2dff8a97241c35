import { describe, expect, it } from 'vitest';
import type { AncestorValues } from '../workflow/template.ts';
import { admission, waitingOn } from './admission.ts';

describe('waitingOn', () => {
  it('names up to five parents, and counts a wide fan-in', () => {
    expect(waitingOn(2, ['a', 'b'], 3)).toBe('waiting on a, b');
    expect(waitingOn(998, ['m3', 'm7', 'm9', 'm11'], 1000)).toBe('waiting on 998 of 1000 parents: m3, m7, m9, …');
  });
});

describe('admission', () => {
  const task = { id: 't', whenCondition: null, templates: { name: null, command: ['echo', '{{ tasks.p.result }}'], env: {} } };

  it('fills the templates of a task that runs, and fails one whose value is missing', () => {
    const values: AncestorValues = new Map([['p', { status: 'succeeded', result: 'ok', outputs: {} }]]);
    expect(admission(task, null, null, values)).toEqual({ run: true, fields: { name: null, command: ['echo', 'ok'], env: {} } });
    expect(admission(task, null, null, new Map())).toEqual({ run: false, fail: expect.stringMatching(/^cannot fill command\.1: tasks\.p\.result has no value/) });
  });

  it('fails the task alone when working it out throws, instead of throwing into the transaction', () => {
    const throwing = { get: () => { throw new RangeError('Invalid string length'); } } as unknown as AncestorValues;
    expect(admission(task, null, null, throwing)).toEqual({ run: false, fail: 'cannot release: Invalid string length; retry the workflow (POST /workflows/{id}/retry) to run it again' });
  });
});
