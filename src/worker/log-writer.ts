// Appends one attempt's output to its live Redis stream, bounded by the log cap: past the cap
// the rest is dropped and the stream says "truncated". Writes are pipelined in order; close()
// waits for them and then writes the end marker that log followers stop at.
//
// Secrets are masked first and the cap applies to the masked text: what is stored is the start
// of the log as it reads masked, never a value cut by the cap before the masker saw it whole. A
// mask that does not fit is left out whole (a lone `*` or `**` would read as output), and text is
// cut at a character boundary.
import type { Redis } from 'ioredis';
import type { SecretMasker } from './secret-mask.ts';
import { Utf8Text } from './utf8-text.ts';

const utf8 = new TextEncoder();

export class LogWriter {
  private readonly decoder = new Utf8Text();
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
    private readonly masker: SecretMasker | null = null,
  ) {}

  write(chunk: Buffer): void {
    if (this.truncated) return;
    const text = this.decoder.write(chunk);
    this.store(this.masker ? this.masker.pushParts(text) : [text]);
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
      // Past the cap what the masker held back is dropped with the rest; here it goes out, masked.
      const tail = this.decoder.end();
      if (this.masker) {
        this.store(this.masker.pushParts(tail));
        this.store(this.masker.endParts());
      } else this.store([tail]);
    }
    this.append(['end', '1']);
    await this.pending;
    if (this.failed) throw this.failed;
  }
}
