// The dashboard's sign-in sessions, kept in the control plane's Redis so that every API process
// (--processes N) knows every session. The browser holds only the session id (32 random bytes);
// the record is stored under the id's SHA-256 and holds the API key encrypted (AES-256-GCM) under
// a key derived from the id (HKDF-SHA256): reading Redis gives no key, and the cookie gives
// nothing once its record is gone (signed out, idle too long, past its maximum age).
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { ROLES, type Role } from '../auth/keys.ts';

/** A session id as the cookie carries it: 32 random bytes, base64url. */
export const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

const HKDF_SALT = Buffer.from('jarvis dashboard session');
const HKDF_INFO = Buffer.from('api key, AES-256-GCM, v1');
/** The idle TTL is pushed on at most this often per session (a page's live refreshes would otherwise write every few seconds). */
const REFRESH_EVERY_MS = 60_000;

/** Who signed in: kept in the record as the audit names a key (no secret), for the sign-out's record. */
export interface SessionOwner {
  keyId: string | null;
  name: string;
  tenant: string;
  role: Role;
}

export interface SessionLimits {
  /** Unused for this long, a session ends. */
  idleMs: number;
  /** This long after its sign-in, a session ends however much it is used. */
  maxMs: number;
}

const SessionRecord = z.object({
  v: z.literal(1),
  /** base64url of iv (12 bytes) ‖ tag (16 bytes) ‖ the encrypted API key. */
  box: z.string(),
  created: z.number(),
  seen: z.number(),
  key_id: z.string().nullable(),
  key_name: z.string(),
  tenant: z.string(),
  role: z.enum(ROLES),
});
type SessionRecord = z.infer<typeof SessionRecord>;

export interface OpenSession {
  apiKey: string;
  owner: SessionOwner;
}

export class DashboardSessions {
  private readonly refreshEveryMs: number;

  constructor(
    private readonly redis: Redis,
    /** The Redis key of the record of a session id's hash (RedisNames.uiSession). */
    private readonly recordKey: (idHash: string) => string,
    private readonly limits: SessionLimits,
  ) {
    // A short idle TTL (a test's) is still pushed on before it runs out.
    this.refreshEveryMs = Math.min(REFRESH_EVERY_MS, Math.floor(limits.idleMs / 4));
  }

  /** The cookie's Max-Age: the session's absolute end. */
  get maxAgeSeconds(): number {
    return Math.floor(this.limits.maxMs / 1000);
  }

  /** Starts a session for a key just checked; returns its id, for the cookie only. */
  async open(apiKey: string, owner: SessionOwner): Promise<string> {
    const id = randomBytes(32);
    const hash = hashOf(id);
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', keyOf(id), iv);
    cipher.setAAD(Buffer.from(hash));
    const sealed = Buffer.concat([cipher.update(apiKey, 'utf8'), cipher.final()]);
    const now = Date.now();
    const record: SessionRecord = {
      v: 1,
      box: Buffer.concat([iv, cipher.getAuthTag(), sealed]).toString('base64url'),
      created: now,
      seen: now,
      key_id: owner.keyId,
      key_name: owner.name,
      tenant: owner.tenant,
      role: owner.role,
    };
    await this.redis.set(this.recordKey(hash), JSON.stringify(record), 'PX', Math.min(this.limits.idleMs, this.limits.maxMs), 'NX');
    return id.toString('base64url');
  }

  /** The session's key and owner, or null when it has ended (or never was); pushes its idle end on. */
  async read(sessionId: string): Promise<OpenSession | null> {
    if (!SESSION_ID.test(sessionId)) return null;
    const id = Buffer.from(sessionId, 'base64url');
    const hash = hashOf(id);
    const raw = await this.redis.get(this.recordKey(hash));
    const record = raw === null ? null : parseRecord(raw);
    if (!record) return null;
    const now = Date.now();
    const end = record.created + this.limits.maxMs;
    if (now >= end) {
      await this.redis.del(this.recordKey(hash));
      return null;
    }
    const apiKey = unseal(id, hash, record.box);
    if (apiKey === null) return null;
    if (now - record.seen >= this.refreshEveryMs) {
      // XX: a session signed out meanwhile is not brought back.
      await this.redis.set(this.recordKey(hash), JSON.stringify({ ...record, seen: now }), 'PX', Math.max(1, Math.min(this.limits.idleMs, end - now)), 'XX');
    }
    return { apiKey, owner: ownerOf(record) };
  }

  /**
   * Whether the session is still open, without pushing its idle end on: what a live log stream
   * checks every second (a stream alone does not keep a session alive; its page's refreshes do).
   */
  async isOpen(sessionId: string): Promise<boolean> {
    if (!SESSION_ID.test(sessionId)) return false;
    return (await this.redis.exists(this.recordKey(hashOf(Buffer.from(sessionId, 'base64url'))))) === 1;
  }

  /** Ends a session (Sign out, or its key refused); returns who held it, or null if it had ended. */
  async end(sessionId: string): Promise<SessionOwner | null> {
    if (!SESSION_ID.test(sessionId)) return null;
    const key = this.recordKey(hashOf(Buffer.from(sessionId, 'base64url')));
    const done = await this.redis.multi().get(key).del(key).exec();
    const raw = (done?.[0]?.[1] as string | null | undefined) ?? null;
    const record = raw === null ? null : parseRecord(raw);
    return record ? ownerOf(record) : null;
  }
}

function hashOf(id: Buffer): string {
  return createHash('sha256').update(id).digest('hex');
}

function keyOf(id: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', id, HKDF_SALT, HKDF_INFO, 32));
}

function unseal(id: Buffer, hash: string, box: string): string | null {
  const bytes = Buffer.from(box, 'base64url');
  if (bytes.length < 29) return null;
  try {
    const decipher = createDecipheriv('aes-256-gcm', keyOf(id), bytes.subarray(0, 12));
    decipher.setAAD(Buffer.from(hash));
    decipher.setAuthTag(bytes.subarray(12, 28));
    return Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]).toString('utf8');
  } catch {
    // Not sealed under this id (a record written by hand): no session.
    return null;
  }
}

function parseRecord(raw: string): SessionRecord | null {
  try {
    const parsed = SessionRecord.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

function ownerOf(r: SessionRecord): SessionOwner {
  return { keyId: r.key_id, name: r.key_name, tenant: r.tenant, role: r.role };
}
