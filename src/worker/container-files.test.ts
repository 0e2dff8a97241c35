// The tar reader behind output files (container-files.ts): the archive endpoint's answer for one
// path is a tar stream, maybe with a pax header first (long names, extended attributes).
import { describe, expect, it } from 'vitest';
import { TarFirstFile } from './container-files.ts';

function header(name: string, size: number, type: string): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 'latin1');
  h.write(size.toString(8).padStart(11, '0') + '\0', 124, 'latin1');
  h.write(type, 156, 'latin1');
  return h;
}
const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]);
const entry = (name: string, body: Buffer, type = '0') => Buffer.concat([header(name, body.length, type), pad(body)]);
const END = Buffer.alloc(1024);

function read(stream: Buffer, limit = 100, chunk = 7) {
  const r = new TarFirstFile(limit);
  for (let i = 0; i < stream.length; i += chunk) if (r.push(stream.subarray(i, i + chunk))) break;
  return r.answer();
}

describe('TarFirstFile', () => {
  it('reads a file, in chunks of any size', () => {
    const tar = Buffer.concat([entry('rows', Buffer.from('7\n')), END]);
    expect(read(tar)).toEqual({ ok: true, bytes: Buffer.from('7\n') });
    expect(read(tar, 100, 1)).toEqual({ ok: true, bytes: Buffer.from('7\n') });
  });

  it('skips a pax header before the file', () => {
    const pax = Buffer.from('30 path=a-very-long-name-here\n');
    const tar = Buffer.concat([entry('PaxHeader/x', pax, 'x'), entry('x', Buffer.from('value')), END]);
    expect(read(tar)).toEqual({ ok: true, bytes: Buffer.from('value') });
  });

  it('reports a file over the limit by its size, without reading it', () => {
    const tar = Buffer.concat([header('big', 5000, '0')]);
    expect(read(tar, 100)).toEqual({ ok: false, why: 'too_big', size: 5000 });
  });

  it('reads the size of a file of 8 GiB or more from its pax header, or a GNU base-256 size, not as empty', () => {
    // Go's tar writer (the engine's archive endpoint) puts such a size in a pax record and 0 in
    // the header: it was read as an empty file, and the output's value as "".
    const record = 'size=8589934592\n';
    const pax = Buffer.from(`${record.length + 3} ${record}`);
    const tar = Buffer.concat([entry('PaxHeader/big', pax, 'x'), header('big', 0, '0')]);
    expect(read(tar)).toEqual({ ok: false, why: 'too_big', size: 8589934592 });
    const gnu = header('big', 0, '0');
    gnu.fill(0, 124, 136);
    gnu[124] = 0x80;
    gnu.writeUIntBE(2 ** 33, 130, 6);
    expect(read(gnu)).toEqual({ ok: false, why: 'too_big', size: 2 ** 33 });
    // A pax size applies to its entry only.
    const small = Buffer.from(`${'size=2\n'.length + 2} size=2\n`);
    expect(read(Buffer.concat([entry('PaxHeader/x', small, 'x'), entry('x', Buffer.from('ab')), END]))).toEqual({ ok: true, bytes: Buffer.from('ab') });
  });

  it('refuses a directory or a link, and says when the stream ends early', () => {
    expect(read(Buffer.concat([header('d/', 0, '5'), END]))).toEqual({ ok: false, why: 'not_a_file', message: 'is a directory' });
    expect(read(Buffer.concat([header('l', 0, '2'), END]))).toEqual({ ok: false, why: 'not_a_file', message: 'is a symbolic link' });
    expect(read(header('rows', 50, '0'))).toMatchObject({ ok: false, why: 'error' });
  });
});
