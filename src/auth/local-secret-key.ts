// `jarvis up` on the embedded database (a laptop) needs no JARVIS_SECRET_KEY to use secrets: it
// makes a key once, beside the embedded database (`.jarvis/secret.key`, mode 0600), and reads it
// back on every start, so stored secrets still open after a restart. A shared control plane
// (`jarvis server`, or any PostgreSQL server) must be given JARVIS_SECRET_KEY: the key should not
// live beside the data it protects, and every control plane needs the same one.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

export function localSecretKeyPath(dataDir: string): string {
  return join(dirname(resolve(dataDir)), 'secret.key');
}

/** The key in the file, made first if there is none. */
export function loadOrCreateLocalSecretKey(path: string): string {
  if (existsSync(path)) return readFileSync(path, 'utf8').trim();
  mkdirSync(dirname(path), { recursive: true });
  const key = randomBytes(32).toString('base64');
  writeFileSync(path, `${key}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(path, 0o600);
  return key;
}
