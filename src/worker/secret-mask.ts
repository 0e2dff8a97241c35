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
//
// The values are found with an Aho–Corasick automaton (ValueAutomaton below) that reads each
// character of the output once, whatever the values' lengths and however they overlap. It replaced
// an alternation of the values tried again one character past each match, which cost the output's
// length times a value's (a value of 32,000 `a`s and output of `a`s: 0.7 s of the worker's event
// loop per 16 KiB chunk, each chunk masked twice) and which V8 refused to run at all for some values
// past ~32,700 characters ("Regular expression too large": the attempt's finished report was never
// sent). The stream keeps the automaton's state between chunks: the text held back is not read again.
export const MASK = '***';
const MIN_LENGTH = 3;

export class SecretMasker {
  private readonly values: ValueAutomaton | null;
  /** This masker's stream (push/end); mask() uses one of its own. */
  private readonly stream: MaskStream | null;

  constructor(secrets: Iterable<string> | ValueAutomaton) {
    if (secrets instanceof ValueAutomaton) this.values = secrets;
    else {
      const all = new Set<string>();
      for (const s of secrets) {
        if (s.length >= MIN_LENGTH) all.add(s);
        if (s.includes('\n')) for (const line of s.split(/\r?\n/)) if (line.trim().length >= MIN_LENGTH) all.add(line);
      }
      this.values = all.size ? new ValueAutomaton(all) : null;
    }
    this.stream = this.values ? new MaskStream(this.values) : null;
  }

  /** A new masker for the same values (the automaton is shared), with nothing held back (for a second stream). */
  fork(): SecretMasker {
    return this.values ? new SecretMasker(this.values) : new SecretMasker([]);
  }

  get active(): boolean {
    return this.values !== null;
  }

  /** Moves this masker's stream has made in the automaton: at most two per character pushed (tests). */
  get moves(): number {
    return this.stream?.moves ?? 0;
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
    return this.stream ? this.stream.push(chunk) : [chunk];
  }

  /** end() in pieces, as pushParts(). */
  endParts(): string[] {
    return this.stream ? this.stream.end(true) : [''];
  }

  /** Masks one whole text (not a stream; nothing in it was cut off). */
  mask(text: string): string {
    if (!this.values) return text;
    const whole = new MaskStream(this.values);
    return [...whole.push(text), ...whole.end(false)].join('');
  }
}

/**
 * The values' Aho–Corasick automaton: a trie of the values, each node a prefix of one, with a
 * failure link to the node of its longest proper suffix that is also a prefix. Reading a
 * character moves to a child or along failure links (each of those shortens the prefix matched,
 * so there are at most as many as characters read). Built once per task, shared by its streams.
 */
class ValueAutomaton {
  /** The longest value's length - 1: a value starting earlier than that before the end is seen whole. */
  readonly hold: number;
  /** Per node: its prefix's length, and the longest value that ends its prefix (0: none). */
  readonly depth: number[] = [0];
  readonly longest: number[] = [0];
  readonly fail: number[] = [0];
  // Children: most nodes of a long value have one, kept inline; a Map only for the others.
  private readonly onlyCode: number[] = [-1];
  private readonly onlyChild: number[] = [-1];
  private readonly more = new Map<number, Map<number, number>>();
  /** The first code unit of any value: the engine's own search passes over output that starts none. */
  readonly firstUnit: RegExp;

