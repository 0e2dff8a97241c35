// Reads a request body up to a size limit: a Content-Length over it is refused before a byte is
// read, and a body without one (chunked) is counted as it streams and cut off at the limit, so an
// oversized body is never held whole. The answer is 413 in FastAPI's shape.
import { HttpError } from './errors.ts';

const mib = (n: number) => `${Math.round((n / 1048576) * 10) / 10} MiB`;

export function bodyTooLarge(limit: number): HttpError {
  return new HttpError(413, `Request body too large: the limit is ${limit} bytes (${mib(limit)}); send less per request (split a batch or a workflow)`);
}

/**
 * The body of `c.req` (Hono's request, which caches what it read so validators can read it
 * again), at most `limit` bytes. A streamed body is read here and put back as a new request body.
 */
export async function readBodyLimited(req: { raw: Request; arrayBuffer(): Promise<ArrayBuffer> }, limit: number): Promise<Uint8Array> {
  const declared = req.raw.headers.get('content-length');
  if (declared !== null && /^\d+$/.test(declared)) {
    if (Number(declared) > limit) throw bodyTooLarge(limit);
    return new Uint8Array(await req.arrayBuffer()); // Node's server stops at the declared length
  }
  const bytes = await readStreamLimited(req.raw, limit);
  req.raw = new Request(req.raw, { body: bytes, duplex: 'half' } as RequestInit);
  return bytes;
}

async function readStreamLimited(request: Request, limit: number): Promise<Uint8Array> {
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      throw bodyTooLarge(limit);
    }
    chunks.push(value);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}
