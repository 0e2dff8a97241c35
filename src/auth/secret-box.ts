// Seals secret values with AES-256-GCM under the key from JARVIS_SECRET_KEY. Each value gets a
// fresh 96-bit IV; the tenant and name are bound in as associated data, so a sealed value copied
// to another name or tenant fails to open instead of leaking.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

export class SecretKeyError extends Error {
  override name = 'SecretKeyError';
}

const HOW = 'JARVIS_SECRET_KEY must be 32 random bytes, base64 or hex encoded (make one with: openssl rand -base64 32)';

/** Parses JARVIS_SECRET_KEY: 32 bytes as 64 hex characters or base64. */
export function parseSecretKey(raw: string): Buffer {
  const s = raw.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(s) ? Buffer.from(s, 'hex') : Buffer.from(s, 'base64');
  if (key.length !== 32) throw new SecretKeyError(`${HOW}; the value given decodes to ${key.length} bytes`);
  return key;
}

export class SecretBox {
  constructor(private readonly key: Buffer) {}

  seal(value: string, context: string): string {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.key, iv);
    c.setAAD(Buffer.from(context));
    const ct = Buffer.concat([c.update(value, 'utf8'), c.final()]);
    return `v1.${Buffer.concat([iv, c.getAuthTag(), ct]).toString('base64')}`;
  }

  open(sealed: string, context: string): string {
    if (!sealed.startsWith('v1.')) throw new SecretKeyError('unknown sealed-secret format');
    const raw = Buffer.from(sealed.slice(3), 'base64');
    const d = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
    d.setAAD(Buffer.from(context));
    d.setAuthTag(raw.subarray(12, 28));
    try {
      return Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString('utf8');
    } catch {
      throw new SecretKeyError('a stored secret cannot be opened with this JARVIS_SECRET_KEY (was it changed?)');
    }
  }
}
