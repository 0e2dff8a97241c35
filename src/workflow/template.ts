// Templates in a workflow task's `command`, `env` values and `name`: `{{ tasks.extract.outputs.rows }}`,
// `{{ tasks.extract.result }}`, `{{ tasks.extract.status }}`. Pure string work, no I/O.
//   parseTemplate(text)            at submit: the pieces, or messages naming what is wrong where;
//   renderTemplate(pieces, values, budget) at release: one pass, values pasted verbatim (a value
//                                  that itself contains "{{" is never expanded again), stopping as
//                                  soon as the text outgrows the budget (a 64 KiB output read 8,000
//                                  times would otherwise be half a gigabyte, or a RangeError).
// Whitespace inside the braces is optional. `{{ '{{' }}` (or any quoted text: `{{ "{{.Id}}" }}`)
// writes its quoted text as is, for commands such as `docker inspect -f` that use braces.
import type { TaskStatus } from '../domain/task.ts';

/** A reference to an ancestor's value; `text` is its canonical form, "tasks.extract.outputs.rows". */
export type Reference =
  | { task: string; field: 'result' | 'status'; text: string }
  | { task: string; field: 'outputs'; output: string; text: string };

export type Piece = { text: string } | { ref: Reference };

/** What a finished ancestor left for its descendants, by task key. */
export interface AncestorValue {
  status: TaskStatus;
  /** Last non-empty line of stdout (outputs.ts); null when there is none or it was too long. */
  result: string | null;
  outputs: Record<string, string>;
}
export type AncestorValues = ReadonlyMap<string, AncestorValue>;

/** The grammar of a reference, shown in messages. */
export const REFERENCE_FORMS = '{{ tasks.<key>.outputs.<name> }}, {{ tasks.<key>.result }} or {{ tasks.<key>.status }}';

// A task key may contain "." (see WorkflowTaskCreate), so the key is matched lazily: in
// "tasks.a.b.result" the key is "a.b"; in "tasks.x.outputs.result" it is output "result" of x.
const REFERENCE = /^tasks\.([a-zA-Z0-9_.-]{1,64}?)\.(?:(result|status)|outputs\.([A-Za-z_][A-Za-z0-9_-]{0,63}))$/;

/** "tasks.a.result" (whitespace already trimmed) → a Reference, or null if it is not one. */
export function parseReference(inner: string): Reference | null {
  const m = REFERENCE.exec(inner);
  if (!m) return null;
  if (m[2]) return { task: m[1], field: m[2] as 'result' | 'status', text: inner };
  return { task: m[1], field: 'outputs', output: m[3], text: inner };
}

export type ParsedTemplate = { ok: true; pieces: Piece[] } | { ok: false; errors: string[] };

/**
 * Problems listed per text: each becomes a 422 item echoing the field, so a field of k bad
 * "{{}}" would otherwise answer k items of the whole field (quadratic: 16 KB gave 65 MB).
 */
export const MAX_TEMPLATE_ERRORS = 10;

/**
 * Splits `text` into literal text and references; each problem is reported with its position,
 * the first MAX_TEMPLATE_ERRORS of them, then one message saying that more were left out.
 */
