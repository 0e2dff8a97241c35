// Query parameters parsed as pydantic parses them.
import { z } from '@hono/zod-openapi';
import { describe, expect, it } from 'vitest';
import { queryBool, queryInt } from './query-params.ts';

describe('queryInt', () => {
  const limit = queryInt(z.int().gte(1).lte(500)).default(50);
  it('takes what pydantic takes for an int', () => {
    expect(['7', ' 8 ', '1_0', '9.0'].map((v) => limit.parse(v))).toStrictEqual([7, 8, 10, 9]);
    expect(limit.parse(undefined)).toBe(50);
  });
  it('refuses what pydantic refuses, and bounds apply', () => {
    for (const v of ['', '1e2', '0x10', '1.5', 'ten', '0', '501']) expect(limit.safeParse(v).success, v).toBe(false);
  });
});

describe('queryBool', () => {
  const follow = queryBool().default(false);
  it('takes true/false, 1/0, yes/no, on/off, t/f, y/n in any case', () => {
    expect(['true', 'YES', 'on', '1', 't', 'y'].map((v) => follow.parse(v))).toStrictEqual([true, true, true, true, true, true]);
    expect(['False', 'no', 'off', '0', 'f', 'n'].map((v) => follow.parse(v))).toStrictEqual([false, false, false, false, false, false]);
  });
  it('refuses anything else', () => expect(follow.safeParse('maybe').success).toBe(false));
});
