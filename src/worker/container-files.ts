// Reads one file out of a container that has exited (and is not removed yet), through the Docker
// API's archive endpoint (GET /containers/{id}/archive, what `docker cp` uses): a tar stream
// holding the file. At most `limit` bytes of it are read; a larger file is reported by its size.
// A task's tmpfs is gone once its container exits, so the files must live on the container's
// writable layer or a volume (container-spec.ts puts /tmp on a volume for tasks with outputs).
import type Dockerode from 'dockerode';
import { MAX_OUTPUT_BYTES, missingOutput, outputValue, oversizeOutput } from '../workflow/outputs.ts';
import { engineMessage, isEngineUnreachable, statusOf } from './docker-errors.ts';

export type FileRead =
  | { ok: true; bytes: Buffer }
  | { ok: false; why: 'missing' }
  | { ok: false; why: 'too_big'; size: number }
  | { ok: false; why: 'not_a_file' | 'error'; message: string };

const BLOCK = 512;

/** The file at `path`, or why it cannot be had. Rejects only when the engine cannot be reached. */
export async function readContainerFile(container: Dockerode.Container, path: string, limit: number): Promise<FileRead> {
  let stream: NodeJS.ReadableStream & { destroy?: () => void };
  try {
    stream = (await container.getArchive({ path })) as typeof stream;
  } catch (err) {
    if (isEngineUnreachable(err)) throw err;
    if (statusOf(err) === 404) return { ok: false, why: 'missing' };
    return { ok: false, why: 'error', message: engineMessage(err) };
  }
  const reader = new TarFirstFile(limit);
  try {
    for await (const chunk of stream) {
      if (reader.push(chunk as Buffer)) break;
    }
  } finally {
    stream.destroy?.();
  }
  return reader.answer();
}

/** The first regular file of a tar stream, past any pax or GNU long-name headers before it (exported for its test). */
/** A tar header's size field: octal digits, or GNU's base-256 (high bit set) for large sizes. */
function headerSize(field: Buffer): number {
  if (field[0] & 0x80) {
    let n = field[0] & 0x7f;
    for (const b of field.subarray(1)) n = n * 256 + b;
    return n;
  }
  const digits = field.toString('latin1').replace(/\0.*$/s, '').trim();
  return digits === '' ? 0 : /^[0-7]+$/.test(digits) ? parseInt(digits, 8) : NaN;
}

/** The `size` record of a pax extended header (`<len> size=<n>\n` records), or null. */
function paxRecordSize(records: Buffer): number | null {
  const m = /(?:^|\n)\d+ size=(\d+)\n/.exec(records.toString('utf8'));
  return m ? Number(m[1]) : null;
}

export class TarFirstFile {
  private buf = Buffer.alloc(0);
  private done: FileRead | null = null;
  /** The next entry's size from a pax header (`size=`), which overrides its own header's. */
  private paxSize: number | null = null;
  constructor(private readonly limit: number) {}

  /** True once the answer is known (the rest of the stream is not needed). */
  push(chunk: Buffer): boolean {
    if (this.done) return true;
    this.buf = Buffer.concat([this.buf, chunk]);
    for (;;) {
      if (this.buf.length < BLOCK) return false;
      const header = this.buf.subarray(0, BLOCK);
      if (header.every((b) => b === 0)) {
        this.done = { ok: false, why: 'missing' };
        return true;
      }
      let size = headerSize(header.subarray(124, 136));
      const type = String.fromCharCode(header[156] || 0x30);
      const body = Math.ceil(size / BLOCK) * BLOCK;
      if (type === 'x' || type === 'g' || type === 'L' || type === 'K') {
        // Metadata about the next entry: skipped whole, but for a pax header's size (a file of
        // 8 GiB or more: the tar header's 11 octal digits cannot hold it, Go's writer puts 0 there).
        if (this.buf.length < BLOCK + body) return false;
        if (type === 'x') this.paxSize = paxRecordSize(this.buf.subarray(BLOCK, BLOCK + size));
        this.buf = this.buf.subarray(BLOCK + body);
        continue;
      }
      if (this.paxSize !== null) [size, this.paxSize] = [this.paxSize, null];
      if (!Number.isFinite(size)) {
        this.done = { ok: false, why: 'error', message: 'the archive the engine sent has a size it cannot read' };
        return true;
      }
      if (type !== '0' && type !== '7') {
        const what = type === '5' ? 'a directory' : type === '2' ? 'a symbolic link' : 'not a regular file';
        this.done = { ok: false, why: 'not_a_file', message: `is ${what}` };
        return true;
      }
      if (size > this.limit) {
        this.done = { ok: false, why: 'too_big', size };
        return true;
      }
      if (this.buf.length < BLOCK + size) return false;
      this.done = { ok: true, bytes: Buffer.from(this.buf.subarray(BLOCK, BLOCK + size)) };
      return true;
    }
  }

  answer(): FileRead {
    return this.done ?? { ok: false, why: 'error', message: 'the archive the engine sent ended early' };
  }
}

/**
 * The task's declared outputs (name → path) read from its exited container: every value, or
 * every problem in one message (the attempt then fails with it, as for a non-zero exit).
 */
export async function readOutputs(container: Dockerode.Container, outputs: Record<string, string>): Promise<{ ok: true; values: Record<string, string> } | { ok: false; error: string }> {
  const values: Record<string, string> = {};
  const problems: string[] = [];
  for (const [name, path] of Object.entries(outputs)) {
    // Two more bytes than the limit: a value at the limit may end with "\r\n", which is dropped.
    const file = await readContainerFile(container, path, MAX_OUTPUT_BYTES + 2);
    if (file.ok) {
      const v = outputValue(name, file.bytes);
      if (v.ok) values[name] = v.value;
      else problems.push(v.error);
    } else if (file.why === 'missing') problems.push(missingOutput(name, path));
    else if (file.why === 'too_big') problems.push(oversizeOutput(name, file.size));
    else problems.push(`output "${name}": ${path} ${file.why === 'not_a_file' ? file.message : `could not be read: ${file.message}`}`);
  }
  return problems.length > 0 ? { ok: false, error: problems.join('; ') } : { ok: true, values };
}
