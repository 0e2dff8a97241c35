import { StringDecoder } from 'node:string_decoder';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { incompleteTail, Utf8Text } from './utf8-text.ts';

function decodeAll(decoder: { write(b: Buffer): string; end(): string }, chunks: Buffer[]): string {
  return chunks.map((c) => decoder.write(c)).join('') + decoder.end();
}

describe('Utf8Text', () => {
  it('counts the bytes of a character left incomplete at the end', () => {
    const euro = Buffer.from('€'); // 3 bytes
    const face = Buffer.from('😀'); // 4 bytes
    expect(incompleteTail(Buffer.from('abc'))).toBe(0);
    expect(incompleteTail(euro)).toBe(0);
    expect(incompleteTail(euro.subarray(0, 1))).toBe(1);
    expect(incompleteTail(euro.subarray(0, 2))).toBe(2);
    expect(incompleteTail(Buffer.concat([Buffer.from('x'), face.subarray(0, 3)]))).toBe(3);
    expect(incompleteTail(face)).toBe(0);
    expect(incompleteTail(Buffer.alloc(0))).toBe(0);
  });

  it('joins a character split across chunks, and ends an incomplete one as U+FFFD', () => {
    const text = new Utf8Text();
    const euro = Buffer.from('a€b');
    expect(text.write(euro.subarray(0, 2))).toBe('a');
    expect(text.write(euro.subarray(2))).toBe('€b');
    expect(text.write(Buffer.from('😀').subarray(0, 2))).toBe('');
    expect(text.end()).toBe('\uFFFD');
  });

  it('gives the text a StringDecoder gives, for any bytes in any chunks', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.uint8Array({ maxLength: 12 }), fc.string({ unit: 'grapheme', maxLength: 6 }).map((s) => new Uint8Array(Buffer.from(s)))), { maxLength: 12 }), (parts) => {
        const chunks = parts.map((p) => Buffer.from(p));
        expect(decodeAll(new Utf8Text(), chunks)).toBe(decodeAll(new StringDecoder('utf8'), chunks));
      }),
      { numRuns: 2000 },
    );
  });
});
