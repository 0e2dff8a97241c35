import { describe, expect, it } from 'vitest';
import { checkStandaloneTemplates, checkWorkflowTemplates, renderTaskTemplates, type WorkflowTask } from './task-templates.ts';
import type { AncestorValue } from './template.ts';

// extract -> check -> load ; side is unrelated to load.
const etl = (load: Partial<WorkflowTask>): WorkflowTask[] => [
  { key: 'extract', outputs: { rows: { path: '/tmp/rows' } } },
  { key: 'check', depends_on: ['extract'] },
  { key: 'side' },
  { key: 'load', depends_on: ['check'], ...load },
];

describe('checkWorkflowTemplates', () => {
  it('accepts references to ancestors, direct or not, and their declared outputs, in every templated field', () => {
    expect(
      checkWorkflowTemplates(
        etl({
          name: 'load {{ tasks.extract.outputs.rows }} rows',
          command: ['sh', '-c', 'echo {{tasks.check.result}}'],
          env: { ROWS: '{{ tasks.extract.outputs.rows }}', PLAIN: 'x' },
          when: "{{ tasks.extract.outputs.rows }} > 0 and {{ tasks.check.status }} == 'succeeded'",
        }),
      ),
    ).toEqual([]);
  });

  it('points at the field and says what to change: not an ancestor, unknown task, undeclared output, itself', () => {
    const problems = checkWorkflowTemplates(
      etl({
        command: 'echo {{ tasks.side.result }} {{ tasks.nope.result }}',
        env: { A: '{{ tasks.extract.outputs.count }}', B: '{{ tasks.load.result }}' },
        when: "{{ tasks.check.outputs.x }} == 'y'",
      }),
    );
    expect(problems).toEqual([
      {
        task: 3,
        loc: ['command'],
        msg: '{{ tasks.side.result }}: task "side" is not an ancestor of "load"; add "side" to depends_on (directly or through a task that depends on it) so it has finished before "load" starts',
      },
      { task: 3, loc: ['command'], msg: '{{ tasks.nope.result }}: no task in this workflow has the key "nope"' },
      {
        task: 3,
        loc: ['env', 'A'],
        msg: '{{ tasks.extract.outputs.count }}: task "extract" declares no output "count" (it declares "rows"); declare it in that task\'s outputs, e.g. {"count": {"path": "/tmp/count"}}',
      },
      { task: 3, loc: ['env', 'B'], msg: '{{ tasks.load.result }} names this task itself; a task can only read values of tasks that finished before it' },
      { task: 3, loc: ['when'], msg: expect.stringContaining('task "check" declares no output "x" (it declares no outputs)') },
    ]);
  });

  it('reports bad syntax at the list item, and an invalid when', () => {
    const problems = checkWorkflowTemplates(etl({ command: ['echo', '{{ .Id }}'], when: '{{ tasks.check.result }} ==' }));
    expect(problems.map((p) => [p.loc, p.msg.slice(0, 40)])).toEqual([
      [['command', 1], 'at character 1: unknown syntax "{{ .Id }'],
      [['when'], 'invalid condition: Unexpected token: EOF'],
    ]);
  });

  it('follows long chains without recursion', () => {
    const n = 5000;
    const chain: WorkflowTask[] = Array.from({ length: n }, (_, i) => ({ key: `t${i}`, depends_on: i ? [`t${i - 1}`] : [] }));
    chain[n - 1].command = 'echo {{ tasks.t0.result }}';
    expect(checkWorkflowTemplates(chain)).toEqual([]);
  });
});

describe('checkStandaloneTemplates', () => {
  it('refuses references and when outside a workflow, and leaves other braces alone', () => {
    expect(checkStandaloneTemplates({ command: ['docker', 'inspect', '-f', '{{.Id}}'] })).toEqual([]);
    expect(checkStandaloneTemplates({ command: 'echo {{ tasks.a.result }}', when: '1 == 1' }).map((p) => p.loc)).toEqual([['command'], ['when']]);
  });
});

describe('renderTaskTemplates', () => {
  const values = new Map<string, AncestorValue>([
    ['extract', { status: 'succeeded', result: 'done', outputs: { rows: '7' } }],
    ['check', { status: 'skipped', result: null, outputs: {} }],
  ]);

  it('fills name, each command item and env values, leaving the rest as given', () => {
    expect(
      renderTaskTemplates({ name: 'load {{ tasks.extract.outputs.rows }}', command: ['echo', "{{ tasks.extract.result }} it's"], env: { N: '{{tasks.extract.outputs.rows}}', K: 'v' } }, values),
    ).toEqual({ ok: true, fields: { name: 'load 7', command: ['echo', "done it's"], env: { N: '7', K: 'v' } } });
    expect(renderTaskTemplates({ command: 'echo {{ tasks.extract.result }}' }, values)).toEqual({ ok: true, fields: { command: 'echo done' } });
  });

  it('says which field could not be filled and why', () => {
    expect(renderTaskTemplates({ command: ['echo', 'x'], env: { R: '{{ tasks.check.result }}' } }, values)).toEqual({
      ok: false,
      loc: ['env', 'R'],
      error: 'tasks.check.result has no value (task "check" ended skipped)',
    });
  });
});
