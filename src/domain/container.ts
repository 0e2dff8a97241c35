// The words both sides use about a task's container: the capabilities a node may add back, and
// the job's `security` object (what the task's tenant allows beyond the restricted profile),
// which the control plane fills from the tenant's policy and the worker enforces. Here, below
// config, scheduler and worker alike, so none of them imports another for it.
import { z } from 'zod';

/**
 * Capabilities that may be added back after dropping ALL: at most Docker's own default set, never
 * more (no SYS_ADMIN, NET_ADMIN…). They only matter to a task running as root (worker.security.user
 * null and an image whose user is root): a non-root process gets none of them, and with
 * no-new-privileges a file capability cannot raise them either.
 */
export const ADDABLE_CAPABILITIES = [
  'AUDIT_WRITE',
  'CHOWN',
  'DAC_OVERRIDE',
  'FOWNER',
  'FSETID',
  'KILL',
  'MKNOD',
  'NET_BIND_SERVICE',
  'NET_RAW',
  'SETFCAP',
  'SETGID',
  'SETPCAP',
  'SETUID',
  'SYS_CHROOT',
] as const;

export const HostMount = z.object({
  /** Absolute path on the node. */
  source: z.string(),
  /** Absolute path in the container. */
  target: z.string(),
  readOnly: z.boolean().default(true),
});
export type HostMount = z.infer<typeof HostMount>;

/** What the task's tenant allows beyond the restricted profile. Default: nothing. */
export const ContainerSecurity = z.object({
  allowHostNetwork: z.boolean().default(false),
  allowHostMounts: z.boolean().default(false),
  /** Host paths the task asked for; run only when allowHostMounts. */
  mounts: z.array(HostMount).default([]),
});
export type ContainerSecurity = z.infer<typeof ContainerSecurity>;