  constructor(values: Iterable<string>) {
    let longestValue = 0;
    const firsts = new Set<number>();
    for (const v of values) {
      let node = 0;
      firsts.add(v.charCodeAt(0));
      for (let i = 0; i < v.length; i++) {
        const code = v.charCodeAt(i);
        let next = this.child(node, code);
        if (next < 0) next = this.add(node, code);
        node = next;
      }
      this.longest[node] = v.length;
      longestValue = Math.max(longestValue, v.length);
    }
    this.hold = longestValue - 1;
    this.firstUnit = new RegExp(`[${[...firsts].map((c) => `\\u${c.toString(16).padStart(4, '0')}`).join('')}]`, 'g');
    // Breadth first: a node's failure link is shallower, so it is complete when the node is reached.
    const queue = this.children(0);
    for (let head = 0; head < queue.length; head++) {
      const node = queue[head];
      for (const next of this.children(node)) {
        const code = this.codeOf(node, next);
        let f = this.fail[node];
        let to = this.child(f, code);
        while (to < 0 && f !== 0) {
          f = this.fail[f];
          to = this.child(f, code);
        }
        this.fail[next] = to >= 0 ? to : 0;
        if (this.longest[next] === 0) this.longest[next] = this.longest[this.fail[next]];
        queue.push(next);
      }
    }
  }

  /** The node of `node`'s child by `code`, or -1. */
  child(node: number, code: number): number {
    if (this.onlyCode[node] === code) return this.onlyChild[node];
    return this.more.get(node)?.get(code) ?? -1;
  }

  /** Whether `node`'s prefix is a proper prefix of a value (a value goes on past it). */
  goesOn(node: number): boolean {
    return this.onlyChild[node] >= 0;
  }

  private add(node: number, code: number): number {
    const next = this.depth.length;
    this.depth.push(this.depth[node] + 1);
    this.longest.push(0);
    this.fail.push(0);
    this.onlyCode.push(-1);
    this.onlyChild.push(-1);
    if (this.onlyChild[node] < 0) {
      this.onlyCode[node] = code;
      this.onlyChild[node] = next;
    } else {
      let m = this.more.get(node);
      if (!m) this.more.set(node, (m = new Map()));
      m.set(code, next);
    }
    return next;
  }

  private children(node: number): number[] {
    if (this.onlyChild[node] < 0) return [];
    return [this.onlyChild[node], ...(this.more.get(node)?.values() ?? [])];
  }

  private codeOf(node: number, child: number): number {
    if (this.onlyChild[node] === child) return this.onlyCode[node];
    for (const [code, c] of this.more.get(node) ?? []) if (c === child) return code;
    throw new Error('not a child');
  }
}

/**
 * One stream through the automaton, positions counted from its start. Each character read tells
 * the longest value that ends there, so the occurrence that starts there: `starts` keeps, for the
 * last hold + 1 positions, the longest occurrence starting at each. A position is settled once
 * hold + 1 characters follow it (all its occurrences are seen whole), in order, merging as the
 * rule says; an occurrence inside a longer one changes nothing (whatever overlaps it overlaps the
 * longer one), so one per end is enough.
 */
class MaskStream {
  moves = 0;
  /** Characters read; the automaton's node for the longest end of them that is a value's prefix. */
  private pos = 0;
  private node = 0;
  /** Everything before `done` is given out, as text or inside a mask; a mask ends there. */
  private done = 0;
  /** Indexed by position % (hold + 1): the longest occurrence starting there (0: none); how many there are. */
  private starts: Int32Array | null = null;
  private found = 0;
  private readonly text = new HeldText();

  constructor(private readonly values: ValueAutomaton) {}

  push(chunk: string): string[] {
    const { values } = this;
    const size = values.hold + 1;
    const starts = (this.starts ??= new Int32Array(size));
    this.text.add(this.pos, chunk);
    const parts: string[] = [];
    const first = values.firstUnit;
    let { node, pos, moves } = this;
    for (let i = 0; i < chunk.length; i++) {
      if (node === 0 && this.found === 0) {
        // Nothing under way and nothing to settle: pass over the text that starts no value.
        first.lastIndex = i;
        const to = first.test(chunk) ? first.lastIndex - 1 : chunk.length;
        pos += to - i;
        i = to;
        if (i === chunk.length) break;
      }
      const code = chunk.charCodeAt(i);
      // Along failure links until a child by `code` (or the root has none).
      let next = values.child(node, code);
      while (next < 0 && node !== 0) {
        node = values.fail[node];
        next = values.child(node, code);
        moves++;
      }
      node = next >= 0 ? next : 0;
      moves++;
      pos++;
      const found = values.longest[node];
      if (found > 0) {
        const at = (pos - found) % size;
        if (starts[at] === 0) this.found++;
        if (starts[at] < found) starts[at] = found;
      }
      // The position hold + 1 back is settled now: every occurrence starting there has ended.
      if (this.found > 0 && pos >= size) this.settle(pos - size, starts, size, parts);
    }
    this.node = node;
    this.pos = pos;
    this.moves = moves;
    const settled = pos - values.hold;
    if (settled <= 0) return [''];
    parts.push(this.done < settled ? this.text.slice(this.done, settled) : '');
    if (this.done < settled) this.done = settled;
    // A mask that goes on (a value's occurrences overlapping for ever) gives nothing out: its text goes.
    this.text.forget(this.done);
    return parts;
  }

