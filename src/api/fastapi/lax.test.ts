import { describe, expect, it } from 'vitest';
import { z } from '@hono/zod-openapi';
import { laxFloat, laxInt } from './lax.ts';

describe('lax mode', () => {
  const int = laxInt(z.number().int());
  const float = laxFloat(z.number());

  it('reads what pydantic reads as an int', () => {
    for (const [input, want] of [[60, 60], [60.0, 60], ['60', 60], [' 60 ', 60], ['60.0', 60], ['1_000', 1000], [true, 1], [false, 0]] as const) {
      expect(int.safeParse(input).data, JSON.stringify(input)).toBe(want);
    }
  });

  it('leaves what pydantic refuses as an int to fail', () => {
    for (const input of ['60.5', 'abc', '', '0x10', '1e3', 60.5, null, [], {}]) expect(int.safeParse(input).success, JSON.stringify(input)).toBe(false);
  });

  it('reads what pydantic reads as a float, but no non-finite number', () => {
    for (const [input, want] of [['1.5', 1.5], [' 1e3 ', 1000], [2, 2], [true, 1]] as const) expect(float.safeParse(input).data).toBe(want);
    for (const input of ['inf', 'nan', 'abc', '']) expect(float.safeParse(input).success, input).toBe(false);
  });
});
