import { describe, expect, it } from 'vitest';
import { readBodyLimited } from './body-limit.ts';
import { HttpError } from './errors.ts';

const streamOf = (chunks: number[]) =>
  new ReadableStream<Uint8Array>({
    start(ctrl) {
      for (const n of chunks) ctrl.enqueue(new Uint8Array(n));
      ctrl.close();
    },
  });

describe('readBodyLimited', () => {
  const hono = (raw: Request) => ({ raw, arrayBuffer: () => raw.arrayBuffer() });

  it('refuses a declared Content-Length over the limit without reading', async () => {
    // A body that never ends: reading it would hang the test.
    const body = new ReadableStream({ start() {} });
    const req = new Request('http://x/', { method: 'POST', body, headers: { 'content-length': '2000' }, duplex: 'half' } as RequestInit);
    await expect(readBodyLimited(hono(req), 1000)).rejects.toMatchObject({ status: 413 });
  });

  it('cuts a streamed body off at the limit with 413 naming it', async () => {
    const req = new Request('http://x/', { method: 'POST', body: streamOf([600, 600]), duplex: 'half' } as RequestInit);
    const err = await readBodyLimited(hono(req), 1000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpError);
    expect((err as HttpError).detail).toMatch(/^Request body too large: the limit is 1000 bytes/);
  });

  it('returns a streamed body within the limit whole, and leaves it readable again', async () => {
    const req = hono(new Request('http://x/', { method: 'POST', body: streamOf([400, 600]), duplex: 'half' } as RequestInit));
    expect((await readBodyLimited(req, 1000)).byteLength).toBe(1000);
    expect((await req.raw.arrayBuffer()).byteLength).toBe(1000);
  });
});
