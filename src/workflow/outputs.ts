// Task outputs: what a task declares (`outputs: {"rows": {"path": "/tmp/rows"}}`), how the file
// read from its container becomes a value, and `result`, the last non-empty line of its stdout.
//   OutputDeclarations              zod schema for the task's `outputs` field (api schemas use it);
//   outputValue(name, bytes)        the worker, per declared file read before the container goes;
//   missingOutput(name, path)       the worker, when the file is not there;
//   new StdoutResult() .push(chunk) the worker, fed the (already secret-masked) stdout; .result()
//                                   at exit.
// A value is text (UTF-8, no NUL, as PostgreSQL text), at most 64 KiB after one trailing newline
// is dropped (`echo 7 > f` gives "7").
import { z } from '@hono/zod-openapi';

export const MAX_OUTPUT_BYTES = 64 * 1024;
export const MAX_OUTPUTS = 32;
/** Also what a template reference accepts after `outputs.` (template.ts). */
export const OUTPUT_NAME = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;

const OutputPath = z
  .string()
  .max(4096)
  .refine((p) => p.startsWith('/') && p !== '/' && !p.endsWith('/') && !p.includes('\u0000'), {
    message: 'path must be the absolute path of a file in the container, such as "/tmp/rows"',
  });

export const OutputDeclaration = z.strictObject({ path: OutputPath }).openapi('OutputDeclaration');

export const OutputDeclarations = z
  .record(z.string(), OutputDeclaration)
  // Checked here rather than as the record's key schema, whose message zod replaces by "Invalid key in record".
  .superRefine((outputs, ctx) => {
    const names = Object.keys(outputs);
    if (names.length > MAX_OUTPUTS) ctx.addIssue({ code: 'custom', message: `a task declares at most ${MAX_OUTPUTS} outputs (this one declares ${names.length})` });
    for (const name of names) {
      if (!OUTPUT_NAME.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: `"${name}" is not an output name: use a letter or "_", then up to 63 letters, digits, "_" or "-"` });
    }
  })
  .openapi({
    description: `Files read from the container after the task exits; each becomes an output (text, at most 64 KiB, one trailing newline dropped) that later tasks use as {{ tasks.<key>.outputs.<name> }}`,
    example: { rows: { path: '/tmp/rows' } },
  });
export type OutputDeclarations = z.infer<typeof OutputDeclarations>;

export type OutputRead = { ok: true; value: string } | { ok: false; error: string };

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The file's bytes → the stored value, or the reason the task fails. */
export function outputValue(name: string, bytes: Uint8Array): OutputRead {
  let end = bytes.length;
  if (end > 0 && bytes[end - 1] === 0x0a) end -= end > 1 && bytes[end - 2] === 0x0d ? 2 : 1;
  if (end > MAX_OUTPUT_BYTES) return { ok: false, error: oversizeOutput(name, end) };
  const body = bytes.subarray(0, end);
  if (body.includes(0)) return { ok: false, error: `output "${name}" contains a NUL byte; outputs are text: encode binary data (e.g. base64) first` };
  try {
    return { ok: true, value: utf8.decode(body) };
  } catch {
    return { ok: false, error: `output "${name}" is not UTF-8 text; encode binary data (e.g. base64) first` };
  }
}

/** Why the task fails when an output is over the limit (`bytes`: its size, or the file's when not read). */
export function oversizeOutput(name: string, bytes: number): string {
  return `output "${name}" is ${bytes} bytes; the limit is ${MAX_OUTPUT_BYTES} bytes (64 KiB): write a smaller value, or store large data elsewhere and pass its location`;
}

/** Why the task fails when a declared output's file is not there. */
export function missingOutput(name: string, path: string): string {
  return `output "${name}": no file at ${path} when the container exited; the command must write it before it ends`;
}

export type ResultRead = { ok: true; value: string | null } | { ok: false; error: string };

/**
 * `result`: the last line of stdout with a non-whitespace character, without its line ending
 * ("\n" or "\r\n"), or null. Blank lines are passed over because many programs end with one
 * (a final `print()`, a progress bar's newline), and then "the last line" would be "" — Argo's
 * `result` is the whole stdout of a script, which here would be too big to template; the last
 * meaningful line is what `echo $count` at the end of a script gives. Kept in bounded memory
 * whatever the size of stdout or of its chunks.
 */
export class StdoutResult {
  private partial = '';
  private partialBytes = 0;
  private blank = true;
  private endsWithCR = false;
  private last: { text: string } | { bytes: number } | null = null;

  push(chunk: string): void {
    let start = 0;
    for (let nl = chunk.indexOf('\n'); nl >= 0; nl = chunk.indexOf('\n', start)) {
      this.append(chunk.slice(start, nl));
      this.endLine();
      start = nl + 1;
    }
    this.append(chunk.slice(start));
  }

  /** At exit: the value to store, or why there is none (the task itself still succeeds). */
  result(): ResultRead {
    this.endLine();
    if (this.last === null) return { ok: true, value: null };
    if ('text' in this.last) return { ok: true, value: this.last.text };
    return { ok: false, error: `result: the last line of stdout is ${this.last.bytes} bytes; the limit is ${MAX_OUTPUT_BYTES} bytes (64 KiB): print a shorter last line, or declare an output file` };
  }

  private append(piece: string): void {
    if (piece === '') return;
    this.partialBytes += Buffer.byteLength(piece);
    if (this.blank && /\S/.test(piece)) this.blank = false;
    this.endsWithCR = piece.endsWith('\r');
    // Past the limit the text is not needed any more, only whether it is blank and its size.
    if (this.partialBytes <= MAX_OUTPUT_BYTES + 1) this.partial += piece;
  }

  private endLine(): void {
    const bytes = this.partialBytes - (this.endsWithCR ? 1 : 0);
    if (!this.blank) this.last = bytes > MAX_OUTPUT_BYTES ? { bytes } : { text: this.endsWithCR ? this.partial.slice(0, -1) : this.partial };
    this.partial = '';
    this.partialBytes = 0;
    this.blank = true;
    this.endsWithCR = false;
  }
}

/** `result` of a whole stdout at once (tests, and stdout already in memory). */
export function resultOf(stdout: string): ResultRead {
  const r = new StdoutResult();
  r.push(stdout);
  return r.result();
}
