// Where a webhook may post (docs/security.md, "Webhooks"): the control plane sends requests to
// URLs its users give, so a URL must be http(s) with no credentials in it, its host on the
// allow-list when there is one, and — unless allowed — the addresses it resolves to must not be
// private, loopback, link-local or unique-local (the cluster's own services, cloud metadata).
//   urlProblem(url, rules)            at POST /webhooks: null, or what is wrong;
//   addressProblem(host, rules)       before each attempt, on the resolved addresses.
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

export interface DestinationRules {
  allowedHosts: string[];
  allowPrivate: boolean;
}

const PRIVATE = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
] as const) {
  PRIVATE.addSubnet(net, bits, 'ipv4');
}
for (const [net, bits] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
] as const) {
  // (IPv4-mapped addresses are checked as the IPv4 address they carry, below: a ::ffff:0:0/96
  // rule would make BlockList match every IPv4 address.)
  PRIVATE.addSubnet(net, bits, 'ipv6');
}

export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  if (family === 6 && address.toLowerCase().startsWith('::ffff:') && isIP(address.slice(7)) === 4) return PRIVATE.check(address.slice(7), 'ipv4');
  return PRIVATE.check(address, family === 4 ? 'ipv4' : 'ipv6');
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
  `address ${addr} is private, loopback or link-local, which webhooks may not reach on this server: set webhooks.allow_private_addresses (JARVIS_WEBHOOK_ALLOW_PRIVATE_ADDRESSES=true) if it should`;

/** Resolves the host as the request will and refuses a private address unless allowed. */
export async function addressProblem(url: URL, rules: DestinationRules): Promise<string | null> {
  if (rules.allowPrivate) return null;
  const host = bare(url.hostname);
  const addresses = isIP(host) ? [host] : (await lookup(host, { all: true }).catch(() => [])).map((a) => a.address);
  const bad = addresses.find(isPrivateAddress);
  return bad ? privateMessage(bad) : null;
}
