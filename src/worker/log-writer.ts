// Appends one attempt's output to its live Redis stream, bounded by the log cap: past the cap
// the rest is dropped and the stream says "truncated". Writes are pipelined in order; close()
// waits for them and then writes the end marker that log followers stop at.
//
// Secrets are masked first and the cap applies to the masked text: what is stored is the start
// of the log as it reads masked, never a value cut by the cap before the masker saw it whole. A
// mask that does not fit is left out whole (a lone `*` or `**` would read as output), and text is
// cut at a character boundary.
//
// stdout and stderr are decoded and masked apart (a decoder and a masker each), then appended in
// the order their text comes out: the engine cuts each stream into frames on its own (~32 KiB),
// so a frame of one stream may end inside a character or a secret value whose rest comes in the
// stream's next frame, with frames of the other stream in between. One decoder and masker for both
// gave U+FFFD for the character and left the value unmasked (the other stream's text settled what
// the masker held back).
import type { Redis } from 'ioredis';
import type { SecretMasker } from './secret-mask.ts';
import { Utf8Text } from './utf8-text.ts';

const utf8 = new TextEncoder();

export type OutputStream = 'stdout' | 'stderr';

/** One stream's text on its way to the log: its own decoder and masker. */
interface StreamText {
  decoder: Utf8Text;
  masker: SecretMasker | null;
}

export class LogWriter {
  private readonly streams: Record<OutputStream, StreamText>;
  private written = 0;
  private pending: Promise<unknown> = Promise.resolve();
  private failed: Error | null = null;
  truncated = false;

  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    private readonly attempt: number,
    private readonly capBytes: number,
    /** Masks the task's secret values (`***`) before anything leaves the node. */
    masker: SecretMasker | null = null,
  ) {
    // Forks: what each holds back is its own stream's, and the caller's masker stays untouched.
    const of = (): StreamText => ({ decoder: new Utf8Text(), masker: masker?.active ? masker.fork() : null });
    this.streams = { stdout: of(), stderr: of() };
  }

  write(chunk: Buffer, stream: OutputStream = 'stdout'): void {
    if (this.truncated) return;
    const { decoder, masker } = this.streams[stream];
    const text = decoder.write(chunk);
    this.store(masker ? masker.pushParts(text) : [text]);
  }

  /** Appends what fits under the cap of `parts` (text, mask, text, …: see SecretMasker.pushParts). */
  private store(parts: string[]): void {
    if (this.truncated) return;
    let text = '';
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i];
      if (!part) continue;
      const room = this.capBytes - this.written;
      const size = Buffer.byteLength(part);
      if (size <= room) {
        text += part;
        this.written += size;
        continue;
      }
      if (i % 2 === 0 && room > 0) {
        // As many whole characters as fit (encodeInto never writes part of one).
        const { read, written } = utf8.encodeInto(part, new Uint8Array(room));
        text += part.slice(0, read);
        this.written += written;
      }
      this.truncated = true;
      break;
    }
    if (text) this.append(['d', text]);
    if (this.truncated) this.append(['truncated', '1']);
  }

  private append(fields: string[]): void {
    this.pending = this.redis.xadd(this.key, '*', 'a', String(this.attempt), ...fields).catch((err: Error) => {
      this.failed ??= err;
    });
  }

  /** Flushes and writes the end marker. Rejects if any write was lost. */
  async close(): Promise<void> {
    if (!this.truncated) {
      // Past the cap what the maskers held back is dropped with the rest; here it goes out, masked.
      for (const { decoder, masker } of Object.values(this.streams)) {
        const tail = decoder.end();
        if (masker) {
          this.store(masker.pushParts(tail));
          this.store(masker.endParts());
        } else this.store([tail]);
      }
    }
    this.append(['end', '1']);
    await this.pending;
    if (this.failed) throw this.failed;
  }
}
