import { describe, expect, it } from 'vitest';
import { InvalidInput } from '../domain/errors.ts';
import type { WorkflowSpec } from '../domain/task.ts';
import { MAX_TEMPLATE_ERRORS } from '../workflow/template.ts';
import { checkWorkflowSpecTemplates, MAX_INPUT_ECHO } from './template-checks.ts';

const problemsOf = (tasks: unknown[]) => {
  try {
    checkWorkflowSpecTemplates({ tasks } as WorkflowSpec);
    return [];
  } catch (err) {
    if (err instanceof InvalidInput) return err.problems;
    throw err;
  }
};

describe('checkWorkflowSpecTemplates', () => {
  it('echoes a field whole up to MAX_INPUT_ECHO characters, and a longer one cut, in each item', () => {
    const whole = `{{}}${'x'.repeat(MAX_INPUT_ECHO - 4)}`;
    expect(problemsOf([{ key: 'a', image: 'b', command: whole }])[0].input).toBe(whole);
    const long = '{{}}'.repeat(10_000);
    const items = problemsOf([{ key: 'a', image: 'b', command: ['ok', long] }]);
    expect(items).toHaveLength(MAX_TEMPLATE_ERRORS + 1);
    for (const item of items) {
      expect(item.loc).toEqual(['body', 'tasks', 0, 'command', 1]);
      expect(item.input).toBe(`${long.slice(0, MAX_INPUT_ECHO)}… (40000 characters, cut)`);
    }
  });

  it('never cuts a surrogate pair in half', () => {
    const text = `{{}}${'x'.repeat(MAX_INPUT_ECHO - 5)}😀😀`;
    const input = problemsOf([{ key: 'a', image: 'b', name: text }])[0].input as string;
    expect(input.startsWith(text.slice(0, MAX_INPUT_ECHO - 1))).toBe(true);
    expect(input.slice(MAX_INPUT_ECHO - 1)).toBe(`… (${text.length} characters, cut)`);
  });
});
