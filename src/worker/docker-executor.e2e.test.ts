// Real-Docker tests of DockerExecutor (no mocks). Needs a running engine, the local image
// jarvis-test/busybox:latest (built here from the host's busybox when missing) and, for the pull
// test, a registry at $JARVIS_TEST_REGISTRY (default 127.0.0.1:5000).

import { randomUUID } from 'node:crypto';
import * as net from 'node:net';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunHooks, RunSpec } from './executor.ts';
import {
  buildCreateOptions,
  DockerEngineUnavailableError,
  DockerExecutor,
  findJarvisContainers,
  type ExecutorLogger,
} from './docker-executor.ts';

const IMAGE = 'jarvis-test/busybox:latest';
const REGISTRY = process.env.JARVIS_TEST_REGISTRY || '127.0.0.1:5000';

const docker = new Dockerode();
const executor = new DockerExecutor({ docker });

/** Every task id a spec of this file got: its containers are removed at the end, whatever failed. */
const taskIds = new Set<string>();

function spec(overrides: Partial<RunSpec> = {}): RunSpec {
  const taskId = overrides.taskId ?? randomUUID();
  taskIds.add(taskId);
  return {
    taskId,
    attempt: 1,
    image: IMAGE,
    command: 'true',
    env: {},
    cpu: 0.5,
    memoryMb: 64,
    gpu: 0,
    network: 'none',
    timeoutSeconds: 30,
    ...overrides,
  };
}

function collector() {
  const chunks: Array<{ stream: 'stdout' | 'stderr'; text: string }> = [];
  return {
    chunks,
    onOutput: (chunk: Buffer, stream: 'stdout' | 'stderr') => chunks.push({ stream, text: chunk.toString('utf8') }),
    text: (stream: 'stdout' | 'stderr') =>
      chunks
        .filter((c) => c.stream === stream)
        .map((c) => c.text)
        .join(''),
  };
}

async function leftovers(taskId: string) {
  return (await findJarvisContainers(docker)).filter((c) => c.taskId === taskId);
}

async function imageExists(ref: string): Promise<boolean> {
  try {
    await docker.getImage(ref).inspect();
    return true;
  } catch {
    return false;
  }
}

async function registryUp(): Promise<boolean> {
  try {
    const res = await fetch(`http://${REGISTRY}/v2/`, { signal: AbortSignal.timeout(2000) });
    return res.ok;
  } catch {
    return false;
  }
}

/**
 * A local image of its own under `ref`: IMAGE with a label that makes its digest unique, so that
 * deleting its manifest from the registry (deleteFromRegistry) removes no other tag.
 */
async function commitUnique(ref: string): Promise<void> {
  const at = ref.lastIndexOf(':');
  const [repo, tag] = [ref.slice(0, at), ref.slice(at + 1)];
  const base = await docker.createContainer({ Image: IMAGE, Cmd: ['true'] });
  try {
    await base.commit({ repo, tag, changes: [`LABEL jarvis.test-image=${randomUUID()}`] });
  } finally {
    await base.remove({ force: true });
  }
}

/** Whether the registry deletes manifests (storage.delete.enabled): 405 when it refuses. */
async function registryDeletes(): Promise<boolean> {
  const none = `sha256:${'0'.repeat(64)}`;
  const res = await fetch(`http://${REGISTRY}/v2/jarvis-test/remote-busybox/manifests/${none}`, { method: 'DELETE' });
  return res.status !== 405;
}

/** Deletes the manifest `ref` names (and its config blob, its own) from the test registry. */
async function deleteFromRegistry(ref: string): Promise<void> {
  const at = ref.lastIndexOf(':');
  const [name, tag] = [ref.slice(REGISTRY.length + 1, at), ref.slice(at + 1)];
  const accept = 'application/vnd.docker.distribution.manifest.v2+json';
  const got = await fetch(`http://${REGISTRY}/v2/${name}/manifests/${tag}`, { headers: { accept } });
  if (got.status === 404) return;
  const digest = got.headers.get('docker-content-digest');
  const manifest = (await got.json()) as { config?: { digest?: string } };
  if (!got.ok || !digest) throw new Error(`registry: GET manifest ${ref} answered ${got.status}`);
  const del = await fetch(`http://${REGISTRY}/v2/${name}/manifests/${digest}`, { method: 'DELETE' });
  if (del.status !== 202) throw new Error(`registry: DELETE manifest ${name}@${digest} answered ${del.status}: ${await del.text()}`);
  // The config blob is this image's alone (the label); its layers are shared with IMAGE: kept.
  if (manifest.config?.digest) await fetch(`http://${REGISTRY}/v2/${name}/blobs/${manifest.config.digest}`, { method: 'DELETE' });
}

