// Templates applied to a workflow's tasks: the fields that may hold them (`name`, `command` as a
// string or each list item, `env` values, and `when`), checked at submit and filled at release.
//   checkWorkflowTemplates(tasks)   at submit, after validateGraph (src/dag/validate.ts) found no
//                                   problem: each problem as {task: index, loc, msg}, the caller
//                                   building ["body","tasks",task,...loc] for the 422;
//   checkStandaloneTemplates(task)  at submit of a task outside any workflow;
//   renderTaskTemplates(task, values) at release: the filled fields, or the failure to store;
//                                   a filled-in field is no bigger than a submit could have given
//                                   (MAX_NAME_CHARACTERS, MAX_COMMAND_ENV_BYTES).
// A reference must name an ancestor (through depends_on) and, for outputs, a declared output:
// then at release the value exists unless that ancestor did not succeed.
import { compileCondition } from './condition.ts';
import { hasTemplate, parseTemplate, referencesOf, renderTemplate, sizeIn, type AncestorValues, type Reference, type RenderBudget } from './template.ts';

/** An env value: text (which may hold templates) or a secret reference, left as it is. */
export type EnvValue = string | { secret: string };

export interface TemplatedFields {
  name?: string | null;
  command?: string | string[] | null;
  env?: Record<string, EnvValue> | null;
  when?: string | null;
}
export interface WorkflowTask extends TemplatedFields {
  key: string;
  depends_on?: string[] | null;
  outputs?: Record<string, unknown> | null;
}
export type Loc = Array<string | number>;
export interface TemplateProblem {
  task: number;
  loc: Loc;
  msg: string;
}

/** Every templated field of a task with its place: ["name"], ["command", 1], ["env", "URL"]. */
function templatedFields(task: TemplatedFields): Array<{ loc: Loc; text: string }> {
  const fields: Array<{ loc: Loc; text: string }> = [];
  if (task.name) fields.push({ loc: ['name'], text: task.name });
  if (typeof task.command === 'string') fields.push({ loc: ['command'], text: task.command });
  else task.command?.forEach((text, i) => fields.push({ loc: ['command', i], text }));
  for (const [k, text] of Object.entries(task.env ?? {})) if (typeof text === 'string') fields.push({ loc: ['env', k], text });
  return fields.filter((f) => hasTemplate(f.text));
}

export function checkWorkflowTemplates(tasks: WorkflowTask[]): TemplateProblem[] {
  const index = new Map(tasks.map((t, i) => [t.key, i]));
  // First every field's parse problems and references, in order; then one reachability pass for
  // the tasks the references name; then the references' problems in their places.
  const found: Array<TemplateProblem | { task: number; loc: Loc; ref: Reference }> = [];
  tasks.forEach((task, i) => {
    for (const field of templatedFields(task)) {
      const parsed = parseTemplate(field.text);
      if (!parsed.ok) parsed.errors.forEach((msg) => found.push({ task: i, loc: field.loc, msg }));
      else for (const ref of referencesOf(parsed.pieces)) found.push({ task: i, loc: field.loc, ref });
    }
    if (task.when !== undefined && task.when !== null) {
      const compiled = compileCondition(task.when);
      if (!compiled.ok) found.push({ task: i, loc: ['when'], msg: compiled.error });
      else for (const ref of compiled.condition.refs) found.push({ task: i, loc: ['when'], ref });
    }
  });
  const named = new Set(found.flatMap((f) => ('ref' in f && index.has(f.ref.task) ? [index.get(f.ref.task) as number] : [])));
  const isAncestor = ancestry(tasks, index, named);
  const problems: TemplateProblem[] = [];
  for (const f of found) {
    if (!('ref' in f)) problems.push(f);
    else {
      const msg = referenceProblem(f.ref, f.task, index, tasks, isAncestor);
      if (msg) problems.push({ task: f.task, loc: f.loc, msg });
    }
  }
  return problems;
}

