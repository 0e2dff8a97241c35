// UTF-8 text from a stream of byte chunks, a character never split between two pieces: what
// node:string_decoder does, without its cost per stream. A StringDecoder holds a native buffer
// (an ArrayBuffer with its own backing store) from the start; a worker keeps two per running
// attempt, which was a fifth of a simulated worker's heap with 10,000 attempts running (heap
// snapshot, bench (e)'s shape). This holds only the 1–3 bytes of an unfinished character, and
// only while there are some.

/** Where the last complete character of `buf` ends (its length, unless it ends mid-character). */
function completeLength(buf: Uint8Array): number {
  const n = buf.length;
  for (let back = 1; back <= 3 && back <= n; back++) {
    const b = buf[n - back];
    if ((b & 0xc0) === 0x80) continue; // a continuation byte: look further back for its lead
    // A lead byte (or ASCII, or a byte no character starts with: decoded at once as U+FFFD).
    const need = b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 1;
    return need > back ? n - back : n;
  }
  return n;
}

export class Utf8Chunks {
  private rest: Buffer | null = null;

  /** The text of the chunk, less an unfinished character at its end (kept for the next). */
  write(chunk: Buffer): string {
    let buf = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
    this.rest = null;
    const cut = completeLength(buf);
    if (cut < buf.length) {
      this.rest = Buffer.from(buf.subarray(cut));
      buf = buf.subarray(0, cut);
    }
    return buf.toString('utf8');
  }

  /** What is left at the end: an unfinished character, as U+FFFD. */
  end(): string {
    const r = this.rest;
    this.rest = null;
    return r ? r.toString('utf8') : '';
  }
}
