// UTF-8 text from a stream of chunks that may split a character. A StringDecoder per stream
// (with its buffers, ~0.65 kB of heap) is made only when a chunk actually ends inside a
// character; until then each chunk is decoded alone. A worker keeps two of these per run in
// flight (its log and its stdout's last line), most of which print nothing or whole lines.
import { StringDecoder } from 'node:string_decoder';

/** How many bytes at the end of `buf` begin a character that `buf` does not complete (0–3). */
export function incompleteTail(buf: Uint8Array): number {
  const n = buf.length;
  for (let back = 1; back <= Math.min(3, n); back++) {
    const b = buf[n - back];
    if ((b & 0xc0) === 0x80) continue; // a continuation byte: look further back for its lead
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return need > back ? back : 0;
  }
  return 0;
}

export class Utf8Text {
  private decoder: StringDecoder | null = null;

  /** The text of a chunk; a character it ends inside of comes out with the next chunk (or end()). */
  write(chunk: Buffer): string {
    if (this.decoder) return this.decoder.write(chunk);
    if (incompleteTail(chunk) === 0) return chunk.toString('utf8');
    this.decoder = new StringDecoder('utf8');
    return this.decoder.write(chunk);
  }

  /** What is left at the end of the stream (an incomplete character as U+FFFD). */
  end(): string {
    return this.decoder?.end() ?? '';
  }
}
