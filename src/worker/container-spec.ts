// What a task attempt's container is, as the body of Docker's "create container" call: a pure
// function of the run spec and the node's hardening (no engine needed to build or test it).
import type Dockerode from 'dockerode';
import { DEFAULT_HARDENING, RESTRICTED, type Hardening } from './container-security.ts';
import type { RunSpec } from './executor.ts';
import { LABEL_GPUS } from './gpu-slots.ts';

export const LABEL_TASK_ID = 'jarvis.task_id';
export const LABEL_ATTEMPT = 'jarvis.attempt';

/** A container name Docker accepts: [a-zA-Z0-9][a-zA-Z0-9_.-]* */
export function containerName(taskId: string, attempt: number): string {
  return `jarvis-${taskId}-${attempt}`.replace(/[^a-zA-Z0-9_.-]/g, '_');
}

/**
 * The container's entrypoint and command. A string runs under `sh -c` (api.md), whatever
 * ENTRYPOINT the image has: `sh -c` is the entrypoint (with the image's, `git sh -c "…"` would
 * run). A list is the command, given to the image's entrypoint as `docker run IMAGE ARGS…` does.
 */
function commandOf(spec: RunSpec): Pick<Dockerode.ContainerCreateOptions, 'Entrypoint' | 'Cmd'> {
  if (spec.command === null) return {};
  if (typeof spec.command === 'string') return { Entrypoint: ['sh', '-c'], Cmd: [spec.command] };
  return { Cmd: spec.command };
}

/** The restricted profile, and what the tenant's policy adds to it (host mounts). */
function securityConfig(spec: RunSpec, hardening: Hardening): Dockerode.HostConfig {
  const security = spec.security ?? RESTRICTED;
  const config: Dockerode.HostConfig = {
    Privileged: false,
    SecurityOpt: ['no-new-privileges'],
    CapDrop: ['ALL'],
    PidsLimit: hardening.pidsLimit,
    ReadonlyRootfs: hardening.readOnlyRootFs,
    Tmpfs: { '/tmp': `rw,nosuid,nodev,size=${hardening.tmpSizeMb}m,mode=1777` },
  };
  if (hardening.capAdd.length) config.CapAdd = [...hardening.capAdd];
  const mounts: Dockerode.MountSettings[] = [];
  if (security.allowHostMounts && security.mounts.length) {
    mounts.push(...security.mounts.map((m) => ({ Type: 'bind' as const, Source: m.source, Target: m.target, ReadOnly: m.readOnly })));
  }
  // A tmpfs is gone once the container exits, before its outputs are read: a task that declares
  // outputs gets /tmp on an anonymous volume instead (removed with the container), which the
  // engine can still read from after the exit. It is on the node's disk, without tmpfs's size cap.
  if (Object.keys(spec.outputs ?? {}).length > 0 && !mounts.some((m) => m.Target === '/tmp')) {
    delete config.Tmpfs;
    mounts.push({ Type: 'volume', Source: '', Target: '/tmp' });
  }
  if (mounts.length) config.Mounts = mounts;
  return config;
}

/** CPU, memory and GPU limits. */
function resourceConfig(spec: RunSpec): Dockerode.HostConfig {
  const config: Dockerode.HostConfig = {};
  if (spec.cpu > 0) config.NanoCpus = Math.round(spec.cpu * 1e9);
  if (spec.memoryMb > 0) {
    config.Memory = Math.round(spec.memoryMb * 1024 * 1024);
    // No swap on top: memoryMb is the hard limit, so an over-limit task is OOM-killed, not slowed.
    config.MemorySwap = config.Memory;
  }
  if (spec.gpu > 0) {
    // The node's own choice of cards (GpuSlots): `Count` alone means cards 0..N-1 for everyone.
    const which = spec.gpuDevices?.length === spec.gpu ? { DeviceIDs: spec.gpuDevices } : { Count: spec.gpu };
    config.DeviceRequests = [{ Driver: 'nvidia', ...which, Capabilities: [['gpu']] }];
  }
  return config;
}

/** The log cap assumed when a spec does not give one (tasks.log_cap_bytes' default). */
const DEFAULT_LOG_CAP_BYTES = 10 * 1024 * 1024;
/** The least a rotated engine log file holds, whatever the cap (each line costs ~70 bytes more there). */
const MIN_ENGINE_LOG_FILE_BYTES = 1024 * 1024;
/** How many files the engine keeps of a container's log: the head of the output survives ~2 rotations. */
export const ENGINE_LOG_FILES = 3;

/**
 * What the engine keeps of the output. The worker reads it through attach, live, and stores at
 * most the log cap; the engine's own log serves `docker logs` and the replay of an adopted
 * container's output after a restart (attach with logs: true, which reads the rotated files too).
 * Docker's default json-file driver kept all of it, without limit, on the node's disk for as long
 * as the container lived. With the engine's default driver json-file or local (both rotate, both
 * read back) the container's log is rotated at the cap, ENGINE_LOG_FILES files (options of one
 * driver are refused by another); with any other default (journald, fluentd, …: the operator's
 * choice, which a forced json-file silently overrode) the engine's default is left as it is:
 * at most ~3 × the cap per container, and the head of the output, which is what the log holds,
 * is there to replay until the task printed some 2–3 times the cap (its JSON encoding) before
 * the restart. Past that an adopted attempt's log starts where the engine's oldest file does.
 */
function engineLogConfig(spec: RunSpec, engineLogDriver: string | null): Pick<Dockerode.HostConfig, 'LogConfig'> {
  if (engineLogDriver !== 'json-file' && engineLogDriver !== 'local') return {};
  const fileBytes = Math.max(spec.logCapBytes ?? DEFAULT_LOG_CAP_BYTES, MIN_ENGINE_LOG_FILE_BYTES);
  return { LogConfig: { Type: engineLogDriver, Config: { 'max-size': `${Math.ceil(fileBytes / 1024)}k`, 'max-file': String(ENGINE_LOG_FILES) } } };
}

/** `engineLogDriver`: the engine's default log driver (`docker info`), json-file when not given. */
export function buildCreateOptions(spec: RunSpec, hardening: Hardening = DEFAULT_HARDENING, engineLogDriver: string | null = 'json-file'): Dockerode.ContainerCreateOptions {
  return {
    name: containerName(spec.taskId, spec.attempt),
    Image: spec.image,
    ...commandOf(spec),
    ...(hardening.user ? { User: hardening.user } : {}),
    Env: Object.entries(spec.env ?? {}).map(([k, v]) => `${k}=${v}`),
    // Our labels last: a task cannot spoof the ones the worker uses to find its containers.
    Labels: {
      ...(spec.labels ?? {}),
      [LABEL_TASK_ID]: spec.taskId,
      [LABEL_ATTEMPT]: String(spec.attempt),
      // Read back after a restart, so an adopted container keeps its cards (GpuSlots.reserve).
      ...(spec.gpuDevices?.length ? { [LABEL_GPUS]: spec.gpuDevices.join(',') } : {}),
    },
    Tty: false,
    OpenStdin: false,
    AttachStdin: false,
    AttachStdout: true,
    AttachStderr: true,
    // Init: the engine's init (tini) is PID 1 and passes SIGTERM on (container-kill.ts): a task's
    // `sh -c` as PID 1 would ignore it, having no handler, and wait out the grace.
    HostConfig: { Init: true, NetworkMode: spec.network, ...engineLogConfig(spec, engineLogDriver), ...securityConfig(spec, hardening), ...resourceConfig(spec) },
  };
}
