// What a tenant's tasks may ask of a node beyond the restricted default: the host's network,
// and which images (allow-list by prefix). Set by an admin in the config file
// (`tenants.policies`); checked at submit, where a task asking beyond its tenant's policy is a
// 403 naming the rule, and carried to the worker in the node job (`security`), which enforces it
// again on the container.
export interface TenantPolicy {
  allow_host_network: boolean;
  /** Image references must start with one of these; empty: any image. */
  image_prefixes: string[];
}

export const RESTRICTED: TenantPolicy = Object.freeze({ allow_host_network: false, image_prefixes: [] }) as TenantPolicy;

export function policyFor(policies: Record<string, TenantPolicy>, tenant: string): TenantPolicy {
  return policies[tenant] ?? policies['*'] ?? RESTRICTED;
}

/** Why the policy refuses this task, in words naming the rule, or null when it allows it. */
export function policyRefusal(task: { image: string; network: string }, tenant: string, policy: TenantPolicy): string | null {
  if (task.network === 'host' && !policy.allow_host_network) {
    return `network "host" is not allowed for tenant ${tenant}: an admin must set tenants.policies.${tenant}.allow_host_network: true`;
  }
  if (policy.image_prefixes.length > 0 && !policy.image_prefixes.some((p) => task.image.startsWith(p))) {
    return `image "${task.image}" is not allowed for tenant ${tenant}: images must start with ${policy.image_prefixes.map((p) => `"${p}"`).join(' or ')} (tenants.policies.${tenant}.image_prefixes)`;
  }
  return null;
}
