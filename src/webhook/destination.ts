// Where a webhook may post (docs/security.md, "Webhooks"): the control plane sends requests to
// URLs its users give, so a URL must be http(s) with no credentials in it, its host on the
// allow-list when there is one, and — unless allowed — the addresses it resolves to must be
// public unicast ones: not private, loopback, link-local, unique-local or any other special-purpose
// range (the cluster's own services, cloud metadata).
//   urlProblem(url, rules)            at POST /webhooks: null, or what is wrong;
//   addressProblem(host, rules)       before each attempt, on the resolved addresses.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

export interface DestinationRules {
  allowedHosts: string[];
  allowPrivate: boolean;
}

/**
 * Whether an address is anything but a public unicast one: private, loopback, link-local,
 * unique-local, carrier-grade NAT, multicast, broadcast, reserved or documentation ranges, and the
 * IPv6 forms that carry an IPv4 address elsewhere (NAT64 64:ff9b::/96, 6to4, Teredo), which could
 * reach a private one. ipaddr.js keeps the IANA special-purpose registries; an IPv4-mapped
 * address (::ffff:a.b.c.d) is judged as the IPv4 address it carries.
 */
export function isPrivateAddress(address: string): boolean {
  if (isIP(address) === 0) return false;
  let parsed: ipaddr.IPv4 | ipaddr.IPv6 = ipaddr.parse(address);
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) parsed = (parsed as ipaddr.IPv6).toIPv4Address();
  return parsed.range() !== 'unicast';
}

const bare = (host: string) => host.replace(/^\[(.*)\]$/, '$1').toLowerCase();

function hostAllowed(host: string, allowed: string[]): boolean {
  if (allowed.length === 0) return true;
  const h = bare(host);
  return allowed.some((a) => {
    const p = a.toLowerCase();
    return p.startsWith('*.') ? h.endsWith(p.slice(1)) : h === bare(p);
  });
}

export function urlProblem(raw: string, rules: DestinationRules): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'is not a URL: give an absolute http:// or https:// URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `scheme "${url.protocol.replace(/:$/, '')}" is not allowed: use http or https`;
  if (url.username || url.password) return 'must not hold a user name or password: authenticate the sender by the signature (X-Jarvis-Signature-256)';
  if (!hostAllowed(url.hostname, rules.allowedHosts)) return `host "${url.hostname}" is not in webhooks.allowed_hosts (${rules.allowedHosts.join(', ')})`;
  const literal = bare(url.hostname);
  if (!rules.allowPrivate && isIP(literal) && isPrivateAddress(literal)) return privateMessage(literal);
  if (!rules.allowPrivate && /^localhost$|\.localhost$/i.test(literal)) return privateMessage(literal);
  return null;
}

const privateMessage = (addr: string) =>
  `address ${addr} is not a public address (private, loopback, link-local or another special-purpose range), which webhooks may not reach on this server: set webhooks.allow_private_addresses (JARVIS_WEBHOOK_ALLOW_PRIVATE_ADDRESSES=true) if it should`;

/** Resolves the host as the request will and refuses a private address unless allowed. */
export async function addressProblem(url: URL, rules: DestinationRules): Promise<string | null> {
  if (rules.allowPrivate) return null;
  const host = bare(url.hostname);
  const addresses = isIP(host) ? [host] : (await lookup(host, { all: true }).catch(() => [])).map((a) => a.address);
  const bad = addresses.find(isPrivateAddress);
  return bad ? privateMessage(bad) : null;
}
