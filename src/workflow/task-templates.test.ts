import { describe, expect, it } from 'vitest';
import { checkStandaloneTemplates, checkWorkflowTemplates, MAX_COMMAND_ENV_BYTES, MAX_NAME_CHARACTERS, renderTaskTemplates, type WorkflowTask } from './task-templates.ts';
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

  it('answers ancestry exactly whatever the listing order, for every task of a 10,000 chain reading its parent', () => {
    const n = 10_000;
    const chain: WorkflowTask[] = Array.from({ length: n }, (_, i) => ({ key: `t${i}`, depends_on: i ? [`t${i - 1}`] : [], name: i ? `{{ tasks.t${i - 1}.status }}` : 'x' }));
    expect(checkWorkflowTemplates(chain)).toEqual([]);
    expect(checkWorkflowTemplates([...chain].reverse())).toEqual([]);
    // A descendant, and a task in another branch, are no ancestors; nor is one past the 32nd bit.
    const tasks: WorkflowTask[] = [
      ...Array.from({ length: 40 }, (_, i) => ({ key: `a${i}`, depends_on: i ? [`a${i - 1}`] : [] })),
      { key: 'b', depends_on: ['a5'], command: '{{ tasks.a39.result }} {{ tasks.a5.result }} {{ tasks.a0.status }}' },
      { key: 'c', depends_on: ['a39'], command: '{{ tasks.b.result }} {{ tasks.a33.status }}' },
      { key: 'a40', depends_on: ['b'], name: '{{ tasks.c.status }}' },
    ].reverse();
    const notAncestor = (ref: string, of: string) => `{{ tasks.${ref} }}: task "${ref.split('.')[0]}" is not an ancestor of "${of}"; add "${ref.split('.')[0]}" to depends_on (directly or through a task that depends on it) so it has finished before "${of}" starts`;
    expect(checkWorkflowTemplates(tasks)).toEqual([
      { task: 0, loc: ['name'], msg: notAncestor('c.status', 'a40') },
      { task: 1, loc: ['command'], msg: notAncestor('b.result', 'c') },
      { task: 2, loc: ['command'], msg: notAncestor('a39.result', 'b') },
    ]);
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

  describe('limits', () => {
    const big = new Map<string, AncestorValue>([['p', { status: 'succeeded', result: 'é', outputs: { x: 'x'.repeat(64 * 1024) } }]]);
    const ref = '{{tasks.p.outputs.x}}';

    it('stops a command past 1 MiB, naming the field and the limit, however many times the value is read', () => {
      const r = renderTaskTemplates({ command: ref.repeat(8200) }, big);
      expect(r).toEqual({ ok: false, loc: ['command'], error: expect.stringContaining(`over ${MAX_COMMAND_ENV_BYTES} bytes (1 MiB)`) });
      expect(renderTaskTemplates({ command: ref.repeat(16) }, big).ok).toBe(true); // exactly 1 MiB
      expect(renderTaskTemplates({ command: `${ref.repeat(16)}!` }, big).ok).toBe(false);
    });

    it('counts the command and env together, texts without templates too, and in UTF-8 bytes', () => {
      const r = renderTaskTemplates({ command: ['sh', ref.repeat(8)], env: { A: ref.repeat(7), B: 'y'.repeat(64 * 1024 - 3), C: ref } }, big);
      expect(r).toEqual({ ok: false, loc: ['env', 'C'], error: expect.stringContaining('the command and env would be over') });
      // 'é' is two bytes: 16 × 64 Ki characters of x and one é is one byte too many.
      expect(renderTaskTemplates({ command: `${ref.repeat(15)}${'x'.repeat(64 * 1024 - 1)}{{tasks.p.result}}` }, big).ok).toBe(false);
      expect(renderTaskTemplates({ command: `${ref.repeat(15)}${'x'.repeat(64 * 1024 - 2)}{{tasks.p.result}}` }, big).ok).toBe(true);
    });

    it('keeps a filled-in name to the 128 characters a submit allows', () => {
      const short = new Map<string, AncestorValue>([['p', { status: 'succeeded', result: 'a'.repeat(100), outputs: {} }]]);
      expect(renderTaskTemplates({ name: 'n-{{ tasks.p.result }}' }, short)).toEqual({ ok: true, fields: { name: `n-${'a'.repeat(100)}` } });
      expect(renderTaskTemplates({ name: 'name {{ tasks.p.result }} {{ tasks.p.result }}' }, short)).toEqual({
        ok: false,
        loc: ['name'],
        error: `the filled-in name would be over ${MAX_NAME_CHARACTERS} characters, the most a task's name may hold`,
      });
    });
  });
});
