// Who a use case acts for, as far as tenants go: the tenant its submissions belong to, and the
// tenant whose work it may see and act on (null: every tenant, for operators and admins). Another
// tenant's task or workflow is "not found" to it, never "forbidden", so nothing leaks its existence.
export interface Actor {
  tenant: string;
  sees: string | null;
}

/** Open mode and internal callers: tenant "default", sees everything. */
export const EVERYONE: Actor = Object.freeze({ tenant: 'default', sees: null });

export function canSee(actor: Actor, tenant: string): boolean {
  return actor.sees === null || actor.sees === tenant;
}
