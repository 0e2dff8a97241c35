import { describe, expect, it } from 'vitest';
import { SecretMasker } from './secret-mask.ts';

const stream = (m: SecretMasker, chunks: string[]) => chunks.map((c) => m.push(c)).join('') + m.end();

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
});
