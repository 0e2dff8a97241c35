// HTTPS for the control plane: the certificate and key of server.tls, read and checked at start
// so that a missing, unreadable or mismatched file stops `jarvis server` / `jarvis up` at once
// with the file and the setting named, instead of failing on the first client's handshake.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { ConfigError, type Config } from '../config/index.ts';

export interface ServerTls {
  cert: string;
  key: string;
}

/** Reads a PEM file given by a setting; the error names the setting, its variable and the file. */
export function readPemFile(path: string, setting: string, variable: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(
      `cannot read ${setting} (${variable}) ${path}: ${(err as Error).message}. Give the path of a PEM file this user can read.`,
    );
  }
}

/** The server's certificate and key, or null for plain HTTP (neither set). */
export function loadServerTls(tls: Config['server']['tls']): ServerTls | null {
  if (!tls.cert && !tls.key) return null;
  if (!tls.cert || !tls.key) {
    const missing = tls.cert ? 'server.tls.key (JARVIS_TLS_KEY)' : 'server.tls.cert (JARVIS_TLS_CERT)';
    throw new ConfigError(`HTTPS needs both a certificate and its private key: ${missing} is not set`);
  }
  const cert = readPemFile(tls.cert, 'server.tls.cert', 'JARVIS_TLS_CERT');
  const key = readPemFile(tls.key, 'server.tls.key', 'JARVIS_TLS_KEY');
  try {
    new X509Certificate(cert);
  } catch (err) {
    throw new ConfigError(`server.tls.cert (JARVIS_TLS_CERT) ${tls.cert} is not a PEM certificate: ${(err as Error).message}`);
  }
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw new ConfigError(
      `server.tls.key (JARVIS_TLS_KEY) ${tls.key} does not fit server.tls.cert ${tls.cert} (${(err as Error).message}): ` +
        'give the private key of that certificate, in PEM, without a passphrase',
    );
  }
  return { cert, key };
}

const LOOPBACK_OR_ANY = new Set(['0.0.0.0', '::', '[::]', '127.0.0.1', '::1', '[::1]', 'localhost']);

/**
 * The URL `jarvis up`'s own worker uses to reach its control plane over HTTPS: on this machine,
 * by the loopback name the certificate holds (127.0.0.1 or localhost), so that its name checks.
 */
export function localApiUrl(serverUrl: string, certPem: string): string {
  const url = new URL(serverUrl);
  if (!LOOPBACK_OR_ANY.has(url.hostname)) return serverUrl;
  const cert = new X509Certificate(certPem);
  if (cert.checkIP('127.0.0.1')) url.hostname = '127.0.0.1';
  else if (cert.checkHost('localhost')) url.hostname = 'localhost';
  else {
    throw new ConfigError(
      `server.tls.cert names neither 127.0.0.1 nor localhost (it names ${cert.subjectAltName ?? cert.subject}), so the worker ` +
        '`jarvis up` starts cannot verify it: add subjectAltName "IP:127.0.0.1" to the certificate, or run `jarvis server` and ' +
        '`jarvis worker --api-url https://NAME:PORT` separately',
    );
  }
  return url.toString().replace(/\/$/, '');
}

/**
 * The worker settings of `jarvis up`'s own worker: the control plane's URL on this machine and,
 * over HTTPS without a CA file, trust in the server's own certificate file.
 */
export function localWorkerSettings(config: Config, serverUrl: string): Pick<Config['worker'], 'api_url' | 'ca_file'> {
  const certPath = config.server.tls.cert;
  if (!certPath) return { api_url: serverUrl.replace('0.0.0.0', '127.0.0.1'), ca_file: config.worker.ca_file };
  const pem = readPemFile(certPath, 'server.tls.cert', 'JARVIS_TLS_CERT');
  return { api_url: localApiUrl(serverUrl, pem), ca_file: config.worker.ca_file ?? certPath };
}
