import { describe, expect, it } from 'vitest';
import { closeOnce } from './part.ts';
import { closeInOrder } from './shutdown.ts';

const quiet = { warn: () => undefined };

describe('closeInOrder', () => {
  it('closes the parts one after another, gracefully while there is time', async () => {
    const log: string[] = [];
    const part = (name: string) => ({ name, close: async (o: { force?: boolean } = {}) => void log.push(`${name}${o.force ? '!' : ''}`) });
    await closeInOrder([part('http'), part('dispatcher'), part('database')], 1_000, quiet);
    expect(log).toEqual(['http', 'dispatcher', 'database']);
  });

  it('forces the part that outlives the grace period and every one after it', async () => {
    const log: string[] = [];
    const stuck = {
      name: 'stuck',
      close: closeOnce(async (o) => {
        log.push(`stuck${o.force ? '!' : ''}`);
        if (!o.force) await new Promise(() => undefined);
      }),
    };
    const after = { name: 'after', close: async (o: { force?: boolean } = {}) => void log.push(`after${o.force ? '!' : ''}`) };
    const t0 = Date.now();
    await closeInOrder([stuck, after], 50, quiet);
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect(log).toEqual(['stuck', 'stuck!', 'after!']);
  });
});
