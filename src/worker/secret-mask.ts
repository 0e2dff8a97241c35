// Masks a task's secret values in its output as `***`, as CI systems do, including a value
// split across two chunks: the last (longest secret - 1) characters are held back until the
// next chunk (or the end) shows whether they start a secret. Values shorter than 3 characters
// are not masked (masking every "1" would destroy the output and hide nothing); a multi-line
// value is also masked line by line, since programs often print one line of it.
export const MASK = '***';
const MIN_LENGTH = 3;

export class SecretMasker {
  private readonly values: string[];
  private readonly hold: number;
  private pending = '';

  constructor(secrets: Iterable<string>) {
    const all = new Set<string>();
    for (const s of secrets) {
      if (s.length >= MIN_LENGTH) all.add(s);
      if (s.includes('\n')) for (const line of s.split(/\r?\n/)) if (line.trim().length >= MIN_LENGTH) all.add(line);
    }
    // Longest first, so a secret that contains another is masked whole.
    this.values = [...all].sort((a, b) => b.length - a.length);
    this.hold = this.values.length ? this.values[0].length - 1 : 0;
  }

  /** A new masker for the same values, with nothing held back (for a second stream). */
  fork(): SecretMasker {
    return new SecretMasker(this.values);
  }

  get active(): boolean {
    return this.values.length > 0;
  }

  /** Text safe to show now; may hold back the tail of `chunk` until more arrives. */
  push(chunk: string): string {
    if (!this.active) return chunk;
    const text = this.mask(this.pending + chunk);
    const cut = Math.max(0, text.length - this.hold);
    this.pending = text.slice(cut);
    return text.slice(0, cut);
  }

  /** What was held back, masked: call once the output has ended. */
  end(): string {
    const rest = this.mask(this.pending);
    this.pending = '';
    return rest;
  }

  /** Masks one whole text (not a stream). */
  mask(text: string): string {
    let out = text;
    for (const v of this.values) if (out.includes(v)) out = out.split(v).join(MASK);
    return out;
  }
}
