// Submit-time checks of templates and `when` (src/workflow/task-templates.ts), as 422 items that
// point at the field: ["body","tasks",3,"command",1].
import { InvalidInput, type InputProblem } from '../domain/errors.ts';
import type { TaskSpec, WorkflowSpec } from '../domain/task.ts';
import { checkStandaloneTemplates, checkWorkflowTemplates, type Loc } from '../workflow/task-templates.ts';

const item = (loc: Loc, msg: string, input: unknown): InputProblem => ({ type: 'value_error', loc, msg: `Value error, ${msg}`, input: excerpt(input), ctx: { error: {} } });

/**
 * Characters of a field echoed as an item's `input`. Pydantic echoes the whole value, as we do up
 * to this length; a longer field (up to the body limit) is cut, as every one of its items (up to
 * MAX_TEMPLATE_ERRORS + 1) would echo it again. The message gives the position of the problem.
 */
export const MAX_INPUT_ECHO = 1024;

function excerpt(input: unknown): unknown {
  if (typeof input !== 'string' || input.length <= MAX_INPUT_ECHO) return input;
  const end = /[\uD800-\uDBFF]/.test(input[MAX_INPUT_ECHO - 1]) ? MAX_INPUT_ECHO - 1 : MAX_INPUT_ECHO; // never half a surrogate pair
  return `${input.slice(0, end)}… (${input.length} characters, cut)`;
}

/** The value at `loc` inside a task (for the item's `input`). */
function at(task: object, loc: Loc): unknown {
  let v: unknown = task;
  for (const k of loc) v = v && typeof v === 'object' ? (v as Record<string | number, unknown>)[k] : undefined;
  return v;
}

/** A workflow's references must name ancestors and declared outputs; `when` must compile. */
export function checkWorkflowSpecTemplates(spec: WorkflowSpec): void {
  const problems = checkWorkflowTemplates(spec.tasks).map((p) => item(['body', 'tasks', p.task, ...p.loc], p.msg, at(spec.tasks[p.task], p.loc)));
  if (problems.length > 0) throw new InvalidInput(problems);
}

/** Tasks outside a workflow have no ancestors: a reference in them is refused. `prefix`: where the task is in the body. */
export function checkStandaloneSpecs(specs: Array<{ prefix: Loc; spec: TaskSpec }>): void {
  const problems = specs.flatMap(({ prefix, spec }) => checkStandaloneTemplates(spec).map((p) => item([...prefix, ...p.loc], p.msg, at(spec, p.loc))));
  if (problems.length > 0) throw new InvalidInput(problems);
}
