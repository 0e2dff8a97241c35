// The authenticator against a real PostgreSQL: open mode ends when the first key exists, even
// while its cached "open" answer has not expired yet (the key made by `jarvis keys create`, on
// the database, behind a running server's back), and a request with that key is the key's, not
// an anonymous admin's.
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '../../test/support/database.ts';
import { createApiKey } from '../control/keys.ts';
import { KeyStore } from '../state/key-store.ts';
import { Authenticator } from './authenticator.ts';
import { OPEN_MODE } from './principal.ts';

const database = useTestDatabase();

describe('open mode and the first key', () => {
  it('is over for a request with a key that exists, and for every request after it', async () => {
    const store = new KeyStore(database().db);
    // A long cache makes the window the cache leaves certain (it is 500 ms in the server).
    const auth = new Authenticator(store, { adminKey: null, openModeAllowed: true, cacheMs: 60_000 });
    expect(await auth.authenticate(null)).toEqual({ ok: true, principal: OPEN_MODE });
    const { key } = await createApiKey(store, { name: 'first', role: 'admin', tenant: 'default', rateLimitPerS: null });
    // Before, both were open mode until the cached answer expired: the keyed request was
    // recorded as "open mode", and one without a key was an admin's.
    const keyed = await auth.authenticate(key);
    expect(keyed).toMatchObject({ ok: true, principal: { name: 'first', role: 'admin', tenant: 'default' } });
    expect(await auth.authenticate(null)).toEqual({ ok: false });
    // A key that does not exist changes nothing while open mode lasts (none here: it is over).
    expect(await auth.authenticate('jvk_not-a-key')).toEqual({ ok: false });
  });

  it('forgets a revoked key at once in the process that revoked it', async () => {
    const store = new KeyStore(database().db);
    const auth = new Authenticator(store, { adminKey: null, openModeAllowed: false, cacheMs: 60_000 });
    const { row, key } = await createApiKey(store, { name: 'gone', role: 'viewer', tenant: 'default', rateLimitPerS: null });
    expect((await auth.authenticate(key)).ok).toBe(true);
    expect(await store.revoke(row.id)).toBe(true);
    expect((await auth.authenticate(key)).ok).toBe(true); // cached, as in any other process
    auth.keysChanged();
    expect(await auth.authenticate(key)).toEqual({ ok: false });
  });
});

/** The key store, and one whose findActiveByHashes counts its statements (reads()). */
function countedStore() {
  const store = new KeyStore(database().db);
  let n = 0;
  const counted = Object.assign(Object.create(store) as KeyStore, {
    findActiveByHashes: (hashes: string[]) => {
      n++;
      return store.findActiveByHashes(hashes);
    },
  });
  return { store, counted, reads: () => n };
}

