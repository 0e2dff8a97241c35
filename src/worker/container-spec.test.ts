// The container a run spec becomes, as a pure function: no Docker needed. (The engine's view of
// the same settings is checked in container-hardening.test.ts and docker-executor.test.ts.)
import { describe, expect, it } from 'vitest';
import { DEFAULT_HARDENING } from './container-security.ts';
import { buildCreateOptions, containerName } from './container-spec.ts';
import type { RunSpec } from './executor.ts';

function spec(overrides: Partial<RunSpec> = {}): RunSpec {
  return { taskId: 't1', attempt: 1, image: 'img', command: 'true', env: {}, cpu: 0.5, memoryMb: 64, gpu: 0, network: 'none', timeoutSeconds: 30, ...overrides };
}

describe('buildCreateOptions', () => {
  it('puts /tmp on an anonymous volume, not a tmpfs, for a task that declares outputs (a tmpfs is gone at exit)', () => {
    expect(buildCreateOptions(spec()).HostConfig?.Tmpfs).toHaveProperty('/tmp');
    expect(buildCreateOptions(spec()).HostConfig?.Mounts).toBeUndefined();
    const h = buildCreateOptions(spec({ outputs: { rows: '/tmp/rows' } })).HostConfig;
    expect(h?.Tmpfs).toBeUndefined();
    expect(h?.Mounts).toEqual([{ Type: 'volume', Source: '', Target: '/tmp' }]);
    expect(h?.ReadonlyRootfs).toBe(true);
  });

  it("bounds the engine's own log by the attempt's log cap, 1 MiB a file at least", () => {
    const log = (logCapBytes?: number) => buildCreateOptions(spec({ logCapBytes })).HostConfig?.LogConfig;
    expect(log(64 * 1024 * 1024)).toEqual({ Type: 'json-file', Config: { 'max-size': '65536k', 'max-file': '3' } });
    expect(log(5_000_001)).toEqual({ Type: 'json-file', Config: { 'max-size': '4883k', 'max-file': '3' } });
    expect(log(1000)).toEqual({ Type: 'json-file', Config: { 'max-size': '1024k', 'max-file': '3' } });
    expect(log()).toEqual({ Type: 'json-file', Config: { 'max-size': '10240k', 'max-file': '3' } });
  });

  it('maps a spec to the create body (GPU requests included; no GPU on this machine to run them)', () => {
    const s = spec({ taskId: 'a/b c', attempt: 2, command: 'echo hi', env: { A: '1' }, cpu: 1.5, memoryMb: 256, gpu: 2 });
    const o = buildCreateOptions(s);
    expect(o.name).toBe('jarvis-a_b_c-2');
    expect(o.Image).toBe('img');
    expect([o.Entrypoint, o.Cmd]).toEqual([['sh', '-c'], ['echo hi']]);
    expect(o.Env).toEqual(['A=1']);
    expect(o.Labels).toEqual({ 'jarvis.task_id': 'a/b c', 'jarvis.attempt': '2' });
    expect(o.HostConfig).toEqual({
      Init: true,
      NanoCpus: 1_500_000_000,
      Memory: 256 * 1024 * 1024,
      MemorySwap: 256 * 1024 * 1024,
      NetworkMode: 'none',
      LogConfig: { Type: 'json-file', Config: { 'max-size': '10240k', 'max-file': '3' } },
      DeviceRequests: [{ Driver: 'nvidia', Count: 2, Capabilities: [['gpu']] }],
      // The restricted profile (worker.security defaults).
      Privileged: false,
      SecurityOpt: ['no-new-privileges'],
      CapDrop: ['ALL'],
      PidsLimit: 1024,
      ReadonlyRootfs: true,
      Tmpfs: { '/tmp': 'rw,nosuid,nodev,size=64m,mode=1777' },
    });
    expect(o.User).toBe('65534:65534');
    expect(buildCreateOptions(spec({ command: ['a', 'b c'] })).Cmd).toEqual(['a', 'b c']);
    expect('Cmd' in buildCreateOptions(spec({ command: null }))).toBe(false);
    expect(buildCreateOptions(spec({ gpu: 0 })).HostConfig?.DeviceRequests).toBeUndefined();
    // The node's choice of cards, named in a label read back after a restart.
    const chosen = buildCreateOptions(spec({ gpu: 2, gpuDevices: ['1', '3'] }));
    expect(chosen.HostConfig?.DeviceRequests).toEqual([{ Driver: 'nvidia', DeviceIDs: ['1', '3'], Capabilities: [['gpu']] }]);
    expect(chosen.Labels?.['jarvis.gpus']).toBe('1,3');
  });

  it("rotates the engine's log under its own json-file or local driver, and leaves any other driver the operator chose", () => {
    expect(buildCreateOptions(spec(), undefined, 'json-file').HostConfig?.LogConfig).toMatchObject({ Type: 'json-file', Config: { 'max-file': '3' } });
    expect(buildCreateOptions(spec(), undefined, 'local').HostConfig?.LogConfig).toMatchObject({ Type: 'local', Config: { 'max-file': '3' } });
    for (const driver of ['journald', 'fluentd', null]) expect(buildCreateOptions(spec(), undefined, driver).HostConfig).not.toHaveProperty('LogConfig');
  });

  it('keeps the worker labels out of reach of the task', () => {
    const o = buildCreateOptions(spec({ labels: { 'jarvis.task_id': 'spoofed', 'jarvis.workflow': 'w' } }));
    expect(o.Labels).toEqual({ 'jarvis.task_id': 't1', 'jarvis.attempt': '1', 'jarvis.workflow': 'w' });
  });

  it("follows the node's hardening settings", () => {
    const o = buildCreateOptions(spec(), { user: null, pidsLimit: 50, readOnlyRootFs: false, tmpSizeMb: 8, capAdd: ['NET_BIND_SERVICE'] });
    expect('User' in o).toBe(false);
    expect(o.HostConfig).toMatchObject({ PidsLimit: 50, ReadonlyRootfs: false, Tmpfs: { '/tmp': 'rw,nosuid,nodev,size=8m,mode=1777' }, CapDrop: ['ALL'], CapAdd: ['NET_BIND_SERVICE'] });
    expect(o.HostConfig?.Privileged).toBe(false);
    expect(o.HostConfig?.SecurityOpt).toEqual(['no-new-privileges']);
  });

  it('adds host mounts only when the policy allows them; never a Binds entry', () => {
    const mounts = [{ source: '/srv/data', target: '/data', readOnly: true }, { source: '/srv/out', target: '/out', readOnly: false }];
    const denied = buildCreateOptions(spec({ security: { allowHostNetwork: false, allowHostMounts: false, mounts } }));
    expect(denied.HostConfig?.Mounts).toBeUndefined();
    const allowed = buildCreateOptions(spec({ security: { allowHostNetwork: false, allowHostMounts: true, mounts } }), DEFAULT_HARDENING);
    expect(allowed.HostConfig?.Mounts).toEqual([
      { Type: 'bind', Source: '/srv/data', Target: '/data', ReadOnly: true },
      { Type: 'bind', Source: '/srv/out', Target: '/out', ReadOnly: false },
    ]);
    expect(allowed.HostConfig?.Binds).toBeUndefined();
  });

  it('names containers the way Docker accepts', () => {
    expect(containerName('9f0c-ab', 3)).toBe('jarvis-9f0c-ab-3');
    expect(containerName('x y/z', 1)).toBe('jarvis-x_y_z-1');
  });
});
