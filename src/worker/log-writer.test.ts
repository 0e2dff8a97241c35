import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { LogWriter } from './log-writer.ts';
import { SecretMasker } from './secret-mask.ts';

/** A Redis that keeps what xadd was given: the fields after `a <attempt>`. */
function fakeRedis() {
  const entries: string[][] = [];
  const redis = {
    xadd: (_key: string, _id: string, _a: string, _attempt: string, ...fields: string[]) => {
      entries.push(fields);
      return Promise.resolve('0-1');
    },
  };
  return { redis: redis as unknown as Redis, entries };
}

/** Writes `chunks` through a LogWriter and reads back what the stream holds. */
async function store(chunks: (string | Buffer)[], cap: number, secrets: string[] | null) {
  const { redis, entries } = fakeRedis();
  const writer = new LogWriter(redis, 'log', 1, cap, secrets ? new SecretMasker(secrets) : null);
  for (const c of chunks) writer.write(Buffer.isBuffer(c) ? c : Buffer.from(c));
  await writer.close();
  const logs = entries.filter((f) => f[0] === 'd').map((f) => f[1]).join('');
  expect(entries.at(-1)).toEqual(['end', '1']);
  expect(entries.some((f) => f[0] === 'truncated')).toBe(writer.truncated);
  return { logs, truncated: writer.truncated };
}

describe('LogWriter', () => {
  it('stores output under the cap whole, and cuts what goes past it at a character', async () => {
    expect(await store(['hello ', 'world\n'], 12, null)).toEqual({ logs: 'hello world\n', truncated: false });
    expect(await store(['hello ', 'world\n'], 8, null)).toEqual({ logs: 'hello wo', truncated: true });
    // '€' is 3 bytes: a cap inside it leaves it out.
    expect(await store(['a€b'], 2, null)).toEqual({ logs: 'a', truncated: true });
    const euro = Buffer.from('a€b');
    expect(await store([euro.subarray(0, 2), euro.subarray(2)], 4, null)).toEqual({ logs: 'a€', truncated: true });
  });

  it('never stores the start of a secret that the cap cuts through', async () => {
    const secret = 'hunter2-Very-Secret';
    const text = `pw=${secret} and then some more output\n`;
    const masked = 'pw=*** and then some more output\n';
    for (let cap = 0; cap <= text.length + 1; cap++) {
      for (const chunks of [[text], [...text], [text.slice(0, 10), text.slice(10)]]) {
        const { logs, truncated } = await store(chunks, cap, [secret]);
        // The start of the masked log, never a piece of the value, and never a mask cut short.
        expect(masked.startsWith(logs), `cap ${cap}: ${logs}`).toBe(true);
        expect(logs).not.toMatch(/hun|(^|[^*])\*{1,2}$/);
        expect(truncated).toBe(Buffer.byteLength(masked) > cap);
        expect(logs).toBe(cap >= 6 ? masked.slice(0, cap) : 'pw='.slice(0, cap));
      }
    }
  });

  it('masks a value the end of the output cuts off', async () => {
    expect(await store(['pw=hunter2-V'], 1000, ['hunter2-Very-Secret'])).toEqual({ logs: 'pw=***', truncated: false });
  });

  it('masks a longer value whole when a shorter value inside it comes before a chunk boundary', async () => {
    const secrets = ['postgres://u:hunter2@db/x', 'hunter2'];
    expect(await store(['db=postgres://u:hunter2', '@db/x\n'], 1000, secrets)).toEqual({ logs: 'db=***\n', truncated: false });
  });
});