/** Push a local image to the test registry under `ref` (tagging `source` as `ref` first, if given). */
async function pushTo(ref: string, source?: string): Promise<void> {
  const at = ref.lastIndexOf(':');
  const [repo, tag] = [ref.slice(0, at), ref.slice(at + 1)];
  if (source) await docker.getImage(source).tag({ repo, tag });
  // The engine insists on an X-Registry-Auth header even for a registry without auth.
  const stream = await docker.getImage(repo).push({ tag, authconfig: {} });
  await new Promise<void>((resolve, reject) =>
    docker.modem.followProgress(stream, (err: unknown, out: Array<{ error?: string }>) => {
      const failed = out?.find((e) => e.error);
      if (err || failed) reject(err ?? new Error(failed?.error));
      else resolve();
    }),
  );
}

let haveRegistry = false;

beforeAll(async () => {
  await executor.ping();
  if (!(await imageExists(IMAGE))) throw new Error(`test image ${IMAGE} is missing: run the tests with \`npm test\`, which builds it`);
  haveRegistry = await registryUp();
  // `npm test` starts the registry (scripts/test.sh); without it the pull test cannot prove anything.
  if (!haveRegistry) throw new Error(`test registry ${REGISTRY} is not reachable: run the tests with \`npm test\`, which starts it`);
});

afterAll(async () => {
  // Containers of this file's tasks that a failed test left (the executor removes the others).
  const left = (await findJarvisContainers(docker)).filter((c) => taskIds.has(c.taskId));
  for (const c of left) await docker.getContainer(c.id).remove({ force: true, v: true }).catch(() => undefined);
});

