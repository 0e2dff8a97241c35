import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MASK, SecretMasker } from './secret-mask.ts';

const stream = (m: SecretMasker, chunks: string[]) => chunks.map((c) => m.push(c)).join('') + m.end();

/** `text` cut at `cuts` (positions, in any order). */
function split(text: string, cuts: number[]): string[] {
  const at = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
  return [0, ...at].map((from, i) => text.slice(from, i < at.length ? at[i] : text.length));
}

/**
 * The masking rule, spelled out slowly on the whole text: every occurrence of every value (3+
 * characters) is an interval, and so (`cutOff`) is a tail of 3+ characters that starts a longer
 * value; intervals that overlap make one mask, intervals that only touch make two.
 */
function reference(text: string, secrets: string[], cutOff: boolean): string {
  const values = secrets.filter((s) => s.length >= 3);
  const spans: [number, number][] = [];
  for (let p = 0; p < text.length; p++) {
    for (const v of values) if (text.startsWith(v, p)) spans.push([p, p + v.length]);
    const tail = text.slice(p);
    if (cutOff && tail.length >= 3 && values.some((v) => v.length > tail.length && v.startsWith(tail))) spans.push([p, text.length]);
  }
  spans.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
  let out = '';
  let shown = 0;
  for (const [start, stop] of spans) {
    if (start < shown) shown = Math.max(shown, stop);
    else {
      out += text.slice(shown, start) + MASK;
      shown = stop;
    }
  }
  return out + text.slice(shown);
}