  /**
   * The rest: every position settled, with `cutOff` the longest tail of 3 or more characters that
   * a value goes on past (cut off by the end of the output) masked, and what starts inside it
   * joining its mask. The stream starts over.
   */
  end(cutOff: boolean): string[] {
    const { values, pos } = this;
    const size = values.hold + 1;
    const starts = (this.starts ??= new Int32Array(size));
    const parts: string[] = [];
    let cut = -1;
    if (cutOff) {
      // The node's prefix is the longest end of the output that starts a value; shorter ones are down its failure links.
      for (let n = this.node; n !== 0 && values.depth[n] >= MIN_LENGTH; n = values.fail[n]) {
        if (values.goesOn(n)) {
          cut = pos - values.depth[n];
          break;
        }
      }
    }
    const last = cut >= 0 ? cut : pos;
    for (let p = Math.max(0, pos - values.hold); p < last; p++) this.settle(p, starts, size, parts);
    if (cut >= 0) {
      if (cut >= this.done) parts.push(this.text.slice(this.done, cut), MASK);
      this.done = pos;
    }
    parts.push(this.done < pos ? this.text.slice(this.done, pos) : '');
    if (this.found > 0) starts.fill(0);
    this.text.clear();
    this.pos = this.node = this.done = this.found = 0;
    return parts;
  }

  /** Merges the occurrence starting at `p` (if any) into the masks, giving out the text before a new one. */
  private settle(p: number, starts: Int32Array, size: number, parts: string[]): void {
    const at = p % size;
    const found = starts[at];
    if (found === 0) return;
    starts[at] = 0;
    this.found--;
    const stop = p + found;
    if (p < this.done) {
      if (stop > this.done) this.done = stop; // overlaps the mask before it: one mask for both
    } else {
      parts.push(this.text.slice(this.done, p), MASK);
      this.done = stop;
    }
  }
}

/**
 * The stream's text not given out yet, as the chunks it came in (joining them into one string
 * copied everything held back at each chunk: a value's length per chunk of one character).
 * Slices are asked for in order; chunks wholly before what is asked for, or given out, are let go.
 */
class HeldText {
  private chunks: string[] = [];
  private froms: number[] = [];
  private head = 0;

  add(from: number, chunk: string): void {
    if (chunk) {
      this.chunks.push(chunk);
      this.froms.push(from);
    }
  }

  /** Lets go of the chunks wholly before `before`. */
  forget(before: number): void {
    while (this.head < this.chunks.length && this.froms[this.head] + this.chunks[this.head].length <= before) this.head++;
    if (this.head > 1024 && this.head * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.froms = this.froms.slice(this.head);
      this.head = 0;
    }
  }

  slice(from: number, to: number): string {
    this.forget(from);
    let out = '';
    for (let i = this.head; i < this.chunks.length && this.froms[i] < to; i++) {
      const f = this.froms[i];
      out += this.chunks[i].slice(Math.max(0, from - f), to - f);
    }
    return out;
  }

  clear(): void {
    this.chunks = [];
    this.froms = [];
    this.head = 0;
  }
}