export function parseTemplate(text: string): ParsedTemplate {
  const pieces: Piece[] = [];
  const errors: string[] = [];
  const tooMany = (at: string) => {
    errors.push(`${at}: more problems follow; only the first ${MAX_TEMPLATE_ERRORS} are listed, fix them and submit again`);
    return { ok: false as const, errors };
  };
  let literal = '';
  let i = 0;
  while (i < text.length) {
    const open = text.indexOf('{{', i);
    if (open < 0) break;
    literal += text.slice(i, open);
    const at = `at character ${open + 1}`;
    let j = skipSpaces(text, open + 2);
    const quote = text[j];
    if (quote === "'" || quote === '"') {
      const end = text.indexOf(quote, j + 1);
      const close = end < 0 ? -1 : skipSpaces(text, end + 1);
      if (end < 0 || !text.startsWith('}}', close)) {
        if (errors.length === MAX_TEMPLATE_ERRORS) return tooMany(at);
        errors.push(`${at}: a quoted text inside {{ }} must be closed by ${quote} and then }}, as in {{ '{{' }}`);
        return { ok: false, errors };
      }
      literal += text.slice(j + 1, end);
      i = close + 2;
      continue;
    }
    const close = text.indexOf('}}', j);
    if (close < 0) {
      if (errors.length === MAX_TEMPLATE_ERRORS) return tooMany(at);
      errors.push(`${at}: "{{" is never closed by "}}"; a reference looks like ${REFERENCE_FORMS}, and {{ '{{' }} writes "{{" itself`);
      break;
    }
    const inner = text.slice(j, close).trim();
    const ref = parseReference(inner);
    if (!ref) {
      if (errors.length === MAX_TEMPLATE_ERRORS) return tooMany(at);
      const shown = inner.length > 80 ? `${inner.slice(0, 80)}…` : inner;
      errors.push(`${at}: unknown syntax "{{ ${shown} }}": a reference looks like ${REFERENCE_FORMS}, and {{ '{{' }} writes "{{" itself`);
    } else {
      if (literal) pieces.push({ text: literal });
      literal = '';
      pieces.push({ ref });
    }
    j = close + 2;
    i = j;
  }
  if (errors.length > 0) return { ok: false, errors };
  literal += text.slice(i);
  if (literal) pieces.push({ text: literal });
  return { ok: true, pieces };
}

/** The references a parsed template uses, in order (repeats kept). */
export function referencesOf(pieces: Piece[]): Reference[] {
  return pieces.flatMap((p) => ('ref' in p ? [p.ref] : []));
}

export type Lookup = { ok: true; value: string } | { ok: false; error: string };

/** The value a reference names, or why there is none (the ancestor was skipped, never ran, …). */
export function lookUp(ref: Reference, values: AncestorValues): Lookup {
  const v = values.get(ref.task);
  if (!v) return { ok: false, error: `${ref.text} has no value: task "${ref.task}" is not a finished ancestor of this task` };
  if (ref.field === 'status') return { ok: true, value: v.status };
  const why = v.status === 'succeeded' ? '' : ` (task "${ref.task}" ended ${v.status})`;
  if (ref.field !== 'outputs') {
    return v.result === null ? { ok: false, error: `${ref.text} has no value${why || ': its stdout had no non-empty last line, or that line was over the limit'}` } : { ok: true, value: v.result };
  }
  const out = v.outputs[ref.output];
  return out === undefined ? { ok: false, error: `${ref.text} has no value${why || `: task "${ref.task}" left no output "${ref.output}"`}` } : { ok: true, value: out };
}

/** How big a rendered text may grow: `limit` in UTF-8 bytes, or in characters (UTF-16 units, as zod's max counts). */
export interface RenderBudget {
  limit: number;
  unit: 'bytes' | 'characters';
}

export type Rendered = { ok: true; text: string } | { ok: false; error: string; overBudget?: true };

/** A text's size in the budget's unit. */
export function sizeIn(unit: RenderBudget['unit'], text: string): number {
  return unit === 'bytes' ? Buffer.byteLength(text, 'utf8') : text.length;
}

/**
 * Fills the references in; the first missing value is the error. Over the budget (when given),
 * it stops there, with `overBudget` set: the caller says which field and which limit.
 */
export function renderTemplate(pieces: Piece[], values: AncestorValues, budget: RenderBudget = { limit: Infinity, unit: 'characters' }): Rendered {
  const parts: string[] = [];
  let size = 0;
  for (const p of pieces) {
    let value: string;
    if ('text' in p) value = p.text;
    else {
      const v = lookUp(p.ref, values);
      if (!v.ok) return v;
      value = v.value;
    }
    size += sizeIn(budget.unit, value);
    if (size > budget.limit) return { ok: false, error: `over ${budget.limit} ${budget.unit}`, overBudget: true };
    parts.push(value);
  }
  return { ok: true, text: parts.join('') };
}

/** Quick test for a field without any template, which needs neither parsing nor rendering. */
export function hasTemplate(text: string): boolean {
  return text.includes('{{');
}

function skipSpaces(text: string, i: number): number {
  while (i < text.length && /\s/.test(text[i])) i++;
  return i;
}
