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
