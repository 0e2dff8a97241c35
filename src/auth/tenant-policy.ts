// What a tenant's tasks may ask of a node beyond the restricted default: the host's network,
// and which images (allow-list by prefix). Set by an admin in the config file
// (`tenants.policies`); checked, with the policy as configured now, wherever a run is made: at
// submit (tasks, batches, workflows), at schedule create and at each schedule run, at a task's
// or workflow's retry, and by the scheduler before it places a task (scheduler/dispatcher.ts:
// what was accepted under a looser policy fails there); a task asking beyond its tenant's policy
// is a 403 naming the rule (a schedule's tick records it in last_error). The host network rule is also carried to the
// worker in the node job (`security`), which enforces it again on the container.
export interface TenantPolicy {
  allow_host_network: boolean;
  /** Image references must start with one of these, on a boundary (imageMatches); empty: any image. */
  image_prefixes: string[];
}

/** What may follow a prefix that does not end in one: a path, a tag or a digest. */
const BOUNDARY = ['/', ':', '@'];

/**
 * Whether an image reference is under a prefix of image_prefixes. A prefix ending in "/", ":" or
 * "@" is matched as it is; any other must be the whole reference or be followed by one of them,
 * so `registry.local` admits `registry.local/x`, `registry.local:5000/x` and `registry.local`,
 * never `registry.local.evil.io/x`; `docker.io/library/busybox` admits its tags and digests,
 * never `docker.io/library/busybox-evil`.
 */
export function imageMatches(image: string, prefix: string): boolean {
  if (!image.startsWith(prefix)) return false;
  if (image.length === prefix.length || BOUNDARY.includes(prefix[prefix.length - 1])) return true;
  return BOUNDARY.includes(image[prefix.length]);
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
  if (policy.image_prefixes.length > 0 && !policy.image_prefixes.some((p) => imageMatches(task.image, p))) {
    const bare = policy.image_prefixes.some((p) => !BOUNDARY.includes(p[p.length - 1]));
    const how = bare ? ', a prefix not ending in "/", ":" or "@" followed by one of them or by nothing' : '';
    return `image "${task.image}" is not allowed for tenant ${tenant}: images must start with ${policy.image_prefixes.map((p) => `"${p}"`).join(' or ')}${how} (tenants.policies.${tenant}.image_prefixes)`;
  }
  return null;
}
