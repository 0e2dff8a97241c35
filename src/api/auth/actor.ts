// The tenant rules of a request, from the principal the auth middleware found: submissions go to
// the key's tenant; viewers and submitters see only their tenant's work, operators and admins
// every tenant's (or the one they ask for with ?tenant=).
import type { Context } from 'hono';
import { OPEN_MODE, tenantScope } from '../../auth/principal.ts';
import type { Actor } from '../../control/actor.ts';

export function actorOf(c: Context, askedTenant?: string | null): Actor {
  const p = c.get('principal') ?? OPEN_MODE;
  return { tenant: p.tenant, sees: tenantScope(p, askedTenant ?? null) };
}
