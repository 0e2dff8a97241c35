// Utf8Chunks against node:string_decoder: any bytes, cut anywhere, give the same text.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { StringDecoder } from 'node:string_decoder';
import { Utf8Chunks } from './utf8-chunks.ts';

const decodeWith = (d: { write(b: Buffer): string; end(): string }, chunks: Buffer[]) => chunks.map((c) => d.write(c)).join('') + d.end();

/** Bytes cut into chunks at the given points. */
const cut = (bytes: Uint8Array, points: number[]) => {
  const at = [...new Set(points.map((p) => p % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of [...at, bytes.length]) {
    out.push(Buffer.from(bytes.subarray(from, p)));
    from = p;
  }
  return out;
};

describe('Utf8Chunks', () => {
  it('never splits a character: a euro sign cut after each of its bytes', () => {
    const euro = Buffer.from('a€b');
    for (let i = 0; i <= euro.length; i++) {
      const d = new Utf8Chunks();
      const first = d.write(euro.subarray(0, i));
      expect(first).not.toContain('\uFFFD');
      expect(first + d.write(euro.subarray(i)) + d.end()).toBe('a€b');
    }
  });

  it('ends an unfinished character as U+FFFD', () => {
    const d = new Utf8Chunks();
    expect(d.write(Buffer.from([0x61, 0xe2, 0x82]))).toBe('a');
    expect(d.end()).toBe('\uFFFD');
    expect(d.end()).toBe('');
  });

  it('decodes any text cut anywhere as it was', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 60 }), fc.array(fc.nat(), { maxLength: 8 }), (text, points) => {
        expect(decodeWith(new Utf8Chunks(), cut(Buffer.from(text), points))).toBe(text);
      }),
      { numRuns: 500 },
    );
  });

  it('gives what StringDecoder gives for any bytes, valid or not, cut anywhere', () => {
    const utf8ish = fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0x80, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff));
    fc.assert(
      fc.property(fc.array(utf8ish, { maxLength: 40 }), fc.array(fc.nat(), { maxLength: 8 }), (bytes, points) => {
        const chunks = cut(Uint8Array.from(bytes), points);
        expect(decodeWith(new Utf8Chunks(), chunks)).toBe(decodeWith(new StringDecoder('utf8'), chunks));
      }),
      { numRuns: 3000 },
    );
  });
});
