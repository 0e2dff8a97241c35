// How locked down a task's container is. Two parts:
// - the node's hardening (worker.security in the config): user, pids limit, read-only root, /tmp
//   size, capabilities added back. The same for every task on the node.
// - the job's `security` object: what the task's tenant allows beyond the restricted profile
//   (host network, host mounts). The control plane fills it from the tenant's policy; a job
//   without it gets the default, which allows neither.
// Never configurable: privileged mode (always off), no-new-privileges (always on), CapDrop ALL.
import type { Config } from '../config/index.ts';
import type { ADDABLE_CAPABILITIES } from '../domain/container.ts';
import { ContainerSecurity } from '../domain/container.ts';

export { ADDABLE_CAPABILITIES, ContainerSecurity, HostMount } from '../domain/container.ts';

export const RESTRICTED: ContainerSecurity = Object.freeze({ allowHostNetwork: false, allowHostMounts: false, mounts: [] });

/** The node's side, from worker.security in the config. */
export interface Hardening {
  /** uid[:gid] (or a user name the image knows) the task runs as; null: the image's own user. */
  user: string | null;
  pidsLimit: number;
  readOnlyRootFs: boolean;
  /** Size of the writable tmpfs at /tmp, MiB (it counts against the task's memory limit). */
  tmpSizeMb: number;
  capAdd: Array<(typeof ADDABLE_CAPABILITIES)[number]>;
}

/** The defaults of config/default.yaml: the restricted profile. */
export const DEFAULT_HARDENING: Hardening = Object.freeze({
  user: '65534:65534',
  pidsLimit: 1024,
  readOnlyRootFs: true,
  tmpSizeMb: 64,
  capAdd: [],
});

export function hardeningFromConfig(c: Config['worker']['security']): Hardening {
  return { user: c.user, pidsLimit: c.pids_limit, readOnlyRootFs: c.read_only_root_fs, tmpSizeMb: c.tmp_size_mb, capAdd: [...c.cap_add] };
}

const isAbsoluteClean = (p: string) => p.startsWith('/') && !p.split('/').includes('..') && !p.includes('\0');

/**
 * Why a task must not run on this node, naming the rule it breaks, or null when it may. The
 * control plane refuses such a task with a 403 before it is queued; this is the node's own check,
 * so a job that got through anyway (an older control plane, a forged job) still does not run.
 */
export function securityRefusal(task: { network: string; security?: ContainerSecurity }): string | null {
  const security = task.security ?? RESTRICTED;
  if (task.network === 'host' && !security.allowHostNetwork) {
    return 'network "host" is not allowed by the tenant\'s policy (allowHostNetwork is false); use "none" or "bridge", or ask an admin to allow host networking';
  }
  if (security.mounts.length > 0 && !security.allowHostMounts) {
    return `host mounts (${security.mounts.map((m) => m.source).join(', ')}) are not allowed by the tenant's policy (allowHostMounts is false)`;
  }
  for (const m of security.mounts) {
    if (!isAbsoluteClean(m.source) || !isAbsoluteClean(m.target)) {
      return `host mount ${m.source} -> ${m.target}: both paths must be absolute, without ".."`;
    }
    const target = m.target.replace(/\/+$/, '') || '/';
    if (target === '/' || target === '/tmp') {
      return `host mount ${m.source} -> ${m.target}: cannot mount over / or /tmp`;
    }
  }
  return null;
}
