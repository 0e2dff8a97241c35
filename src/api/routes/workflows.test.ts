// If-None-Match as GET /workflows/{id} reads it: every tag, compared weakly (RFC 9110 13.1.2).
import { expect, it } from 'vitest';
import { entityTags } from './workflows.ts';

it('reads the tags of an If-None-Match header as weak tags, or *', () => {
  expect(entityTags(undefined)).toEqual([]);
  expect(entityTags('')).toEqual([]);
  expect(entityTags(' * ')).toEqual(['*']);
  expect(entityTags('W/"abc"')).toEqual(['W/"abc"']);
  expect(entityTags('"abc"')).toEqual(['W/"abc"']);
  expect(entityTags('W/"a", "b",W/"c-d_e"')).toEqual(['W/"a"', 'W/"b"', 'W/"c-d_e"']);
  expect(entityTags('abc')).toEqual([]);
});