describe('lookups of keys at once', () => {
  it('share one read of the database, and a revocation here is not undone by a read begun before it', async () => {
    const { store, counted, reads } = countedStore();
    const auth = new Authenticator(counted, { adminKey: null, openModeAllowed: false });
    const { row, key } = await createApiKey(store, { name: 'busy', role: 'viewer', tenant: 'default', rateLimitPerS: null });
    // The open log streams of one key ask together at each pass (log-follows.ts): 50 reads before.
    const answers = await Promise.all(Array.from({ length: 50 }, () => auth.authenticate(key)));
    expect(answers.every((a) => a.ok && a.principal.name === 'busy')).toBe(true);
    expect(reads()).toBe(1);
    // Unknown keys alike.
    const misses = await Promise.all(Array.from({ length: 20 }, (_, i) => auth.authenticate(`jvk_${String(i % 2).padStart(43, 'm')}`)));
    expect(misses.every((a) => !a.ok)).toBe(true);
    expect(reads()).toBe(2);
    // And many keys at once (the quiet log streams of many keys, each second): one statement for
    // them all, each answered with its own; before, one read per key (40 here).
    const many = await Promise.all(Array.from({ length: 30 }, (_, i) => createApiKey(store, { name: `many-${i}`, role: 'viewer', tenant: 'default', rateLimitPerS: null })));
    const unknown = Array.from({ length: 10 }, (_, i) => `jvk_${String(i).padStart(43, 'u')}`);
    const together = await Promise.all([...many.map((m) => m.key), ...unknown].map((k) => auth.authenticate(k)));
    expect(together.slice(0, 30).map((a) => a.ok && a.principal.name)).toEqual(many.map((m) => m.row.name));
    expect(together.slice(30).every((a) => !a.ok)).toBe(true);
    expect(reads()).toBe(3);

    // Revoked here while a read of the key is under way: the read's answer is not kept for later.
    let read!: () => void;
    const wasRead = new Promise<void>((r) => (read = r));
    let answer!: () => void;
    const answered = new Promise<void>((r) => (answer = r));
    const slow = Object.assign(Object.create(store) as KeyStore, {
      findActiveByHashes: async (hashes: string[]) => {
        const found = await store.findActiveByHashes(hashes);
        read();
        await answered;
        return found;
      },
    });
    const gone = new Authenticator(slow, { adminKey: null, openModeAllowed: false, cacheMs: 60_000 });
    const before = gone.authenticate(key);
    await wasRead;
    expect(await store.revoke(row.id)).toBe(true);
    gone.keysChanged();
    answer();
    expect((await before).ok).toBe(true); // asked before the revocation
    expect(await gone.authenticate(key)).toEqual({ ok: false });
  });
});

describe('a key shown from a held-off address', () => {
  it('is looked up only when no guess finds it, and a flood of guesses is read one statement at a time', async () => {
    const { store, counted, reads } = countedStore();
    const weak = new Authenticator(counted, { adminKey: 'short-admin-key', openModeAllowed: false });
    const { key } = await createApiKey(store, { name: 'real', role: 'submitter', tenant: 't1', rateLimitPerS: null });
    // JARVIS_ADMIN_KEY could be guessed, short or long (its length says nothing of how it was
    // made): held off right or wrong.
    expect(await weak.authenticateHeldOff('short-admin-key')).toEqual({ ok: false });
    expect((await weak.authenticate('short-admin-key')).ok).toBe(true);
    const strong = new Authenticator(counted, { adminKey: 'a-long-admin-key-of-forty-characters-xyz', openModeAllowed: false, cacheMs: 60_000 });
    expect(await strong.authenticateHeldOff('a-long-admin-key-of-forty-characters-xyz')).toEqual({ ok: false });
    expect((await strong.authenticate('a-long-admin-key-of-forty-characters-xyz')).ok).toBe(true);
    // Anything not shaped as a generated key is refused unread.
    expect(await strong.authenticateHeldOff('a-long-guess-that-is-not-a-generated-key')).toEqual({ ok: false });
    expect(await strong.authenticateHeldOff('jvk_short')).toEqual({ ok: false });
    expect(reads()).toBe(0);
    // 2,000 guesses shaped as keys, all at once, with the real key among them: a few reads.
    const guesses = Array.from({ length: 2_000 }, (_, i) => `jvk_${String(i).padStart(43, 'g')}`);
    const answers = await Promise.all([...guesses, key].map((k) => strong.authenticateHeldOff(k)));
    expect(answers.slice(0, -1).every((a) => !a.ok)).toBe(true);
    expect(answers[answers.length - 1]).toMatchObject({ ok: true, principal: { name: 'real', tenant: 't1' } });
    expect(reads()).toBeLessThanOrEqual(6); // 2,001 keys, 500 a statement, one statement at a time
    // The guesses' misses were not cached (its 10,000 entries: a flood of guesses would push the
    // real keys out): a guess asked again is read again; the real key was, and is not.
    const before = reads();
    expect(await strong.authenticateHeldOff(guesses[0])).toEqual({ ok: false });
    expect(reads()).toBe(before + 1);
    expect(await strong.authenticateHeldOff(key)).toMatchObject({ ok: true });
    expect(reads()).toBe(before + 1);
  });
});
