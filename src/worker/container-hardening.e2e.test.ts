// The restricted container profile on a real Docker engine: what the engine records for the
// container (HostConfig), and what a task inside it can and cannot do. No mocks.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config/index.ts';
import { DEFAULT_HARDENING, hardeningFromConfig, type ContainerSecurity } from './container-security.ts';
import { DockerExecutor } from './docker-executor.ts';
import type { RunSpec } from './executor.ts';

const IMAGE = 'jarvis-test/busybox:latest';
const docker = new Dockerode();
const executor = new DockerExecutor({ docker, hardening: hardeningFromConfig(loadConfig({ env: {} }).worker.security) });

function spec(overrides: Partial<RunSpec> = {}): RunSpec {
  return { taskId: randomUUID(), attempt: 1, image: IMAGE, command: 'true', env: {}, cpu: 0.5, memoryMb: 64, gpu: 0, network: 'none', timeoutSeconds: 30, ...overrides };
}

async function run(s: RunSpec, ex = executor) {
  const out: Buffer[] = [];
  let info: Dockerode.ContainerInspectInfo | null = null;
  const res = await ex.run(s, {
    onOutput: (c) => out.push(c),
    onStarted: async ({ containerId }) => {
      info = await docker.getContainer(containerId).inspect();
    },
  });
  return { res, text: Buffer.concat(out).toString(), info: info as Dockerode.ContainerInspectInfo | null };
}

beforeAll(async () => {
  await executor.ping();
  await docker.getImage(IMAGE).inspect();
});

describe('a task container by default (config/default.yaml)', () => {
  it('is restricted: the engine records every setting', async () => {
    const { res, info } = await run(spec({ command: 'sleep 0.2' }));
    expect(res.status).toBe('succeeded');
    const hc = info!.HostConfig;
    expect(hc.Privileged).toBe(false);
    expect(hc.SecurityOpt).toContain('no-new-privileges');
    expect(hc.PidsLimit).toBe(1024);
    expect(hc.CapDrop).toEqual(['ALL']);
    expect(hc.CapAdd ?? []).toEqual([]);
    expect(hc.ReadonlyRootfs).toBe(true);
    expect(hc.Tmpfs).toEqual({ '/tmp': 'rw,nosuid,nodev,size=64m,mode=1777' });
    expect(hc.NetworkMode).toBe('none');
    expect(hc.Mounts ?? []).toEqual([]);
    expect(hc.Binds ?? []).toEqual([]);
    expect(info!.Config.User).toBe('65534:65534');
  });

  it('runs as user 65534 with no capabilities and no way to gain privileges', async () => {
    const { res, text } = await run(spec({ command: 'id -u; id -g; grep -E "^(CapEff|CapBnd|NoNewPrivs)" /proc/self/status' }));
    expect(res.status).toBe('succeeded');
    expect(text.split('\n').slice(0, 2)).toEqual(['65534', '65534']);
    expect(text).toMatch(/CapEff:\s+0000000000000000/);
    expect(text).toMatch(/CapBnd:\s+0000000000000000/);
    expect(text).toMatch(/NoNewPrivs:\s+1/);
  });

  it('cannot write to / but can to /tmp', async () => {
    const { res, text } = await run(
      spec({ command: 'if touch /root-file 2>/dev/null; then echo wrote-root; else echo root-refused; fi; echo hi > /tmp/f && cat /tmp/f' }),
    );
    expect(res.status).toBe('succeeded');
    expect(text).toBe('root-refused\nhi\n');
  });

  it('has a network of its own with nothing in it', async () => {
    const { res, text } = await run(spec({ command: 'ls /sys/class/net' }));
    expect(res.status).toBe('succeeded');
    expect(text.trim()).toBe('lo');
  });
});

describe('node hardening settings', () => {
  it('caps the number of processes a task may have', async () => {
    const forks = 'for i in $(seq 1 20); do sleep 1 & done; echo all-started; wait';
    const roomy = await run(spec({ command: forks }));
    expect(roomy.res.status).toBe('succeeded');
    expect(roomy.text).toBe('all-started\n');

    const small = new DockerExecutor({ docker, hardening: { ...DEFAULT_HARDENING, pidsLimit: 8 } });
    const { res, text, info } = await run(spec({ command: forks }), small);
    expect(info!.HostConfig.PidsLimit).toBe(8);
    expect(res).toMatchObject({ status: 'failed', exitCode: 2 });
    expect(text).toMatch(/can't fork/);
    expect(text).not.toMatch(/all-started/);
  });

  it("sizes /tmp from the config; a null user keeps the image's own; capabilities can be added back", async () => {
    const ex = new DockerExecutor({ docker, hardening: { ...DEFAULT_HARDENING, user: null, tmpSizeMb: 8, capAdd: ['NET_BIND_SERVICE'] } });
    const { res, text, info } = await run(spec({ command: 'id -u; dd if=/dev/zero of=/tmp/big bs=1M count=16 2>&1 | grep -o "No space left on device"; du -k /tmp/big' }), ex);
    expect(res.status).toBe('succeeded');
    expect(info!.HostConfig.Tmpfs).toEqual({ '/tmp': 'rw,nosuid,nodev,size=8m,mode=1777' });
    expect(info!.HostConfig.CapAdd).toEqual(['NET_BIND_SERVICE']);
    expect(info!.HostConfig.CapDrop).toEqual(['ALL']);
    expect(info!.Config.User).toBe('');
    expect(text.split('\n').map((l) => l.replace(/\s+/g, ' '))).toEqual(['0', 'No space left on device', '8192 /tmp/big', '']);
  });
});

describe('what only a tenant policy allows', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'jarvis-mount-'));
    chmodSync(dir, 0o755);
    writeFileSync(join(dir, 'hello.txt'), 'from the host\n');
    chmodSync(join(dir, 'hello.txt'), 0o644);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const policy = (p: Partial<ContainerSecurity>): ContainerSecurity => ({ allowHostNetwork: false, allowHostMounts: false, mounts: [], ...p });

  it('refuses network "host" unless allowed, naming the rule', async () => {
    const { res, info } = await run(spec({ network: 'host', command: 'echo never' }));
    expect(info).toBeNull();
    expect(res.status).toBe('error');
    expect(res.error).toMatch(/refused: network "host" is not allowed by the tenant's policy \(allowHostNetwork is false\)/);
    const allowed = await run(spec({ network: 'host', command: 'true', security: policy({ allowHostNetwork: true }) }));
    expect(allowed.res.status).toBe('succeeded');
    expect(allowed.info!.HostConfig.NetworkMode).toBe('host');
  });

  it('refuses host mounts unless allowed; allowed, they are bind mounts, read-only unless said', async () => {
    const mounts = [{ source: dir, target: '/data', readOnly: true }];
    const refused = await run(spec({ command: 'cat /data/hello.txt', security: policy({ mounts }) }));
    expect(refused.info).toBeNull();
    expect(refused.res.error).toMatch(/refused: host mounts \(.*jarvis-mount-.*\) are not allowed by the tenant's policy \(allowHostMounts is false\)/);

    const { res, text, info } = await run(
      spec({ command: 'cat /data/hello.txt; touch /data/x 2>/dev/null && echo wrote || echo read-only', security: policy({ allowHostMounts: true, mounts }) }),
    );
    expect(res.status).toBe('succeeded');
    expect(text).toBe('from the host\nread-only\n');
    expect(info!.HostConfig.Mounts).toEqual([expect.objectContaining({ Type: 'bind', Source: dir, Target: '/data', ReadOnly: true })]);
  });
});
