import { describe, expect, it } from 'vitest';
import { bearerToken, generateKey, hashKey, ROLES } from './keys.ts';
import { allows, reachesEveryTenant, roleNeeded } from './policy.ts';
import { OPEN_MODE, tenantScope } from './principal.ts';
import { rateLimitHeaders } from './rate-limit.ts';
import { parseSecretKey, SecretBox, SecretKeyError } from './secret-box.ts';
import { canonicalImage, policyFor, policyRefusal, RESTRICTED } from './tenant-policy.ts';

describe('keys', () => {
  it('are 256 random bits, never the same twice, hashed to 64 hex characters', () => {
    const a = generateKey();
    const b = generateKey();
    expect(a).toMatch(/^jvk_[A-Za-z0-9_-]{43}$/);
    expect(a).not.toBe(b);
    expect(hashKey(a)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashKey(a)).toBe(hashKey(a));
    expect(hashKey(a)).not.toBe(hashKey(b));
  });

  it('are read from a Bearer header only', () => {
    expect(bearerToken('Bearer abc')).toBe('abc');
    expect(bearerToken('bearer   abc  ')).toBe('abc');
    expect(bearerToken('Basic abc')).toBeNull();
    expect(bearerToken('Bearer')).toBeNull();
    expect(bearerToken('Bearer a b')).toBeNull();
    expect(bearerToken(`Bearer ${'x'.repeat(513)}`)).toBeNull();
    expect(bearerToken(undefined)).toBeNull();
  });
});

describe('roles', () => {
  it('nest: every permission of a viewer is a submitter\'s, and an admin has every one', () => {
    for (const p of ['tasks:read', 'tenants:read'] as const) expect(allows('submitter', p)).toBe(true);
    for (const role of ROLES) expect(allows('admin', 'tasks:read') && allows(role, 'tasks:read')).toBe(true);
    expect(allows('viewer', 'tasks:submit')).toBe(false);
    expect(allows('operator', 'tasks:submit')).toBe(false);
    expect(allows('operator', 'nodes:manage')).toBe(true);
    expect(allows('submitter', 'nodes:read')).toBe(false);
    expect(allows('operator', 'keys:manage')).toBe(false);
  });

  it('name the least role a refused request needs', () => {
    expect(roleNeeded('tasks:read')).toBe('viewer');
    expect(roleNeeded('tasks:submit')).toBe('submitter');
    expect(roleNeeded('nodes:manage')).toBe('operator');
    expect(roleNeeded('keys:manage')).toBe('admin');
  });

  it('limit viewers and submitters to their own tenant', () => {
    const p = { keyId: 'k', name: 'n', tenant: 'ml', rateLimitPerS: null };
    expect(tenantScope({ ...p, role: 'viewer' }, 'other')).toBe('ml');
    expect(tenantScope({ ...p, role: 'submitter' })).toBe('ml');
    expect(tenantScope({ ...p, role: 'operator' })).toBeNull();
    expect(tenantScope({ ...p, role: 'admin' }, 'other')).toBe('other');
    expect(tenantScope(OPEN_MODE)).toBeNull();
    expect(reachesEveryTenant('viewer')).toBe(false);
  });
});

describe('secret box', () => {
  const key = parseSecretKey(Buffer.alloc(32, 7).toString('base64'));

  it('opens what it sealed, with a fresh IV each time', () => {
    const box = new SecretBox(key);
    const a = box.seal('hunter2', 'ml/db');
    const b = box.seal('hunter2', 'ml/db');
    expect(a).not.toBe(b);
    expect(a).not.toContain('hunter2');
    expect(box.open(a, 'ml/db')).toBe('hunter2');
  });

  it('refuses a value moved to another name or opened with another key', () => {
    const sealed = new SecretBox(key).seal('hunter2', 'ml/db');
    expect(() => new SecretBox(key).open(sealed, 'ml/other')).toThrow(SecretKeyError);
    expect(() => new SecretBox(Buffer.alloc(32, 8)).open(sealed, 'ml/db')).toThrow(/JARVIS_SECRET_KEY/);
  });

  it('takes 32 bytes as hex or base64 and says how to make a key otherwise', () => {
    expect(parseSecretKey('ab'.repeat(32))).toHaveLength(32);
    expect(() => parseSecretKey('short')).toThrow(/openssl rand -base64 32/);
  });
});

describe('rate limit headers', () => {
  it('follow the IETF draft: policy and remaining with reset', () => {
    expect(rateLimitHeaders({ allowed: true, limit: 10, remaining: 7, retryAfterMs: 0 })).toEqual({
      'RateLimit-Policy': '"per-key";q=10;w=1',
      RateLimit: '"per-key";r=7;t=1',
    });
    expect(rateLimitHeaders({ allowed: false, limit: 1, remaining: 0, retryAfterMs: 2500 }).RateLimit).toBe('"per-key";r=0;t=3');
  });
});