/** A task outside any workflow has no ancestors: any reference, and any `when`, is a problem. */
export function checkStandaloneTemplates(task: TemplatedFields): Array<{ loc: Loc; msg: string }> {
  const problems: Array<{ loc: Loc; msg: string }> = [];
  const why = 'templates read values of earlier tasks in the same workflow; submit this task inside a workflow (POST /workflows) to use them';
  for (const field of templatedFields(task)) {
    const parsed = parseTemplate(field.text);
    // Braces that are not references are left alone here: nothing is ever filled in.
    if (parsed.ok && referencesOf(parsed.pieces).length > 0) problems.push({ loc: field.loc, msg: why });
  }
  if (task.when !== undefined && task.when !== null) problems.push({ loc: ['when'], msg: `when: ${why}` });
  return problems;
}

function referenceProblem(ref: Reference, self: number, index: Map<string, number>, tasks: WorkflowTask[], isAncestor: (other: number, of: number) => boolean): string | null {
  const at = index.get(ref.task);
  const key = tasks[self].key;
  if (ref.task === key) return `{{ ${ref.text} }} names this task itself; a task can only read values of tasks that finished before it`;
  if (at === undefined) return `{{ ${ref.text} }}: no task in this workflow has the key "${ref.task}"`;
  if (!isAncestor(at, self)) {
    return `{{ ${ref.text} }}: task "${ref.task}" is not an ancestor of "${key}"; add "${ref.task}" to depends_on (directly or through a task that depends on it) so it has finished before "${key}" starts`;
  }
  if (ref.field !== 'outputs') return null;
  const declared = Object.keys(tasks[at].outputs ?? {});
  if (declared.includes(ref.output)) return null;
  const has = declared.length > 0 ? `it declares ${declared.map((d) => `"${d}"`).join(', ')}` : 'it declares no outputs';
  return `{{ ${ref.text} }}: task "${ref.task}" declares no output "${ref.output}" (${has}); declare it in that task's outputs, e.g. {"${ref.output}": {"path": "/tmp/${ref.output}"}}`;
}

/**
 * "Is task `other` an ancestor of task `of`?" for every `other` in `named` (the tasks references
 * name). One pass in topological order (the graph is acyclic: validateGraph ran first) gives each
 * task a bitset over `named`: its parents' bitsets and the parents themselves. Time: edges ×
 * |named|/32 words, memory tasks × |named|/8 bytes (10,000 × 10,000: 12.5 MB). Each task copying
 * its ancestor set instead was quadratic: a 10,000 chain took 10 s and 1.1 GB.
 */
function ancestry(tasks: WorkflowTask[], index: Map<string, number>, named: ReadonlySet<number>): (other: number, of: number) => boolean {
  const column = new Int32Array(tasks.length).fill(-1);
  let columns = 0;
  for (const t of named) column[t] = columns++;
  if (columns === 0) return () => false;
  const words = Math.ceil(columns / 32);
  const bits = new Uint32Array(tasks.length * words);
  const parents = tasks.map((t) => [...new Set((t.depends_on ?? []).flatMap((d) => (index.has(d) ? [index.get(d) as number] : [])))]);
  for (const child of topologicalOrder(parents)) {
    const row = child * words;
    for (const parent of parents[child]) {
      const from = parent * words;
      for (let w = 0; w < words; w++) bits[row + w] |= bits[from + w];
      const c = column[parent];
      if (c >= 0) bits[row + (c >>> 5)] |= 1 << (c & 31);
    }
  }
  return (other, of) => {
    const c = column[other];
    return c >= 0 && (bits[of * words + (c >>> 5)] & (1 << (c & 31))) !== 0;
  };
}

/** The most a filled-in name may hold: what a submit accepts for a name (api/schemas.ts, `max(128)`). */
export const MAX_NAME_CHARACTERS = 128;
/**
 * The most a filled-in task's command and env values may hold together, in UTF-8 bytes: what one
 * POST /tasks body may carry at the default server.max_body_bytes (1 MiB). Without it a parent's
 * 64 KiB output read 8,000 times made a 524 MB command, and a few more a RangeError.
 */
