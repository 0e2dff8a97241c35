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

/** Docker Hub's name, and its legacy one (github.com/distribution/reference, normalize.go). */
const HUB = 'docker.io';
const LEGACY_HUB = 'index.docker.io';

/**
 * Whether the first component of a reference that has a "/" names a registry rather than a
 * Docker Hub account: it holds a "." or ":", is "localhost", or has an upper-case letter
 * (distribution/reference's splitDockerDomain, which the engine uses to pull).
 */
function namesRegistry(component: string): boolean {
  return /[.:]/.test(component) || component === 'localhost' || component !== component.toLowerCase();
}

/**
 * An image reference as the engine reads it: `busybox:1.36` is `docker.io/library/busybox:1.36`,
 * `team/app` is `docker.io/team/app`, `index.docker.io/x/y` is `docker.io/x/y`, and a reference
 * whose first component names a registry (`registry.local:5000/app`) is as written.
 */
export function canonicalImage(ref: string): string {
  const slash = ref.indexOf('/');
  let domain = HUB;
  let rest = ref;
  if (slash !== -1 && namesRegistry(ref.slice(0, slash))) {
    domain = ref.slice(0, slash);
    rest = ref.slice(slash + 1);
  }
  if (domain === LEGACY_HUB) domain = HUB;
  if (domain === HUB && rest !== '' && !rest.includes('/')) rest = `library/${rest}`; // not a prefix "docker.io/"
  return `${domain}/${rest}`;
}

/**
 * A prefix as the images it admits are read (canonicalImage), except a prefix with no "/" that
 * is a registry's host, with or without a port (`registry.local`, `localhost:5000`): that one is
 * the registry. So `busybox` is `docker.io/library/busybox` (its tags and digests, never the
 * account `busybox/x`), `busybox:` its tags, `team/` the account's images.
 */
export function canonicalPrefix(prefix: string): string {
  // A policy's few prefixes are read again for every task the scheduler places: read once.
  let read = READ_PREFIXES.get(prefix);
  if (read === undefined) {
    read = readPrefix(prefix);
    if (READ_PREFIXES.size < 1_000) READ_PREFIXES.set(prefix, read);
  }
  return read;
}

/** canonicalPrefix's answers, by prefix (the config's, so a handful; bounded all the same). */
const READ_PREFIXES = new Map<string, string>();

function readPrefix(prefix: string): string {
  if (!prefix.includes('/') && /^(localhost|[^:@]*\.[^:@]*)(:\d*)?$/.test(prefix)) return prefix.startsWith(`${LEGACY_HUB}`) ? HUB + prefix.slice(LEGACY_HUB.length) : prefix;
  return canonicalImage(prefix);
}

/**
 * Whether an image reference is under a prefix of image_prefixes, both read as the engine reads
 * them (canonicalImage, canonicalPrefix). A prefix ending in "/", ":" or "@" is matched as it
 * is; any other must be the whole reference or be followed by one of them, so `registry.local`
 * admits `registry.local/x` and `registry.local:5000/x`, never `registry.local.evil.io/x`;
 * `busybox` admits `busybox:1.36` and `docker.io/library/busybox@sha256:…`, never
 * `busybox-evil` or `busybox/x` (another Docker Hub account).
 */
export function imageMatches(image: string, prefix: string): boolean {
  const ref = canonicalImage(image);
  const p = canonicalPrefix(prefix);
  if (!ref.startsWith(p)) return false;
  if (ref.length === p.length || BOUNDARY.includes(p[p.length - 1])) return true;
  return BOUNDARY.includes(ref[p.length]);
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
    // A prefix the engine reads otherwise than written is shown as read too.
    const shown = policy.image_prefixes.map((p) => (canonicalPrefix(p) === p ? `"${p}"` : `"${p}" (read as "${canonicalPrefix(p)}")`));
    const reread = policy.image_prefixes.some((p) => canonicalPrefix(p) !== p) && canonicalImage(task.image) !== task.image;
    const read = reread ? ` (read as "${canonicalImage(task.image)}")` : '';
    return `image "${task.image}"${read} is not allowed for tenant ${tenant}: images must start with ${shown.join(' or ')}${how} (tenants.policies.${tenant}.image_prefixes)`;
  }
  return null;
}
