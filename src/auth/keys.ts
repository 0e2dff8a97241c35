// API keys: 256 random bits, shown once, stored only as a SHA-256 hash. A key has that much
// entropy, so a fast hash is as safe as a slow one here (nothing to brute-force) and costs
// microseconds per request; see docs/security.md.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const ROLES = ['admin', 'operator', 'submitter', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

export const KEY_PREFIX = 'jvk_';

/** A new key: `jvk_` and 43 URL-safe characters. */
export function generateKey(): string {
  return KEY_PREFIX + randomBytes(32).toString('base64url');
}

/** The shape of a key generateKey made (the only keys the database holds). */
export const GENERATED_KEY = /^jvk_[A-Za-z0-9_-]{43}$/;

export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** The key from an `Authorization: Bearer KEY` header, or null. */
export function bearerToken(header: string | undefined | null): string | null {
  if (!header) return null;
  const m = /^Bearer[ \t]+([^\s]{1,512})[ \t]*$/i.exec(header);
  return m ? m[1] : null;
}

/** Whether two secrets (tokens, keys) are equal, in time that does not depend on where they differ. */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export const TENANT_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;
