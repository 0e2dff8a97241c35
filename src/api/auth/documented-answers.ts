// The answers every route can give besides its own, for /openapi.json: a body can be unreadable
// (400) or too large (413); a route behind a key can refuse it (401), its role (403) or its rate
// (429); a route that takes a key or the registration token answers 429 to an address with too
// many refused. Derived from the route table, so the document follows the rules.
import { ROUTE_RULES } from './route-policy.ts';

export function documentedAnswers(publicMetrics: boolean) {
  return (method: string, path: string, op: { hasBody: boolean }): Record<string, string> => {
    const out: Record<string, string> = {};
    if (op.hasBody) {
      out['400'] = 'The body could not be read (not UTF-8, or JSON nested deeper than FastAPI reads)';
      out['413'] = 'Request body too large (server.max_body_bytes; a workflow or batch: server.max_workflow_body_bytes)';
    }
    const rule = ROUTE_RULES[`${method} ${path.replace(/\{([^}]+)\}/g, ':$1')}`];
    const keyed = rule?.kind === 'key' || (path === '/metrics' && !publicMetrics);
    if (keyed) {
      out['401'] = 'Not authenticated: no key, or an unknown or revoked one (WWW-Authenticate: Bearer)';
      out['403'] = "The key's role may not do this (the detail names the role needed)";
      out['429'] = "Over the key's rate limit (Retry-After, RateLimit and RateLimit-Policy headers), or too many refused keys from this address (auth.refusals_per_s; Retry-After)";
    }
    if (rule?.kind === 'node') {
      out['401'] ??= 'Missing or wrong registration or node token';
      if (rule.guessable) out['429'] = 'Too many refused credentials from this address (auth.refusals_per_s; Retry-After)';
    }
    return out;
  };
}
