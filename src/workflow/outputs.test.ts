import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_OUTPUT_BYTES, OutputDeclarations, outputValue, missingOutput, resultOf, StdoutResult } from './outputs.ts';
import { parseReference } from './template.ts';

const bytes = (s: string) => new TextEncoder().encode(s);

describe('outputValue', () => {
  it('drops exactly one trailing newline (echo 7 > f gives "7")', () => {
    expect(outputValue('rows', bytes('7\n'))).toEqual({ ok: true, value: '7' });
    expect(outputValue('rows', bytes('7\r\n'))).toEqual({ ok: true, value: '7' });
    expect(outputValue('rows', bytes('7\n\n'))).toEqual({ ok: true, value: '7\n' });
    expect(outputValue('rows', bytes('a\nb'))).toEqual({ ok: true, value: 'a\nb' });
    expect(outputValue('rows', bytes(''))).toEqual({ ok: true, value: '' });
    expect(outputValue('rows', bytes('\n'))).toEqual({ ok: true, value: '' });
  });

  it('caps a value at 64 KiB (after the newline is dropped) with a message saying what to do', () => {
    expect(outputValue('big', bytes('x'.repeat(MAX_OUTPUT_BYTES) + '\n'))).toEqual({ ok: true, value: 'x'.repeat(MAX_OUTPUT_BYTES) });
    expect(outputValue('big', bytes('x'.repeat(MAX_OUTPUT_BYTES + 1)))).toEqual({
      ok: false,
      error: 'output "big" is 65537 bytes; the limit is 65536 bytes (64 KiB): write a smaller value, or store large data elsewhere and pass its location',
    });
  });

  it('refuses binary data: a NUL byte or bytes that are not UTF-8', () => {
    expect(outputValue('b', new Uint8Array([0x61, 0x00, 0x62]))).toMatchObject({ ok: false, error: expect.stringMatching(/contains a NUL byte/) });
    expect(outputValue('b', new Uint8Array([0xff, 0xfe]))).toMatchObject({ ok: false, error: expect.stringMatching(/is not UTF-8 text/) });
    expect(outputValue('b', bytes('é€\n'))).toEqual({ ok: true, value: 'é€' });
  });

  it('names the missing file', () => {
    expect(missingOutput('rows', '/tmp/rows')).toBe('output "rows": no file at /tmp/rows when the container exited; the command must write it before it ends');
  });
});

describe('OutputDeclarations', () => {
  it('accepts names and absolute paths, and every accepted name is usable in a template', () => {
    const ok = OutputDeclarations.safeParse({ rows: { path: '/tmp/rows' }, _x: { path: '/a' }, 'row-count_2': { path: '/out/n.txt' } });
    expect(ok.success).toBe(true);
    for (const name of Object.keys(ok.data ?? {})) expect(parseReference(`tasks.t.outputs.${name}`)).toMatchObject({ field: 'outputs', output: name });
  });

  it('refuses bad names, relative or directory paths, unknown fields and too many outputs', () => {
    const issues = (v: unknown) => {
      const r = OutputDeclarations.safeParse(v);
      return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    expect(issues({ '1rows': { path: '/tmp/r' } })).toEqual(['1rows: "1rows" is not an output name: use a letter or "_", then up to 63 letters, digits, "_" or "-"']);
    expect(issues({ 'a.b': { path: '/tmp/r' } })).toHaveLength(1);
    expect(issues({ rows: { path: 'tmp/rows' } })).toEqual(['rows.path: path must be the absolute path of a file in the container, such as "/tmp/rows"']);
    expect(issues({ rows: { path: '/tmp/' } })).toHaveLength(1);
    expect(issues({ rows: { path: '/tmp/r', mode: 1 } })).toHaveLength(1);
    const many = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`o${i}`, { path: `/o/${i}` }]));
    expect(issues(many)).toEqual([': a task declares at most 32 outputs (this one declares 33)']);
  });
});

describe('result: the last non-empty line of stdout', () => {
  it('passes over trailing blank lines and line endings', () => {
    expect(resultOf('starting\n42\n')).toEqual({ ok: true, value: '42' });
    expect(resultOf('42\n\n  \n')).toEqual({ ok: true, value: '42' });
    expect(resultOf('a\r\nyes\r\n')).toEqual({ ok: true, value: 'yes' });
    expect(resultOf('no newline at end')).toEqual({ ok: true, value: 'no newline at end' });
    expect(resultOf('  padded  \n')).toEqual({ ok: true, value: '  padded  ' });
    expect(resultOf('')).toEqual({ ok: true, value: null });
    expect(resultOf('\n \n\t\n')).toEqual({ ok: true, value: null });
  });

  it('is an error when that line is over 64 KiB, even if it arrived in pieces, and not when an earlier one was', () => {
    const r = new StdoutResult();
    for (let i = 0; i < 70; i++) r.push('y'.repeat(1024));
    r.push('\n\n');
    expect(r.result()).toEqual({
      ok: false,
      error: 'result: the last line of stdout is 71680 bytes; the limit is 65536 bytes (64 KiB): print a shorter last line, or declare an output file',
    });
    expect(resultOf(`${'z'.repeat(100_000)}\nshort\n`)).toEqual({ ok: true, value: 'short' });
    expect(resultOf(`ok\n${' '.repeat(100_000)}\n`)).toEqual({ ok: true, value: 'ok' });
  });

  // The definition, written the slow way; the streaming tracker must agree however stdout is cut.
  const reference = (s: string) => s.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l)).filter((l) => /\S/.test(l)).at(-1) ?? null;
  it('gives the same answer for any chunking of stdout (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('a', 'b', ' ', '\n', '\r', 'é', '\t') }), fc.array(fc.nat()), (stdout, cuts) => {
        const r = new StdoutResult();
        let at = 0;
        for (const c of cuts) {
          const next = Math.min(stdout.length, at + (c % 7));
          r.push(stdout.slice(at, next));
          at = next;
        }
        r.push(stdout.slice(at));
        expect(r.result()).toEqual({ ok: true, value: reference(stdout) });
      }),
    );
  });
});