describe('SecretMasker', () => {
  it('masks every occurrence of a value in one chunk', () => {
    expect(stream(new SecretMasker(['hunter2']), ['pw=hunter2 again hunter2\n'])).toBe('pw=*** again ***\n');
  });

  it('masks a value split across two chunks, at every split point', () => {
    const text = 'before s3cr3t-value after';
    for (let i = 0; i <= text.length; i++) {
      expect(stream(new SecretMasker(['s3cr3t-value']), [text.slice(0, i), text.slice(i)])).toBe('before *** after');
    }
  });

  it('masks a value split over many one-character chunks', () => {
    expect(stream(new SecretMasker(['topsecret']), [...'x topsecret y'])).toBe('x *** y');
  });

  it('masks the longer of two overlapping secrets whole', () => {
    expect(stream(new SecretMasker(['abc', 'abcdef']), ['>abcdef< >abc<'])).toBe('>***< >***<');
  });

  it('masks a multi-line value whole and line by line', () => {
    const key = '-----BEGIN KEY-----\nMIIEvQIBADANBg\n-----END KEY-----';
    expect(stream(new SecretMasker([key]), [`key: ${key}\nline only: MIIEvQIBADANBg\n`])).toBe('key: ***\nline only: ***\n');
  });

  it('leaves output alone when there is nothing to mask, without holding anything back', () => {
    const m = new SecretMasker(['ab', '']);
    expect(m.active).toBe(false);
    expect(m.push('ab ab')).toBe('ab ab');
  });

  it('holds back no more than the longest secret minus one character', () => {
    const m = new SecretMasker(['12345']);
    expect(m.push('hello world')).toBe('hello w');
    expect(m.end()).toBe('orld');
  });

  it('masks a longer value whole when a shorter value inside it arrives before the chunk boundary', () => {
    const url = 'postgres://u:hunter2@db/x';
    const m = () => new SecretMasker([url, 'hunter2']);
    expect(stream(m(), ['db=postgres://u:hunter2', '@db/x\n'])).toBe('db=***\n');
    const text = `db=${url} pw=hunter2\n`;
    for (let i = 0; i <= text.length; i++) expect(stream(m(), [text.slice(0, i), text.slice(i)])).toBe('db=*** pw=***\n');
    expect(stream(m(), [...text])).toBe('db=*** pw=***\n');
  });

  it('masks overlapping values as one, and values side by side as two', () => {
    expect(stream(new SecretMasker(['abcd', 'cdef']), ['xabc', 'defx'])).toBe('x***x');
    expect(new SecretMasker(['abcd', 'cdef']).mask('xabcdefx')).toBe('x***x');
    expect(stream(new SecretMasker(['hunter2']), ['hunter2hunt', 'er2'])).toBe('******');
  });

  it('masks the start of a value that the end of the stream cuts off', () => {
    const secret = 'hunter2-Very-Secret';
    expect(stream(new SecretMasker([secret]), ['pw=hunter2-Ve'])).toBe('pw=***');
    expect(stream(new SecretMasker([secret]), ['pw=', 'hun'])).toBe('pw=***');
    // Two characters say nothing (as values shorter than 3 are not masked), and text that only
    // looks like a value's start before the end is shown.
    expect(stream(new SecretMasker([secret]), ['pw=hu'])).toBe('pw=hu');
    expect(stream(new SecretMasker([secret]), ['pw=hunter2 ok'])).toBe('pw=hunter2 ok');
    // Inside a mask already given out: no second mask.
    expect(stream(new SecretMasker(['abcd', 'cdefgh']), ['xabcdef'])).toBe('x***');
    // A whole text (an output's value) was not cut off.
    expect(new SecretMasker([secret]).mask('pw=hunter2-Ve')).toBe('pw=hunter2-Ve');
  });

  it('gives the same output however the stream is cut, as the rule applied to the whole text', () => {
    const letter = fc.constantFrom('a', 'b', 'c');
    const word = (min: number, max: number) => fc.string({ unit: letter, minLength: min, maxLength: max });
    const secrets = fc
      .tuple(fc.array(word(1, 9), { minLength: 1, maxLength: 4 }), fc.nat(), fc.nat())
      // With a value inside another one (nested), besides the overlaps few letters make likely.
      .map(([values, i, j]) => [...values, values[0].slice(Math.min(i, j) % 9, Math.max(i, j) % 10)]);
    const input = secrets.chain((values) =>
      fc.tuple(
        fc.constant(values),
        fc.array(fc.oneof(fc.constantFrom(...values), word(0, 6), fc.constantFrom(...values).chain((v) => fc.nat(v.length).map((n) => v.slice(0, n)))), { maxLength: 8 }).map((pieces) => pieces.join('')),
        fc.array(fc.nat(), { maxLength: 6 }),
      ),
    );
    fc.assert(
      fc.property(input, ([values, text, cuts]) => {
        const m = new SecretMasker(values);
        const whole = reference(text, values, true);
        expect(stream(m, split(text, cuts))).toBe(whole);
        expect(stream(m, [...text])).toBe(whole);
        expect(stream(m, [text])).toBe(whole);
        expect(m.mask(text)).toBe(reference(text, values, false));
      }),
      { numRuns: 1000 },
    );
  });
  describe('a value of 60,000 characters', () => {
    // Not periodic: two copies side by side are two occurrences that only touch.
    const long = `${'a'.repeat(59_999)}b`;
    const text = `x${long}${long}y${long.slice(0, 30_000)}z${long.slice(0, 40_000)}`;
    const masked = 'x******y' + long.slice(0, 30_000) + 'z***';

    it('is masked however the output is cut, side by side and cut off by the end', () => {
      expect(stream(new SecretMasker([long]), [text])).toBe(masked);
      for (const size of [1, 7, 4096, 16_384, 65_536]) {
        const chunks = [];
        for (let i = 0; i < text.length; i += size) chunks.push(text.slice(i, i + size));
        expect(stream(new SecretMasker([long]), chunks)).toBe(masked);
      }
      expect(new SecretMasker([long]).mask(text)).toBe(`x******y${long.slice(0, 30_000)}z${long.slice(0, 40_000)}`);
    });

    it('masks overlapping occurrences as one, with a shorter value inside', () => {
      const run = 'a'.repeat(60_000);
      const m = new SecretMasker([run, 'aab']);
      const out = stream(m, [`<${'a'.repeat(100_000)}`, `b>${'a'.repeat(59_999)}>`]);
      expect(out).toBe(`<***>${'a'.repeat(59_999)}>`);
    });

    it('reads each character once: at most two moves of the automaton per character, whatever overlaps', () => {
      // What made the old masker cost the output's length times the value's: every position
      // matches the start of the value, and almost all of it.
      const m = new SecretMasker([long]);
      const chunk = 'a'.repeat(16_384);
      let out = '';
      for (let i = 0; i < 16; i++) out += m.push(chunk);
      out += m.end();
      expect(out).toBe('a'.repeat(16 * 16_384 - 59_999) + MASK);
      expect(m.moves).toBeLessThanOrEqual(2 * 16 * 16_384);
      const run = new SecretMasker(['a'.repeat(60_000)]);
      expect(stream(run, Array.from({ length: 16 }, () => chunk))).toBe(MASK);
      expect(run.moves).toBeLessThanOrEqual(2 * 16 * 16_384);
    });
  });

  it('masks a whole text without disturbing the stream under way', () => {
    const m = new SecretMasker(['hunter2']);
    expect(m.push('pw=hun')).toBe('');
    expect(m.mask('x hunter2 y')).toBe('x *** y');
    expect(m.push('ter2 ok') + m.end()).toBe('pw=*** ok');
  });
});
