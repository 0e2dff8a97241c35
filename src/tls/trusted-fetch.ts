// `fetch` for talking to a control plane served over HTTPS with a certificate from a private CA
// (JARVIS_CA_FILE). Node's own fetch trusts only the system's CAs and takes no CA option without
// the undici package, so HTTPS requests go through node:https with an Agent trusting the CA (as
// well as the system's), and the answer comes back as a standard Response. Plain HTTP, and HTTPS
// without a CA file, use the global fetch unchanged.
import { Agent, request } from 'node:https';
import { rootCertificates } from 'node:tls';
import { Readable } from 'node:stream';
import type { IncomingHttpHeaders } from 'node:http';
import { ConfigError } from '../config/index.ts';
import { readPemFile } from './server-tls.ts';

export type Fetch = typeof fetch;

/** Words added to a certificate error, saying what to do. */
const CERT_ERROR = /certificate|self[- ]signed|unable to verify|altnames|CERT_|DEPTH_ZERO/i;
export const CA_ADVICE = 'the server certificate is not trusted: set JARVIS_CA_FILE to the PEM file of the CA that signed it';

/** The CA in the file JARVIS_CA_FILE (or worker.ca_file) names, read once; null when none is given. */
export function loadCa(path: string | null | undefined): string | null {
  if (!path) return null;
  const pem = readPemFile(path, 'the CA file', 'JARVIS_CA_FILE');
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new ConfigError(`the CA file (JARVIS_CA_FILE) ${path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  }
  return pem;
}

function toHeaders(raw: IncomingHttpHeaders): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(raw)) {
    if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    else if (value !== undefined) headers.set(name, value);
  }
  return headers;
}

/** Whether a failed request failed on the server's certificate (untrusted, expired, wrong name). */
export function isCertificateError(err: unknown): boolean {
  const e = ((err as { cause?: unknown })?.cause ?? err) as NodeJS.ErrnoException;
  return CERT_ERROR.test(`${e?.message ?? ''} ${e?.code ?? ''}`);
}

/** A failed request in words: "fetch failed: <the socket's or TLS's reason>[ (what to do)]". */
function fetchFailed(err: unknown): unknown {
  const name = (err as Error)?.name;
  if (name === 'AbortError' || name === 'TimeoutError') return err;
  const cause = ((err as { cause?: unknown })?.cause ?? err) as Error;
  if (String((err as Error)?.message).startsWith('fetch failed: ')) return err;
  const advice = isCertificateError(cause) ? ` (${CA_ADVICE})` : '';
  return new TypeError(`fetch failed: ${cause?.message ?? String(cause)}${advice}`, { cause });
}

/** The reason of a failed request without the "fetch failed: " prefix. */
export function fetchErrorText(err: unknown): string {
  return String((fetchFailed(err) as Error).message).replace(/^fetch failed: /, '');
}

function bodyOf(init: RequestInit): string | Buffer | undefined {
  const b = init.body;
  if (b == null) return undefined;
  if (typeof b === 'string') return b;
  if (b instanceof ArrayBuffer || ArrayBuffer.isView(b)) return Buffer.from(b as ArrayBuffer);
  throw new TypeError('trusted fetch sends string or byte bodies only');
}

/**
 * A fetch trusting `ca` (and the system's CAs) for https: URLs; otherwise the global fetch. Either
 * way a failed request says why (the global fetch says only "fetch failed").
 */
export function trustingFetch(ca: string | null): Fetch {
  const agent = ca ? new Agent({ ca: [...rootCertificates, ca], keepAlive: true }) : null;
  return (async (input: string | URL | Request, init: RequestInit = {}) => {
    const url = new URL(input instanceof Request ? input.url : input);
    try {
      if (!agent || url.protocol !== 'https:') return await globalThis.fetch(input, init);
      return await httpsFetch(url, init, agent);
    } catch (err) {
      throw fetchFailed(err);
    }
  }) as Fetch;
}

function httpsFetch(url: URL, init: RequestInit, agent: Agent): Promise<Response> {
  const method = (init.method ?? 'GET').toUpperCase();
  const headers = Object.fromEntries(new Headers(init.headers).entries());
  const body = bodyOf(init);
  return new Promise<Response>((resolve, reject) => {
    const req = request(url, { method, headers, agent, signal: init.signal ?? undefined }, (res) => {
      const status = res.statusCode ?? 502;
      const empty = method === 'HEAD' || status === 204 || status === 304;
      if (empty) res.resume();
      const stream = empty ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>);
      resolve(new Response(stream, { status, statusText: res.statusMessage, headers: toHeaders(res.headers) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
