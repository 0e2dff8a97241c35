// The container security rules as pure functions: no Docker needed.
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../config/index.ts';
import { ContainerSecurity, DEFAULT_HARDENING, hardeningFromConfig, securityRefusal } from './container-security.ts';

describe('securityRefusal', () => {
  const allowAll = { allowHostNetwork: true, allowHostMounts: true, mounts: [] };

  it('lets the restricted profile through: network none or bridge, no mounts', () => {
    expect(securityRefusal({ network: 'none' })).toBeNull();
    expect(securityRefusal({ network: 'bridge' })).toBeNull();
    expect(securityRefusal({ network: 'host', security: allowAll })).toBeNull();
  });

  it('names the rule a task breaks', () => {
    expect(securityRefusal({ network: 'host' })).toMatch(/network "host" is not allowed by the tenant's policy \(allowHostNetwork is false\)/);
    const mounts = [{ source: '/var/run/docker.sock', target: '/sock', readOnly: true }];
    expect(securityRefusal({ network: 'none', security: { ...allowAll, allowHostMounts: false, mounts } })).toMatch(
      /host mounts \(\/var\/run\/docker\.sock\) are not allowed by the tenant's policy \(allowHostMounts is false\)/,
    );
    expect(securityRefusal({ network: 'none', security: { ...allowAll, mounts } })).toBeNull();
  });

  it('refuses mount paths that are relative, climb with "..", or cover / or /tmp', () => {
    const mount = (source: string, target: string) => ({ network: 'none', security: { ...allowAll, mounts: [{ source, target, readOnly: true }] } });
    expect(securityRefusal(mount('data', '/data'))).toMatch(/must be absolute/);
    expect(securityRefusal(mount('/srv/../etc', '/data'))).toMatch(/without "\.\."/);
    expect(securityRefusal(mount('/srv', '/'))).toMatch(/cannot mount over \/ or \/tmp/);
    expect(securityRefusal(mount('/srv', '/tmp/'))).toMatch(/cannot mount over \/ or \/tmp/);
    expect(securityRefusal(mount('/srv', '/tmp/data'))).toBeNull();
  });

  it('a job without a security object, or an empty one, is restricted', () => {
    expect(ContainerSecurity.parse({})).toEqual({ allowHostNetwork: false, allowHostMounts: false, mounts: [] });
    expect(ContainerSecurity.parse({ mounts: [{ source: '/a', target: '/b' }] }).mounts[0].readOnly).toBe(true);
  });
});

describe('worker.security in the config', () => {
  it('defaults to the restricted profile', () => {
    expect(hardeningFromConfig(loadConfig({ env: {} }).worker.security)).toEqual(DEFAULT_HARDENING);
  });

  it('takes the pids limit and /tmp size from the environment', () => {
    const c = loadConfig({ env: { JARVIS_CONTAINER_PIDS_LIMIT: '64', JARVIS_CONTAINER_TMP_SIZE_MB: '16' } });
    expect(c.worker.security).toMatchObject({ pids_limit: 64, tmp_size_mb: 16 });
  });

  it('refuses a capability beyond Docker\'s default set, and a malformed user', () => {
    const load = (security: Record<string, unknown>) => () => loadConfig({ env: {}, overrides: { worker: { security } } });
    expect(load({ cap_add: ['SYS_ADMIN'] })).toThrow(ConfigError);
    expect(load({ cap_add: ['SYS_ADMIN'] })).toThrow(/"worker\.security\.cap_add\.0"/);
    expect(load({ user: 'root; rm -rf /' })).toThrow(/"worker\.security\.user": a user\[:group\]/);
    expect(load({ pids_limit: 0 })).toThrow(/"worker\.security\.pids_limit"/);
    expect(load({ cap_add: ['NET_BIND_SERVICE'], user: null }).call(null).worker.security).toMatchObject({ cap_add: ['NET_BIND_SERVICE'], user: null });
  });
});
