import { expect, it } from 'vitest';
import { CountedSet } from './counted-set.ts';

it('keeps a value added twice until it has been deleted twice', () => {
  const s = new CountedSet<string>();
  s.add('t1');
  s.add('t1'); // taken again from a group job before its first entry ended
  s.delete('t1'); // the first entry ends
  expect(s.has('t1')).toBe(true);
  s.delete('t1');
  expect(s.has('t1')).toBe(false);
  expect(s.size).toBe(0);
});

it('ignores deleting what is not in it', () => {
  const s = new CountedSet<string>();
  s.delete('t1');
  s.add('t1');
  expect(s.has('t1')).toBe(true);
  expect(s.size).toBe(1);
});
