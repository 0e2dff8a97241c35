import { describe, expect, it } from 'vitest';
import { closeOnce } from './part.ts';

describe('closeOnce', () => {
  it('runs the close once, however often it is called', async () => {
    let runs = 0;
    const close = closeOnce(async () => {
      runs++;
    });
    await Promise.all([close(), close(), close()]);
    expect(runs).toBe(1);
  });

  it('a forced close does not wait for a graceful one in flight', async () => {
    const seen: boolean[] = [];
    const close = closeOnce((o) => {
      seen.push(!!o.force);
      return o.force ? Promise.resolve() : new Promise<void>(() => undefined); // graceful never ends
    });
    void close();
    await close({ force: true });
    expect(seen).toEqual([false, true]);
  });
});
