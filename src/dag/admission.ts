// The release of one task whose parents are all done, decided without the database: whether its
// `when` lets it run, its templates filled from its ancestors' values, and what it says while it
// still waits on parents. Used by release.ts, wave by wave, and by cascade.ts, which decides the
// waves a release's skips set off in memory.
import type { TaskRow } from '../state/schema.ts';
import { compileCondition, decideWhen, type CompiledCondition } from '../workflow/condition.ts';
import { renderTaskTemplates, type RenderedTask } from '../workflow/task-templates.ts';
import { hasTemplate, parseTemplate, referencesOf, type AncestorValues } from '../workflow/template.ts';
import { cannotFill, cannotRelease } from '../domain/status-reasons.ts';

/** What a release decides a task on: its `when` and its templates. */
export type ToAdmit = Pick<TaskRow, 'id' | 'templates' | 'whenCondition'>;

/** What the release of a task whose parents are all done decides (admission). */
export type Admission = { run: true; fields: Extract<RenderedTask, { ok: true }>['fields'] | null } | { run: false; skip: string } | { run: false; fail: string };

/** A task's compiled `when` (or why it does not compile) and the keys of the tasks its `when` and templates read. */
export interface AdmissionPlan {
  condition: CompiledCondition | null;
  conditionError: string | null;
  keys: string[];
}

/**
 * Whether a task whose parents are all done runs (with its templates filled in), is skipped by
 * its `when`, or fails (a template value missing or over its limit). Pure; whatever throws in it
 * fails this task alone, not the transaction that ended its parent.
 */
export function admission(task: ToAdmit, condition: CompiledCondition | null, conditionError: string | null, values: AncestorValues): Admission {
  try {
    if (conditionError !== null) return { run: false, skip: `when ${JSON.stringify(task.whenCondition)} could not be evaluated: ${conditionError}` };
    if (condition) {
      const decision = decideWhen(condition, values);
      if (!decision.run) return { run: false, skip: decision.reason };
    }
    if (!task.templates) return { run: true, fields: null };
    const rendered = renderTaskTemplates(task.templates, values);
    return rendered.ok ? { run: true, fields: rendered.fields } : { run: false, fail: cannotFill(rendered.loc.join('.'), rendered.error) };
  } catch (err) {
    return { run: false, fail: cannotRelease(innermostMessage(err)) };
  }
}

/** The innermost cause's message (drizzle wraps the driver's error in one quoting the whole statement), cut to 300 characters. */
export function innermostMessage(err: unknown): string {
  let e: unknown = err;
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  const message = e instanceof Error ? e.message : String(e);
  return message.length > 300 ? `${message.slice(0, 300)}…` : message;
}

/** "waiting on a, b" — or, for a wide fan-in, "waiting on 998 of 1000 parents: m3, m7, m9, …". */
export function waitingOn(count: number, some: string[], parents: number): string {
  if (count <= 5) return `waiting on ${some.slice(0, count).join(', ')}`;
  return `waiting on ${count} of ${parents} parents: ${some.slice(0, 3).join(', ')}, …`;
}

/** The condition of a task and the keys of the tasks its templates and condition read. */
export function admissionPlan(t: ToAdmit): AdmissionPlan {
  const keys: string[] = [];
  let condition: CompiledCondition | null = null;
  let conditionError: string | null = null;
  if (t.whenCondition) {
    // Accepted at submit, so it compiles (same code); an error here would still only skip the task.
    const c = compileCondition(t.whenCondition);
    if (c.ok) {
      condition = c.condition;
      keys.push(...c.condition.refs.map((r) => r.task));
    } else conditionError = c.error;
  }
  if (t.templates) {
    const texts = [t.templates.name, ...(typeof t.templates.command === 'string' ? [t.templates.command] : (t.templates.command ?? [])), ...Object.values(t.templates.env ?? {})];
    for (const text of texts) {
      if (typeof text !== 'string' || !hasTemplate(text)) continue;
      const parsed = parseTemplate(text);
      if (parsed.ok) keys.push(...referencesOf(parsed.pieces).map((r) => r.task));
    }
  }
  return { condition, conditionError, keys };
}
