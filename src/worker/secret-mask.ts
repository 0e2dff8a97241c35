// Masks a task's secret values in its output as `***`, as CI systems do. Values shorter than 3
// characters are not masked (masking every "1" would destroy the output and hide nothing); a
// multi-line value is also masked line by line, since programs often print one line of it.
//
// The rule, for a whole text and for a stream alike: every character inside an occurrence of any
// value is hidden, occurrences that overlap (one value inside or across another) make a single
// `***`, and everything else is shown as it is. A stream gives the same output however it is cut
// into chunks: the text is masked before any of it is held back, and only the occurrences that
// start early enough to be seen whole (the last longest - 1 characters are held back until the
// next chunk) are settled; a masked run that reaches into the held-back text has had its `***`
// given out already, and whatever overlaps it later joins it silently. So a shorter value inside
// a longer one split across chunks never reveals the rest of the longer one.
//
// The end of a stream may cut a value short (a killed container, a pipe closed mid-write), so
// end() also masks a held-back tail of 3 or more characters that is the start of a value.
export const MASK = '***';
const MIN_LENGTH = 3;

export class SecretMasker {
  private readonly values: string[];
  /** One alternation of every value, longest first: at any position the longest value wins. */
  private readonly pattern: RegExp | null;
  /** The first MIN_LENGTH characters of each value, to look for a cut-off value at the end quickly. */
  private readonly starts: Set<string>;
  private readonly hold: number;
  /** Text not given out yet (the last `hold` characters seen). */
  private pending = '';
  /** How many characters at the start of `pending` are inside a mask already given out. */
  private covered = 0;

  constructor(secrets: Iterable<string>) {
    const all = new Set<string>();
    for (const s of secrets) {
      if (s.length >= MIN_LENGTH) all.add(s);
      if (s.includes('\n')) for (const line of s.split(/\r?\n/)) if (line.trim().length >= MIN_LENGTH) all.add(line);
    }
    this.values = [...all].sort((a, b) => b.length - a.length);
    this.pattern = this.values.length ? new RegExp(this.values.map(escapeRegExp).join('|'), 'g') : null;
    this.starts = new Set(this.values.map((v) => v.slice(0, MIN_LENGTH)));
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
    return this.active ? this.pushParts(chunk).join('') : chunk;
  }

  /** What was held back, masked (a value it starts, cut off by the end, too): call once the output has ended. */
  end(): string {
    return this.endParts().join('');
  }

  /**
   * push() in pieces: even indexes are text, odd ones a mask (MASK), so that a consumer that cuts
   * the output (the log cap) can leave a mask out whole instead of cutting it into a `*` or `**`.
   */
  pushParts(chunk: string): string[] {
    if (!this.pattern) return [chunk];
    const text = this.pending + chunk;
    // Occurrences starting before `settled` are seen whole: any value starting there fits in `text`.
    const settled = text.length - this.hold;
    if (settled <= 0) {
      this.pending = text;
      return [''];
    }
    const { parts, done } = this.scan(text, this.covered, settled, false);
    this.pending = text.slice(settled);
    this.covered = Math.max(0, done - settled);
    return parts;
  }

  /** end() in pieces, as pushParts(). */
  endParts(): string[] {
    if (!this.pattern) return [''];
    const { parts } = this.scan(this.pending, this.covered, this.pending.length, true);
    this.pending = '';
    this.covered = 0;
    return parts;
  }

  /** Masks one whole text (not a stream; nothing in it was cut off). */
  mask(text: string): string {
    return this.pattern ? this.scan(text, 0, text.length, false).parts.join('') : text;
  }

  /**
   * Masks `text` up to `until`: the occurrences that start before it, merged where they overlap
   * (`covered`: the first characters are inside a mask already given out), and with `cutOff` a
   * tail that starts a value. Returns the pieces (text, mask, text, …, text) and where the last
   * mask ends (at or past `until` when it reaches into what is held back).
   */
  private scan(text: string, covered: number, until: number, cutOff: boolean): { parts: string[]; done: number } {
    const re = this.pattern as RegExp;
    const parts: string[] = [];
    // Everything before `done` is given out, as text or inside a mask; a mask ends there.
    let done = covered;
    // A cut-off value runs to the end: the occurrences that start inside it are part of its mask.
    const cut = cutOff ? this.cutOffStart(text) : -1;
    const last = cut >= 0 ? cut : until;
    re.lastIndex = 0;
    for (let m = re.exec(text); m !== null && m.index < last; m = re.exec(text)) {
      const start = m.index;
      const stop = start + m[0].length;
      if (start < done) {
        if (stop > done) done = stop; // overlaps the mask before it: one mask for both
      } else {
        parts.push(text.slice(done, start), MASK);
        done = stop;
      }
      re.lastIndex = start + 1; // an occurrence may start inside this one (overlapping values)
    }
    if (cut >= 0) {
      if (cut >= done) parts.push(text.slice(done, cut), MASK);
      done = text.length;
    }
    parts.push(done < until ? text.slice(done, until) : '');
    return { parts, done };
  }

  /** Where the longest tail of `text` that is the start of a value (3 or more characters, not all of it) begins, or -1. */
  private cutOffStart(text: string): number {
    for (let p = Math.max(0, text.length - this.hold); p <= text.length - MIN_LENGTH; p++) {
      if (!this.starts.has(text.slice(p, p + MIN_LENGTH))) continue;
      const tail = text.slice(p);
      if (this.values.some((v) => v.length > tail.length && v.startsWith(tail))) return p;
    }
    return -1;
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
