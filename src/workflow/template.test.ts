import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_TEMPLATE_ERRORS, parseReference, parseTemplate, renderTemplate, type AncestorValue, type Piece } from './template.ts';

const values = new Map<string, AncestorValue>([
  ['extract', { status: 'succeeded', result: 'done', outputs: { rows: '42' } }],
  ['a.b', { status: 'succeeded', result: 'dotted', outputs: {} }],
  ['gone', { status: 'skipped', result: null, outputs: {} }],
]);

const render = (text: string) => {
  const parsed = parseTemplate(text);
  if (!parsed.ok) throw new Error(parsed.errors.join('; '));
  return renderTemplate(parsed.pieces, values);
};

describe('parseTemplate and renderTemplate', () => {
  it('fills outputs, result and status, with or without spaces inside the braces', () => {
    expect(render('rows={{ tasks.extract.outputs.rows }} r={{tasks.extract.result}} s={{  tasks.extract.status\t}}')).toEqual({
      ok: true,
      text: 'rows=42 r=done s=succeeded',
    });
  });

  it('reads a task key that contains dots', () => {
    expect(parseReference('tasks.a.b.result')).toEqual({ task: 'a.b', field: 'result', text: 'tasks.a.b.result' });
    expect(parseReference('tasks.x.outputs.result')).toEqual({ task: 'x', field: 'outputs', output: 'result', text: 'tasks.x.outputs.result' });
    expect(render('{{ tasks.a.b.result }}')).toEqual({ ok: true, text: 'dotted' });
  });

  it('leaves text without braces, single braces and a lone "}}" alone', () => {
    expect(render('echo ${HOME} {a} }} done')).toEqual({ ok: true, text: 'echo ${HOME} {a} }} done' });
  });

  it('writes quoted text inside braces as is, so Go templates can be passed on', () => {
    expect(render(`docker inspect -f '{{ "{{.State.Running}}" }}' c; echo {{'{{'}}`)).toEqual({
      ok: true,
      text: `docker inspect -f '{{.State.Running}}' c; echo {{`,
    });
  });

  it('reports unknown syntax, an unclosed brace and an unclosed quote with their position', () => {
    const bad = parseTemplate('x {{ tasks.extract.stdout }} y {{ .Id }}');
    expect(bad.ok).toBe(false);
    if (!bad.ok) {
      expect(bad.errors).toHaveLength(2);
      expect(bad.errors[0]).toMatch(/^at character 3: unknown syntax "\{\{ tasks\.extract\.stdout \}\}": a reference looks like/);
      expect(bad.errors[1]).toMatch(/^at character 32: unknown syntax "\{\{ \.Id \}\}"/);
    }
    const open = parseTemplate('echo {{ tasks.extract.result');
    expect(open.ok || open.errors[0]).toMatch(/^at character 6: "\{\{" is never closed by "\}\}"/);
    const quote = parseTemplate("echo {{ '{{ }}");
    expect(quote.ok || quote.errors[0]).toMatch(/^at character 6: a quoted text inside \{\{ \}\} must be closed/);
    expect(parseTemplate('{{}}').ok).toBe(false);
  });

  it('lists the first MAX_TEMPLATE_ERRORS problems of a text, then says more were left out', () => {
    const exactly = parseTemplate('{{}}'.repeat(MAX_TEMPLATE_ERRORS));
    expect(exactly.ok || exactly.errors).toHaveLength(MAX_TEMPLATE_ERRORS);
    const many = parseTemplate('{{}}'.repeat(100_000));
    expect(many.ok).toBe(false);
    if (!many.ok) {
      expect(many.errors).toHaveLength(MAX_TEMPLATE_ERRORS + 1);
      expect(many.errors.at(-1)).toBe(`at character ${4 * MAX_TEMPLATE_ERRORS + 1}: more problems follow; only the first ${MAX_TEMPLATE_ERRORS} are listed, fix them and submit again`);
    }
    const unclosed = parseTemplate(`${'{{}}'.repeat(MAX_TEMPLATE_ERRORS)} {{ x`);
    expect(unclosed.ok || unclosed.errors.at(-1)).toMatch(/more problems follow/);
  });

  it('says why a value is missing at render', () => {
    expect(render('{{ tasks.gone.outputs.rows }}')).toEqual({ ok: false, error: 'tasks.gone.outputs.rows has no value (task "gone" ended skipped)' });
    expect(render('{{ tasks.extract.outputs.nope }}')).toEqual({ ok: false, error: 'tasks.extract.outputs.nope has no value: task "extract" left no output "nope"' });
    expect(render('{{ tasks.other.result }}').ok).toBe(false);
    expect(render('{{ tasks.gone.status }}')).toEqual({ ok: true, text: 'skipped' });
  });

  // Model: a template built from literal pieces and references renders to the concatenation of
  // the literals and the values, whatever the values contain (a single pass: a value holding
  // "{{ tasks.extract.result }}" is pasted, not expanded).
  const literal = fc.string({ unit: fc.constantFrom('a', ' ', '{', '}', '$', "'", '"', '\n', 'é') }).filter((s) => !s.includes('{{') && !s.endsWith('{'));
  const value = fc.string({ unit: fc.constantFrom('x', '{', '}', ' ', "'", '1') });
  it('renders literals and values exactly, in one pass (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(literal, fc.boolean(), fc.constantFrom(' ', '', '  '))), value, (parts, v) => {
        const vals = new Map<string, AncestorValue>([['t', { status: 'succeeded', result: v, outputs: { o: v } }]]);
        let source = '';
        let expected = '';
        parts.forEach(([lit, useOutput, space], idx) => {
          // A literal that follows a "{" would make "{{" with the next reference's braces.
          source += lit + (idx < parts.length ? `{{${space}tasks.t.${useOutput ? 'outputs.o' : 'result'}${space}}}` : '');
          expected += lit + v;
        });
        const parsed = parseTemplate(source);
        expect(parsed.ok).toBe(true);
        if (!parsed.ok) return;
        expect(renderTemplate(parsed.pieces, vals)).toEqual({ ok: true, text: expected });
      }),
    );
  });

  it('writes quoted escapes as their text, next to references and literals (property)', () => {
    const quoted = fc.string({ unit: fc.constantFrom('{', '}', 'x', ' ', '.', '"') });
    fc.assert(
      fc.property(fc.array(fc.oneof(literal.map((t) => ({ t })), quoted.map((q) => ({ q })), fc.constant({ r: true }))), (parts) => {
        let source = '';
        let expected = '';
        for (const p of parts) {
          if ('t' in p) {
            // A literal ending in "{" next to the following "{{" would read as "{{{".
            source += `${p.t} `;
            expected += `${p.t} `;
          } else if ('q' in p) {
            source += `{{ '${p.q}' }}`;
            expected += p.q;
          } else {
            source += '{{tasks.extract.result}}';
            expected += 'done';
          }
        }
        const parsed = parseTemplate(source);
        expect(parsed.ok).toBe(true);
        if (parsed.ok) expect(renderTemplate(parsed.pieces, values)).toEqual({ ok: true, text: expected });
      }),
    );
  });

  it('never leaves "{{" in the output when neither the template escapes it nor a value holds it (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('{', '}', ' ', 't', '.', 'a', "'") }), (text) => {
        const parsed = parseTemplate(text);
        if (!parsed.ok) return;
        const pieces: Piece[] = parsed.pieces;
        const r = renderTemplate(pieces, new Map([['a', { status: 'succeeded', result: 'v', outputs: {} }]]));
        const escaped = /\{\{\s*'/.test(text);
        if (r.ok && !escaped) expect(r.text).not.toContain('{{');
      }),
    );
  });
});
