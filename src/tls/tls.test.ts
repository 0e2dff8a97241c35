// HTTPS plumbing with certificates made here by openssl: the server's files checked at start,
// and a fetch that trusts a private CA (and only then) against a real node:https server.
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCerts, type TestCerts } from '../../test/support/certs.ts';
import { ConfigError, loadConfig } from '../config/index.ts';
import { loadServerTls, localApiUrl, localWorkerSettings } from './server-tls.ts';
import { fetchErrorText, isCertificateError, loadCa, trustingFetch } from './trusted-fetch.ts';

let certs: TestCerts;
let server: Server;
let base: string;

beforeAll(async () => {
  certs = makeCerts();
  server = createServer({ cert: readFileSync(certs.cert), key: readFileSync(certs.key) }, (req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      if (req.url === '/stream') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: one\n\n');
        setTimeout(() => res.end('data: two\n\n'), 100);
        return;
      }
      if (req.url === '/empty') return void res.writeHead(204).end();
      res.writeHead(201, { 'content-type': 'application/json', 'x-multi': ['a', 'b'] });
      res.end(JSON.stringify({ method: req.method, body, auth: req.headers.authorization ?? null }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('loadServerTls', () => {
  const tls = (cert: string | null, key: string | null) => ({ cert, key });

  it('is null for plain HTTP and reads a fitting certificate and key', () => {
    expect(loadServerTls(tls(null, null))).toBeNull();
    const loaded = loadServerTls(tls(certs.cert, certs.key));
    expect(loaded?.cert).toContain('BEGIN CERTIFICATE');
    expect(loaded?.key).toContain('PRIVATE KEY');
  });

  it('names the setting, variable and file that is missing, unreadable, not a certificate, or not the key', () => {
    expect(() => loadServerTls(tls(certs.cert, null))).toThrow(/HTTPS needs both a certificate and its private key: server\.tls\.key \(JARVIS_TLS_KEY\) is not set/);
    expect(() => loadServerTls(tls(null, certs.key))).toThrow(/server\.tls\.cert \(JARVIS_TLS_CERT\) is not set/);
    expect(() => loadServerTls(tls('/nonexistent/cert.pem', certs.key))).toThrow(
      /cannot read server\.tls\.cert \(JARVIS_TLS_CERT\) \/nonexistent\/cert\.pem: ENOENT.*PEM file this user can read/,
    );
    expect(() => loadServerTls(tls(certs.cert, '/nonexistent/key.pem'))).toThrow(/cannot read server\.tls\.key \(JARVIS_TLS_KEY\) \/nonexistent\/key\.pem/);
    expect(() => loadServerTls(tls(certs.key, certs.key))).toThrow(/server\.tls\.cert \(JARVIS_TLS_CERT\) .* is not a PEM certificate/);
    expect(() => loadServerTls(tls(certs.cert, certs.caKey))).toThrow(ConfigError);
    expect(() => loadServerTls(tls(certs.cert, certs.caKey))).toThrow(/server\.tls\.key \(JARVIS_TLS_KEY\) .*ca\.key does not fit server\.tls\.cert/);
  });

  it('takes its files from JARVIS_TLS_CERT / JARVIS_TLS_KEY', () => {
    const c = loadConfig({ env: { JARVIS_TLS_CERT: certs.cert, JARVIS_TLS_KEY: certs.key, JARVIS_CA_FILE: certs.ca } });
    expect(c.server.tls).toEqual({ cert: certs.cert, key: certs.key });
    expect(c.worker.ca_file).toBe(certs.ca);
  });
});

describe("jarvis up's own worker over HTTPS", () => {
  it('connects by the loopback name the certificate holds', () => {
    const pem = readFileSync(certs.cert, 'utf8');
    expect(localApiUrl('https://0.0.0.0:8443', pem)).toBe('https://127.0.0.1:8443');
    expect(localApiUrl('https://jarvis.example:8443', pem)).toBe('https://jarvis.example:8443');
    const onlyLocalhost = makeCerts(['DNS:localhost']);
    expect(localApiUrl('https://127.0.0.1:8443', readFileSync(onlyLocalhost.cert, 'utf8'))).toBe('https://localhost:8443');
    const elsewhere = makeCerts(['DNS:jarvis.example']);
    expect(() => localApiUrl('https://127.0.0.1:8443', readFileSync(elsewhere.cert, 'utf8'))).toThrow(
      /server\.tls\.cert names neither 127\.0\.0\.1 nor localhost \(it names DNS:jarvis\.example\).*subjectAltName "IP:127\.0\.0\.1"/,
    );
  });

  it('trusts JARVIS_CA_FILE, or else the server certificate itself', () => {
    const config = loadConfig({ env: { JARVIS_TLS_CERT: certs.cert, JARVIS_TLS_KEY: certs.key } });
    expect(localWorkerSettings(config, 'https://0.0.0.0:1')).toEqual({ api_url: 'https://127.0.0.1:1', ca_file: certs.cert });
    expect(localWorkerSettings({ ...config, worker: { ...config.worker, ca_file: certs.ca } }, 'https://127.0.0.1:1').ca_file).toBe(certs.ca);
    const plain = loadConfig({ env: {} });
    expect(localWorkerSettings(plain, 'http://0.0.0.0:8000')).toEqual({ api_url: 'http://127.0.0.1:8000', ca_file: null });
  });
});

describe('trustingFetch', () => {
  it('with the CA: requests, bodies, headers, streams and empty answers work as with fetch', async () => {
    const f = trustingFetch(loadCa(certs.ca));
    const res = await f(`${base}/echo`, { method: 'POST', headers: { authorization: 'Bearer k', 'content-type': 'application/json' }, body: '{"a":1}' });
    expect(res.status).toBe(201);
    expect(res.ok).toBe(true);
    expect(res.headers.get('x-multi')).toBe('a, b');
    expect(await res.json()).toEqual({ method: 'POST', body: '{"a":1}', auth: 'Bearer k' });
    const stream = await f(new URL('/stream', base), { headers: { accept: 'text/event-stream' } });
    const chunks: string[] = [];
    for await (const c of stream.body!) chunks.push(Buffer.from(c as Uint8Array).toString());
    expect(chunks.join('')).toBe('data: one\n\ndata: two\n\n');
    const empty = await f(`${base}/empty`);
    expect(empty.status).toBe(204);
    expect(empty.body).toBeNull();
  });

  it('without the CA: refused, saying which file to give', async () => {
    for (const f of [trustingFetch(null), globalThis.fetch]) {
      const err = await f(`${base}/echo`).then(() => null, (e: unknown) => e);
      expect(err).not.toBeNull();
      expect(isCertificateError(err)).toBe(true);
    }
    const err = await trustingFetch(null)(`${base}/echo`).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/^fetch failed: .*certificate.* \(the server certificate is not trusted: set JARVIS_CA_FILE/);
    expect(fetchErrorText(err)).not.toMatch(/^fetch failed/);
  });

  it('keeps the reason of other failures, and honours an abort signal', async () => {
    const f = trustingFetch(loadCa(certs.ca));
    const refused = await f('https://127.0.0.1:1/').catch((e: Error) => e);
    expect((refused as Error).message).toMatch(/^fetch failed: connect ECONNREFUSED 127\.0\.0\.1:1$/);
    expect(isCertificateError(refused)).toBe(false);
    const aborted = await f(`${base}/stream`, { signal: AbortSignal.abort() }).catch((e: Error) => e);
    expect((aborted as Error).name).toBe('AbortError');
  });

  it('names an unreadable or empty CA file', () => {
    expect(() => loadCa('/nonexistent/ca.pem')).toThrow(/cannot read the CA file \(JARVIS_CA_FILE\) \/nonexistent\/ca\.pem: ENOENT/);
    const notPem = join(certs.dir, 'not.pem');
    writeFileSync(notPem, 'hello');
    expect(() => loadCa(notPem)).toThrow(/the CA file \(JARVIS_CA_FILE\) .*not\.pem holds no PEM certificate/);
    expect(loadCa(null)).toBeNull();
  });
});
