// Who may do what: each role's permissions, and whether it reaches every tenant's work or only
// its own. Routes name a permission (src/api/auth/route-policy.ts); this file decides.
import type { Role } from './keys.ts';

export type Permission =
  | 'tasks:read'
  | 'tasks:submit'
  | 'tasks:cancel'
  | 'tasks:retry'
  | 'nodes:read'
  | 'nodes:manage'
  /** Joining the cluster: a node is handed any tenant's tasks and their secrets. */
  | 'nodes:register'
  | 'queues:board'
  /** /metrics when it is not public: every tenant's names, usage and backlog are in it. */
  | 'metrics:read'
  | 'keys:manage'
  | 'audit:read'
  | 'secrets:manage'
  | 'webhooks:manage'
  | 'tenants:read'
  | 'tenants:manage';

const GRANTS: Record<Role, readonly Permission[]> = {
  viewer: ['tasks:read', 'tenants:read'],
  submitter: ['tasks:read', 'tenants:read', 'tasks:submit', 'tasks:cancel', 'tasks:retry', 'secrets:manage', 'webhooks:manage'],
  operator: ['tasks:read', 'tenants:read', 'tasks:cancel', 'nodes:read', 'nodes:manage', 'queues:board', 'metrics:read', 'webhooks:manage'],
  admin: [
    'tasks:read',
    'tasks:submit',
    'tasks:cancel',
    'tasks:retry',
    'nodes:read',
    'nodes:manage',
    'nodes:register',
    'queues:board',
    'metrics:read',
    'keys:manage',
    'audit:read',
    'secrets:manage',
    'webhooks:manage',
    'tenants:read',
    'tenants:manage',
  ],
};

/** Roles from least to most powerful, for naming the one a refused request needs. */
const ORDER: readonly Role[] = ['viewer', 'submitter', 'operator', 'admin'];

export function allows(role: Role, permission: Permission): boolean {
  return GRANTS[role].includes(permission);
}

/** The least powerful role that has the permission (named in a 403). */
export function roleNeeded(permission: Permission): Role {
  return ORDER.find((r) => allows(r, permission)) ?? 'admin';
}

/** Operators and admins see and act on every tenant's work; the others only on their own. */
export function reachesEveryTenant(role: Role): boolean {
  return role === 'admin' || role === 'operator';
}