export const MAX_COMMAND_ENV_BYTES = 1_048_576;

/** Tasks with every parent before its children (Kahn); the graph is acyclic. */
function topologicalOrder(parents: number[][]): number[] {
  const waiting = parents.map((p) => p.length);
  const children: number[][] = parents.map(() => []);
  parents.forEach((ps, child) => ps.forEach((p) => children[p].push(child)));
  const order = waiting.flatMap((n, i) => (n === 0 ? [i] : []));
  for (let k = 0; k < order.length; k++) for (const child of children[order[k]]) if (--waiting[child] === 0) order.push(child);
  return order;
}

export type RenderedTask =
  | { ok: true; fields: { name?: string | null; command?: string | string[] | null; env?: Record<string, EnvValue> | null } }
  | { ok: false; loc: Loc; error: string };

/**
 * The task's name, command and env with every reference filled in from its ancestors' values.
 * A failure (a value missing because an ancestor did not succeed, or a field that would be over
 * its limit) names the field; the caller fails the task with `${loc.join('.')}: ${error}`.
 */
export function renderTaskTemplates(task: TemplatedFields, values: AncestorValues): RenderedTask {
  // What the command and env have left of MAX_COMMAND_ENV_BYTES: texts without templates count too.
  let left = MAX_COMMAND_ENV_BYTES;
  const commandEnvOver = `filled in, the command and env would be over ${MAX_COMMAND_ENV_BYTES} bytes (1 MiB), the most a task's command and env may hold together`;
  const fill = (loc: Loc, text: string, budget: RenderBudget, over: string): { ok: true; text: string } | { ok: false; loc: Loc; error: string } => {
    if (!hasTemplate(text)) return sizeIn(budget.unit, text) > budget.limit ? { ok: false, loc, error: over } : { ok: true, text };
    const parsed = parseTemplate(text);
    if (!parsed.ok) return { ok: false, loc, error: parsed.errors.join('; ') };
    const r = renderTemplate(parsed.pieces, values, budget);
    if (r.ok) return r;
    return { ok: false, loc, error: r.overBudget ? over : r.error };
  };
  const commandOrEnv = (loc: Loc, text: string) => {
    const r = fill(loc, text, { limit: left, unit: 'bytes' }, commandEnvOver);
    if (r.ok) left -= sizeIn('bytes', r.text);
    return r;
  };
  const fields: Extract<RenderedTask, { ok: true }>['fields'] = {};
  if (task.name !== undefined) {
    const r =
      task.name === null
        ? { ok: true as const, text: null }
        : fill(['name'], task.name, { limit: MAX_NAME_CHARACTERS, unit: 'characters' }, `the filled-in name would be over ${MAX_NAME_CHARACTERS} characters, the most a task's name may hold`);
    if (!r.ok) return r;
    fields.name = r.text;
  }
  if (typeof task.command === 'string') {
    const r = commandOrEnv(['command'], task.command);
    if (!r.ok) return r;
    fields.command = r.text;
  } else if (task.command) {
    const list: string[] = [];
    for (const [i, item] of task.command.entries()) {
      const r = commandOrEnv(['command', i], item);
      if (!r.ok) return r;
      list.push(r.text);
    }
    fields.command = list;
  } else if (task.command === null) fields.command = null;
  if (task.env) {
    const env: Record<string, EnvValue> = {};
    for (const [k, v] of Object.entries(task.env)) {
      if (typeof v !== 'string') {
        env[k] = v;
        continue;
      }
      const r = commandOrEnv(['env', k], v);
      if (!r.ok) return r;
      env[k] = r.text;
    }
    fields.env = env;
  } else if (task.env === null) fields.env = null;
  return { ok: true, fields };
}
