// Use cases for a tenant's secrets: put (the value sealed with the secret box, never shown
// again), list (names only) and delete. A request is about its key's tenant; only an admin's key
// may name another tenant, any other is refused (not "not found": the tenant was named outright).
import type { Principal } from '../auth/principal.ts';
import { Forbidden, NotFound, Unavailable } from '../domain/errors.ts';
import type { SecretInfo } from '../state/secret-store.ts';
import type { ControlDeps } from './deps.ts';

export type { SecretInfo };

/** The key a secrets request comes with: its tenant, and its role (an admin may name another tenant). */
export type SecretKeeper = Pick<Principal, 'tenant' | 'role'>;

/** The secret box's context for a secret: a sealed value copied to another name or tenant does not open. */
export const secretContext = (tenant: string, name: string) => `${tenant}/${name}`;

export class SecretControl {
  constructor(private readonly deps: Pick<ControlDeps, 'secrets' | 'secretBox'>) {}

  /** Creates or replaces a secret of the key's tenant, or of `tenant` (an admin's key). */
  async put(spec: { name: string; value: string; tenant?: string }, keeper: SecretKeeper): Promise<SecretInfo> {
    const tenant = tenantOf(keeper, spec.tenant);
    const box = this.deps.secretBox;
    if (!box) throw new Unavailable('Secrets are not enabled: start the control plane with JARVIS_SECRET_KEY (32 random bytes, e.g. openssl rand -base64 32)');
    const { info } = await this.deps.secrets.put(tenant, spec.name, box.seal(spec.value, secretContext(tenant, spec.name)));
    return info;
  }

  /** The tenant's secrets by name, without their values. */
  list(tenant: string | undefined, keeper: SecretKeeper): Promise<SecretInfo[]> {
    return this.deps.secrets.list(tenantOf(keeper, tenant));
  }

  async delete(name: string, tenant: string | undefined, keeper: SecretKeeper): Promise<void> {
    if (!(await this.deps.secrets.remove(tenantOf(keeper, tenant), name))) throw new NotFound('Secret not found');
  }
}

/** The tenant a secrets request is about: the key's own; an admin may name another. */
function tenantOf(keeper: SecretKeeper, asked: string | undefined): string {
  if (!asked || asked === keeper.tenant) return keeper.tenant;
  if (keeper.role !== 'admin') throw new Forbidden(`Only an admin may manage another tenant's secrets; your key belongs to tenant "${keeper.tenant}"`);
  return asked;
}
