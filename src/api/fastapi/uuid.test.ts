// UUIDs as pydantic reads them, with the uuid crate's messages.
import { describe, expect, it } from 'vitest';
import { uuidError, uuidParsing } from './uuid.ts';

const ID = '3fa85f64-5717-4562-b3fc-2c963f66afa6';

describe('uuidError', () => {
  it('accepts every form pydantic takes', () => {
    for (const v of [ID, ID.toUpperCase(), ID.replaceAll('-', ''), `{${ID}}`, `urn:uuid:${ID}`, '00000000-0000-0000-0000-000000000000']) expect(uuidError(v), v).toBeUndefined();
  });
  const cases: [string, string][] = [
    ['nope', 'invalid character: expected an optional prefix of `urn:uuid:` followed by [0-9a-fA-F-], found `n` at 1'],
    ['123', 'invalid length: expected length 32 for simple format, found 3'],
    [ID.slice(0, -1), 'invalid group length in group 4: expected 12, found 11'],
    ['3fa85f64-5717-4562-b3fc', 'invalid group count: expected 5, found 4'],
    ['3fa85f6-45717-4562-b3fc-2c963f66afa6', 'invalid group length in group 0: expected 8, found 7'],
    ['é', 'invalid character: expected an optional prefix of `urn:uuid:` followed by [0-9a-fA-F-], found `é` at 1'],
    ['', 'invalid length: expected length 32 for simple format, found 0'],
  ];
  for (const [value, error] of cases) it(`${JSON.stringify(value)}: ${error}`, () => expect(uuidError(value)).toBe(error));
  it('builds the uuid_parsing item body', () =>
    expect(uuidParsing('123')).toStrictEqual({ type: 'uuid_parsing', msg: 'Input should be a valid UUID, invalid length: expected length 32 for simple format, found 3', ctx: { error: 'invalid length: expected length 32 for simple format, found 3' } }));
});