describe('tenant policy', () => {
  const policies = { ml: { allow_host_network: true, image_prefixes: ['registry.local/ml/'] }, '*': { allow_host_network: false, image_prefixes: [] } };

  it('allows host network only where an admin said so', () => {
    expect(policyRefusal({ image: 'busybox', network: 'host' }, 'etl', policyFor(policies, 'etl'))).toMatch(/network "host" is not allowed for tenant etl: an admin must set tenants\.policies\.etl\.allow_host_network: true/);
    expect(policyRefusal({ image: 'registry.local/ml/train', network: 'host' }, 'ml', policyFor(policies, 'ml'))).toBeNull();
  });

  it('limits images to the allow-list by prefix, naming it', () => {
    expect(policyRefusal({ image: 'busybox', network: 'none' }, 'ml', policyFor(policies, 'ml'))).toBe(
      'image "busybox" is not allowed for tenant ml: images must start with "registry.local/ml/" (tenants.policies.ml.image_prefixes)',
    );
    expect(policyRefusal({ image: 'anything', network: 'bridge' }, 'etl', policyFor(policies, 'etl'))).toBeNull();
  });

  it('matches an image prefix on a boundary: "/", ":" or "@", or the end', () => {
    const under = (prefixes: string[], image: string) => policyRefusal({ image, network: 'none' }, 'ml', { allow_host_network: false, image_prefixes: prefixes }) === null;
    expect(under(['registry.local'], 'registry.local/x')).toBe(true);
    expect(under(['registry.local'], 'registry.local:5000/x')).toBe(true);
    // A reference with no "/" is Docker Hub's, whatever it looks like: library/registry.local.
    expect(under(['registry.local'], 'registry.local')).toBe(false);
    expect(under(['registry.local'], 'registry.local@sha256:abc')).toBe(false);
    expect(under(['localhost:5000'], 'localhost:5000/x')).toBe(true);
    expect(under(['localhost:5000'], 'localhost:50001/x')).toBe(false);
    expect(under(['registry.local'], 'registry.local.evil.io/x')).toBe(false);
    expect(under(['registry.local'], 'registry.localhost/x')).toBe(false);
    expect(under(['docker.io/library/busybox'], 'docker.io/library/busybox:1.36')).toBe(true);
    expect(under(['docker.io/library/busybox'], 'docker.io/library/busybox@sha256:abc')).toBe(true);
    expect(under(['docker.io/library/busybox'], 'docker.io/library/busybox-evil')).toBe(false);
    // A prefix that ends on a boundary is matched as it is.
    expect(under(['registry.local/ml/'], 'registry.local/ml/train')).toBe(true);
    expect(under(['registry.local/ml/'], 'registry.local/ml')).toBe(false);
    expect(under(['busybox:'], 'busybox:1.36')).toBe(true);
    expect(under(['busybox:'], 'busybox')).toBe(false);
  });

  it('reads images and prefixes as the engine does: a bare name is Docker Hub\'s library', () => {
    const under = (prefixes: string[], image: string) => policyRefusal({ image, network: 'none' }, 'ml', { allow_host_network: false, image_prefixes: prefixes }) === null;
    expect(canonicalImage('busybox:1.36')).toBe('docker.io/library/busybox:1.36');
    expect(canonicalImage('team/app')).toBe('docker.io/team/app');
    expect(canonicalImage('index.docker.io/team/app')).toBe('docker.io/team/app');
    expect(canonicalImage('docker.io/busybox')).toBe('docker.io/library/busybox');
    expect(canonicalImage('registry.local:5000/app')).toBe('registry.local:5000/app');
    expect(canonicalImage('localhost/app')).toBe('localhost/app');
    expect(canonicalImage('Registry/app')).toBe('Registry/app');
    // "busybox" is the library image: its tags and digests, however written, never the account.
    for (const image of ['busybox', 'busybox:1.36', 'busybox@sha256:abc', 'docker.io/library/busybox:1', 'index.docker.io/library/busybox', 'docker.io/busybox']) expect(under(['busybox'], image), image).toBe(true);
    for (const image of ['busybox/x', 'docker.io/busybox/x', 'busybox-evil', 'registry.local/busybox']) expect(under(['busybox'], image), image).toBe(false);
    // An account's prefix ends in "/"; Docker Hub as a whole is "docker.io".
    expect(under(['team/'], 'team/app:1')).toBe(true);
    expect(under(['team/'], 'docker.io/team/app')).toBe(true);
    expect(under(['team/'], 'registry.local/team/app')).toBe(false);
    expect(under(['docker.io'], 'busybox')).toBe(true);
    expect(under(['docker.io'], 'registry.local/x')).toBe(false);
    expect(under(['index.docker.io/'], 'team/app')).toBe(true);
    expect(under(['docker.io/'], 'busybox')).toBe(true);
    expect(under(['docker.io/'], 'registry.local/x')).toBe(false);
    expect(policyRefusal({ image: 'busybox/x', network: 'none' }, 'ml', { allow_host_network: false, image_prefixes: ['busybox', 'registry.local/'] })).toBe(
      'image "busybox/x" (read as "docker.io/busybox/x") is not allowed for tenant ml: images must start with "busybox" (read as "docker.io/library/busybox") or "registry.local/", a prefix not ending in "/", ":" or "@" followed by one of them or by nothing (tenants.policies.ml.image_prefixes)',
    );
    expect(policyRefusal({ image: 'registry.local.evil.io/x', network: 'none' }, 'ml', { allow_host_network: false, image_prefixes: ['registry.local'] })).toBe(
      'image "registry.local.evil.io/x" is not allowed for tenant ml: images must start with "registry.local", a prefix not ending in "/", ":" or "@" followed by one of them or by nothing (tenants.policies.ml.image_prefixes)',
    );
  });

  it('is restricted when no policy is set at all', () => {
    expect(policyFor({}, 'x')).toEqual(RESTRICTED);
  });
});