describe('DockerExecutor', () => {
  it('ping() succeeds against the running engine', async () => {
    await expect(executor.ping()).resolves.toBeUndefined();
  });

  it('ping() and run() explain an unreachable engine', async () => {
    const socketPath = `/tmp/jarvis-no-such-docker-${randomUUID()}.sock`;
    const dead = new DockerExecutor({ docker: new Dockerode({ socketPath }) });
    const err = await dead.ping().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DockerEngineUnavailableError);
    expect((err as Error).message).toContain(socketPath);
    expect((err as Error).message).toMatch(/cannot be reached/);
    expect((err as Error).message).toMatch(/DOCKER_HOST/);
    expect((err as Error).message).toMatch(/ENOENT/);
    await expect(dead.run(spec())).rejects.toBeInstanceOf(DockerEngineUnavailableError);
  });

  it('captures stdout and stderr of a successful run and removes the container', async () => {
    const s = spec({ command: ['sh', '-c', 'echo out; echo err >&2'] });
    const out = collector();
    let started: { containerId: string; startedAt: Date } | null = null;
    const before = Date.now();
    const res = await executor.run(s, { onOutput: out.onOutput, onStarted: (i) => void (started = i) });
    expect(res.status).toBe('succeeded');
    expect(res.exitCode).toBe(0);
    expect(res.error).toBeNull();
    expect(out.text('stdout')).toBe('out\n');
    expect(out.text('stderr')).toBe('err\n');
    expect(started).not.toBeNull();
    expect(started!.containerId).toMatch(/^[0-9a-f]{64}$/);
    expect(res.startedAt).toBeInstanceOf(Date);
    expect(res.startedAt!.getTime()).toBe(started!.startedAt.getTime());
    expect(res.startedAt!.getTime()).toBeGreaterThanOrEqual(before - 1000);
    expect(res.finishedAt.getTime()).toBeGreaterThanOrEqual(res.startedAt!.getTime());
    expect(await leftovers(s.taskId)).toEqual([]);
  });

  it('reports a non-zero exit code as failed', async () => {
    const s = spec({ command: ['sh', '-c', 'echo bye; exit 7'] });
    const out = collector();
    const res = await executor.run(s, { onOutput: out.onOutput });
    expect(res).toMatchObject({ status: 'failed', exitCode: 7, error: 'exited with code 7' });
    expect(out.text('stdout')).toBe('bye\n');
    expect(await leftovers(s.taskId)).toEqual([]);
  });

  it('runs a string command under sh -c with the env passed', async () => {
    const s = spec({
      command: 'echo "$GREETING, $WHO" && test "$(echo a b | wc -w)" -eq 2 && echo "$0"',
      env: { GREETING: 'hello', WHO: 'jarvis world' },
    });
    const out = collector();
    const res = await executor.run(s, { onOutput: out.onOutput });
    expect(res.status).toBe('succeeded');
    expect(out.text('stdout')).toBe('hello, jarvis world\nsh\n');
    expect(await leftovers(s.taskId)).toEqual([]);
  });

  it("runs a string command under sh -c over the image's ENTRYPOINT; a list goes to the ENTRYPOINT", async () => {
    // A tag of this run's own, removed at the end (re-committing one fixed tag left the image
    // before it dangling on every run).
    const tag = `run-${randomUUID().slice(0, 8)}`;
    const image = `jarvis-test/with-entrypoint:${tag}`;
    const base = await docker.createContainer({ Image: IMAGE, Cmd: ['true'] });
    try {
      await base.commit({ repo: 'jarvis-test/with-entrypoint', tag, changes: ['ENTRYPOINT ["echo","from-entrypoint"]'] });
    } finally {
      await base.remove({ force: true });
    }
    const s = spec({ image, command: 'echo "$((2 + 3))"' });
    const l = spec({ image, command: ['a', 'b'] });
    try {
      const asString = collector();
      expect((await executor.run(s, { onOutput: asString.onOutput })).status).toBe('succeeded');
      expect(asString.text('stdout')).toBe('5\n'); // before: `echo from-entrypoint sh -c …`
      const asList = collector();
      expect((await executor.run(l, { onOutput: asList.onOutput })).status).toBe('succeeded');
      expect(asList.text('stdout')).toBe('from-entrypoint a b\n');
      expect(await leftovers(s.taskId)).toEqual([]);
    } finally {
      // Its containers first (none unless a run failed: an image in use would stay, dangling).
      for (const c of [...(await leftovers(s.taskId)), ...(await leftovers(l.taskId))]) await docker.getContainer(c.id).remove({ force: true });
      await docker.getImage(image).remove();
    }
  });

  it('applies cpu, memory, network and labels to the container', async () => {
    const s = spec({
      attempt: 3,
      command: 'sleep 0.3; echo done',
      cpu: 0.5,
      memoryMb: 96,
      env: { FOO: 'bar' },
      labels: { 'jarvis.workflow': 'wf-1', 'jarvis.task_id': 'spoofed' },
    });
    let inspected: Dockerode.ContainerInspectInfo | null = null;
    let listed: Awaited<ReturnType<typeof findJarvisContainers>> = [];
    const res = await executor.run(s, {
      onStarted: async ({ containerId }) => {
        inspected = await docker.getContainer(containerId).inspect();
        listed = await leftovers(s.taskId);
      },
    });
    expect(res.status).toBe('succeeded');
    const info = inspected as Dockerode.ContainerInspectInfo | null;
    expect(info).not.toBeNull();
    expect(info!.Name).toBe(`/jarvis-${s.taskId}-3`);
    expect(info!.HostConfig.NanoCpus).toBe(500_000_000);
    expect(info!.HostConfig.Memory).toBe(96 * 1024 * 1024);
    expect(info!.HostConfig.NetworkMode).toBe('none');
    expect(info!.Config.Labels).toMatchObject({
      'jarvis.task_id': s.taskId,
      'jarvis.attempt': '3',
      'jarvis.workflow': 'wf-1',
    });
    expect(info!.Config.Env).toContain('FOO=bar');
    expect(info!.Config.Tty).toBe(false);
    expect(info!.HostConfig.DeviceRequests ?? []).toEqual([]);
    expect(listed).toEqual([{ id: info!.Id, taskId: s.taskId, attempt: 3, state: 'running' }]);
    expect(await leftovers(s.taskId)).toEqual([]);
  });

  it('kills a run that exceeds its timeout', async () => {
    const s = spec({ command: 'echo start; sleep 30', timeoutSeconds: 1 });
    const out = collector();
    const t0 = Date.now();
    const res = await executor.run(s, { onOutput: out.onOutput });
    const took = Date.now() - t0;
    expect(res.status).toBe('timed_out');
    expect(res.error).toBe('timed out after 1 s');
    expect(res.exitCode).toBe(137);
    expect(took).toBeGreaterThanOrEqual(1000);
    expect(took).toBeLessThan(10_000);
    expect(out.text('stdout')).toBe('start\n');
    expect(await leftovers(s.taskId)).toEqual([]);
  });

  it('cancels a running container when the signal aborts', async () => {
    const s = spec({ command: 'echo ready; sleep 30', timeoutSeconds: null });
    const ac = new AbortController();
    const hooks: RunHooks = {
      signal: ac.signal,
      onOutput: (chunk) => {
        if (chunk.toString().includes('ready')) ac.abort();
      },
    };
    const t0 = Date.now();
    const res = await executor.run(s, hooks);
    expect(res.status).toBe('cancelled');
    expect(res.startedAt).toBeInstanceOf(Date);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(await leftovers(s.taskId)).toEqual([]);
  });

  it('does not start anything when the signal is already aborted', async () => {
    const s = spec({ command: 'echo never' });
    const out = collector();
    const res = await executor.run(s, { signal: AbortSignal.abort(), onOutput: out.onOutput });
    expect(res).toMatchObject({ status: 'cancelled', exitCode: null, startedAt: null });
    expect(out.chunks).toEqual([]);
    expect(await leftovers(s.taskId)).toEqual([]);
  });

  it('reports a missing image as an error naming the image', async () => {
    const image = `${REGISTRY}/jarvis-test/does-not-exist-${randomUUID()}:latest`;
    const s = spec({ image });
    const res = await executor.run(s);
    expect(res.status).toBe('error');
    expect(res.exitCode).toBeNull();
    expect(res.startedAt).toBeNull();
    expect(res.error).toMatch(new RegExp(`^image "${image.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}" could not be pulled: .*(not found|unknown)`, 'i'));
    expect(await leftovers(s.taskId)).toEqual([]);
  });

  it('reports an unreachable registry as an error naming the image', async () => {
    const image = '127.0.0.1:1/jarvis-test/nowhere:latest';
    const res = await executor.run(spec({ image }));
    expect(res.status).toBe('error');
    expect(res.error).toContain(`image "${image}" could not be pulled: `); // not "not found": the registry is unreachable
    expect(res.error).toMatch(/connection refused/);
  });

  describe('with a registry that never answers', () => {
    let server: net.Server;
    const sockets = new Set<net.Socket>();
    let port = 0;
    beforeAll(async () => {
      server = net.createServer((sock) => {
        sockets.add(sock);
        sock.on('error', () => undefined);
        sock.on('close', () => sockets.delete(sock));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as net.AddressInfo).port;
      return async () => {
        for (const sock of sockets) sock.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      };
    });

    it('gives up on a pull that takes longer than pullTimeoutMs', async () => {
      const image = `127.0.0.1:${port}/jarvis-test/slow:latest`;
      const impatient = new DockerExecutor({ docker, pullTimeoutMs: 1000 });
      const t0 = Date.now();
      const res = await impatient.run(spec({ image }));
      expect(res.status).toBe('error');
      expect(res.error).toBe(`image "${image}" could not be pulled within 1 s`);
      expect(Date.now() - t0).toBeLessThan(5000);
    });

    it('cancels while pulling', async () => {
      const image = `127.0.0.1:${port}/jarvis-test/slow:latest`;
      const s = spec({ image });
      const t0 = Date.now();
      const res = await executor.run(s, { signal: AbortSignal.timeout(500) });
      expect(res).toMatchObject({ status: 'cancelled', exitCode: null, startedAt: null });
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(await leftovers(s.taskId)).toEqual([]);
    });
  });

  it('leaves the image default command alone when command is null', async () => {
    const imageCmd = (await docker.getImage(IMAGE).inspect()).Config.Cmd ?? [];
    let cmd: string[] | undefined;
    const s = spec({ command: null });
    const res = await executor.run(s, {
      onStarted: async ({ containerId }) => {
        cmd = (await docker.getContainer(containerId).inspect()).Config.Cmd ?? undefined;
      },
    });
    if (imageCmd.length > 0) {
      expect(res.status).toBe('succeeded'); // busybox `sh` with no stdin exits 0 at once
      expect(cmd).toEqual(imageCmd);
    } else {
      expect(res.status).toBe('error');
      expect(res.error).toMatch(/no command specified/i);
    }
    expect(await leftovers(s.taskId)).toEqual([]);
  });

  it('adopts a container this attempt left running (a restarted worker), with its earlier output', async () => {
    const s = spec({ attempt: 2, command: 'echo before; sleep 1; echo after; exit 4' });
    const leftover = await docker.createContainer(buildCreateOptions(s));
    await leftover.start();
    await new Promise((r) => setTimeout(r, 300));
    const out: Buffer[] = [];
    const res = await executor.run(s, { onOutput: (c) => out.push(c) });
    expect(res).toMatchObject({ status: 'failed', exitCode: 4 });
    expect(Buffer.concat(out).toString()).toBe('before\nafter\n');
    expect(await leftovers(s.taskId)).toEqual([]);
  });

  it('adopts a container that exited while no worker watched it, reporting its exit code', async () => {
    const s = spec({ attempt: 3, command: 'echo done early; exit 7' });
    const leftover = await docker.createContainer(buildCreateOptions(s));
    await leftover.start();
    await leftover.wait();
    const out: Buffer[] = [];
    const res = await executor.run(s, { onOutput: (c) => out.push(c) });
    expect(res).toMatchObject({ status: 'failed', exitCode: 7 });
    expect(Buffer.concat(out).toString()).toBe('done early\n');
    expect(await leftovers(s.taskId)).toEqual([]);
  });

  it("keeps the engine's own log of a chatty task to a few files of the log cap, while the attempt still gets every byte", async () => {
    // 8 MiB in lines of 1,000: the engine rotates its log at 1 MiB (the cap), keeping 3 files.
    const s = spec({ logCapBytes: 1024 * 1024, command: "yes $(printf '%0999d' 0) | head -c 8388608" });
    let containerId = '';
    let engineLog = -1;
    let logConfig: unknown = null;
    let delivered = 0;
    const res = await executor.run(s, {
      onOutput: (chunk) => void (delivered += chunk.length),
      onStarted: ({ containerId: id }) => void (containerId = id),
      // Before the container is removed: what `docker logs` still has of it.
      onOutcome: async () => {
        const c = docker.getContainer(containerId);
        logConfig = (await c.inspect()).HostConfig.LogConfig;
        engineLog = ((await c.logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer).length;
      },
    });
    expect(res.status).toBe('succeeded');
    expect(delivered).toBe(8 * 1024 * 1024);
    expect(engineLog).toBeGreaterThan(0);
    expect(engineLog).toBeLessThan(3.5 * 1024 * 1024);
    expect(logConfig).toEqual({ Type: 'json-file', Config: { 'max-size': '1024k', 'max-file': '3' } });
    expect(await leftovers(s.taskId)).toEqual([]);
  });

  it('adopts a container whose engine log was rotated, replaying what the engine kept', async () => {
    const s = spec({ attempt: 2, logCapBytes: 1024 * 1024, command: "yes $(printf '%0999d' 0) | head -c 4194304; echo; echo the-end; sleep 1" });
    const leftover = await docker.createContainer(buildCreateOptions(s));
    await leftover.start();
    await new Promise((r) => setTimeout(r, 500));
    const out: Buffer[] = [];
    const res = await executor.run(s, { onOutput: (c) => out.push(c) });
    expect(res).toMatchObject({ status: 'succeeded', exitCode: 0 });
    const text = Buffer.concat(out).toString();
    expect(text.endsWith('\nthe-end\n')).toBe(true);
    expect(text.length).toBeGreaterThan(1024 * 1024);
    expect(text.length).toBeLessThan(3.5 * 1024 * 1024);
    expect(await leftovers(s.taskId)).toEqual([]);
  });

  it('removes the container a redelivered attempt left running when the attempt ends before adopting it (refused, cancelled)', async () => {
    for (const end of ['refused', 'cancelled'] as const) {
      const s = spec({ attempt: 2, command: 'sleep 60' });
      const leftover = await docker.createContainer(buildCreateOptions(s));
      await leftover.start();
      const aborted = new AbortController();
      aborted.abort();
      const res = end === 'refused'
        ? await executor.run({ ...s, network: 'host', redelivered: true })
        : await executor.run({ ...s, redelivered: true }, { signal: aborted.signal });
      expect(res.status).toBe(end === 'refused' ? 'error' : 'cancelled');
      expect(await leftovers(s.taskId), end).toEqual([]);
    }
  });

  it('discards the container of an attempt it no longer owns', async () => {
    const s = spec({ attempt: 1, command: 'sleep 60' });
    const leftover = await docker.createContainer(buildCreateOptions(s));
    await leftover.start();
    expect(await executor.discard(s.taskId, 1)).toBe(true);
    expect(await leftovers(s.taskId)).toEqual([]);
    expect(await executor.discard(s.taskId, 1)).toBe(false);
  });

  it('discards the anonymous /tmp volume of a task with outputs with its container', async () => {
    const s = spec({ attempt: 1, command: 'echo data > /tmp/out; sleep 60', outputs: { out: '/tmp/out' } });
    const leftover = await docker.createContainer(buildCreateOptions(s));
    const volumes = ((await leftover.inspect()).Mounts ?? []).filter((m) => m.Type === 'volume' && m.Destination === '/tmp').map((m) => m.Name as string);
    expect(volumes).toHaveLength(1);
    try {
      await leftover.start();
      expect(await executor.discard(s.taskId, 1)).toBe(true);
      expect(await leftovers(s.taskId)).toEqual([]);
      const left = await docker.listVolumes({ filters: { name: volumes } });
      expect((left.Volumes ?? []).map((v) => v.Name).filter((n) => volumes.includes(n))).toEqual([]);
    } finally {
      for (const v of volumes) await docker.getVolume(v).remove().catch(() => undefined);
    }
  });

  it('reports a command that cannot be executed as failed, exit 127, the reason in its log', async () => {
    // The engine's init (HostConfig.Init, for SIGTERM: container-kill.ts) starts, then cannot run
    // the command: as a shell's "command not found", not a start the engine refused.
    const s = spec({ command: ['/no/such/binary', 'x'] });
    const out = collector();
    const res = await executor.run(s, { onOutput: out.onOutput });
    expect(res).toMatchObject({ status: 'failed', exitCode: 127, error: 'exited with code 127' });
    expect(out.text('stderr')).toMatch(/\/no\/such\/binary/);
    expect(await leftovers(s.taskId)).toEqual([]);
  });

  it('reports impossible limits as an error', async () => {
    const s = spec({ cpu: 512 });
    const res = await executor.run(s);
    expect(res.status).toBe('error');
    expect(res.error).toMatch(/cannot create container from image ".*": .*CPUs/);
    expect(await leftovers(s.taskId)).toEqual([]);
  });

  it('says when a run was killed for using too much memory', async () => {
    const s = spec({ memoryMb: 16, command: 'dd if=/dev/zero of=/dev/null bs=64M count=1' });
    const res = await executor.run(s);
    expect(res.status).toBe('failed');
    expect(res.exitCode).toBe(137);
    // Docker 20.10 on cgroup v1 sometimes leaves State.OOMKilled false for a container the
    // kernel killed for memory (the executor re-reads it for 0.5 s); the exit code is certain.
    expect(res.error).toMatch(/^exited with code 137(; killed: out of memory \(limit 16 MiB\))?$/);
    expect(await leftovers(s.taskId)).toEqual([]);
  });

  it('delivers all output, even a lot of it, before resolving', async () => {
    const s = spec({ command: 'seq 1 50000; seq 1 20000 >&2' });
    let stdoutBytes = 0;
    let stderrBytes = 0;
    const out: Buffer[] = [];
    const res = await executor.run(s, {
      onOutput: (chunk, stream) => {
        if (stream === 'stdout') {
          stdoutBytes += chunk.length;
          out.push(chunk);
        } else stderrBytes += chunk.length;
      },
    });
    expect(res.status).toBe('succeeded');
    const expected = (n: number) => Array.from({ length: n }, (_, i) => `${i + 1}\n`).join('');
    expect(stdoutBytes).toBe(Buffer.byteLength(expected(50000)));
    expect(stderrBytes).toBe(Buffer.byteLength(expected(20000)));
    expect(Buffer.concat(out).toString()).toBe(expected(50000));
  });

  it('pulls an image that is not present locally from the registry', async () => {
    // A tag of our own, so that parallel runs (and other suites using remote-busybox:latest)
    // cannot pull it, or need it, between our rmi and our run; and an image of our own behind it
    // (its digest unique), whose manifest is deleted from the registry at the end: deleting a
    // manifest deletes every tag on its digest, and `latest` has IMAGE's. A registry that does not
    // delete gets one fixed tag instead, pushed again each run, so tags do not pile up there.
    const deletes = await registryDeletes();
    const ref = `${REGISTRY}/jarvis-test/remote-busybox:${deletes ? `executor-${randomUUID().slice(0, 8)}` : 'executor'}`;
    const messages: string[] = [];
    const logger: ExecutorLogger = {
      info: (_o, m) => void messages.push(m ?? ''),
      warn: (_o, m) => void messages.push(m ?? ''),
      error: (_o, m) => void messages.push(m ?? ''),
    };
    const pulling = new DockerExecutor({ docker, logger });
    const s = spec({ image: ref, command: 'echo pulled and ran' });
    const out = collector();
    try {
      if (deletes) {
        await commitUnique(ref);
        await pushTo(ref);
      } else await pushTo(ref, IMAGE);
      await docker.getImage(ref).remove(); // the layers stay, shared with IMAGE
      expect(await imageExists(ref)).toBe(false);
      const res = await pulling.run(s, { onOutput: out.onOutput });
      expect(res.status).toBe('succeeded');
      expect(out.text('stdout')).toBe('pulled and ran\n');
      expect(messages).toContain('pulling image');
      expect(messages).toContain('image pulled');
      expect(await imageExists(ref)).toBe(true);
      expect(await leftovers(s.taskId)).toEqual([]);
    } finally {
      await docker
        .getImage(ref)
        .remove({ force: true })
        .catch(() => undefined);
      if (deletes) await deleteFromRegistry(ref);
    }
  });

  it('findJarvisContainers lists only labelled containers', async () => {
    const taskId = randomUUID();
    const c = await docker.createContainer({
      Image: IMAGE,
      Cmd: ['true'],
      Labels: { 'jarvis.task_id': taskId, 'jarvis.attempt': '4' },
      HostConfig: { NetworkMode: 'none' },
    });
    const unlabelled = await docker.createContainer({ Image: IMAGE, Cmd: ['true'], HostConfig: { NetworkMode: 'none' } });
    try {
      const all = await findJarvisContainers(docker);
      expect(all.find((x) => x.taskId === taskId)).toEqual({ id: c.id, taskId, attempt: 4, state: 'created' });
      expect(all.find((x) => x.id === unlabelled.id)).toBeUndefined();
    } finally {
      await c.remove({ force: true });
      await unlabelled.remove({ force: true });
    }
  });
});
