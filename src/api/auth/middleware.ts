// Authentication, authorisation, rate limiting and auditing of every request, before its route
// runs. The matched route's rule comes from route-policy.ts; the principal it finds is left in
// the context (`c.get('principal')`) for the routes' tenant rules.
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context, MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import type { Logger } from 'pino';
import type { AuditTrail } from '../../auth/audit-trail.ts';
import type { Authenticator } from '../../auth/authenticator.ts';
import { bearerToken, sameSecret } from '../../auth/keys.ts';
import { allows, roleNeeded } from '../../auth/policy.ts';
import { isLoopbackHost, OPEN_MODE, OPEN_MODE_HOST_REFUSED, type Principal } from '../../auth/principal.ts';
import { rateLimitHeaders, retryAfterSeconds, type RateLimiter } from '../../auth/rate-limit.ts';
import { heldOffDetail, type RefusalGuard } from '../../auth/refusal-guard.ts';
import { ForbiddenError, HttpError, UnauthorizedError } from '../fastapi/index.ts';
import { BOARD_RULE, DOCS_PATHS, DOCS_RULE, METRICS_RULE, ROUTE_RULES, UI_PATH, UI_RULE, type RouteRule } from './route-policy.ts';

declare module 'hono' {
  interface ContextVariableMap {
    principal: Principal;
    /** What a change created (its id or name), set by the route for the audit record's target. */
    auditTarget: string;
  }
}

export interface AuthMiddlewareDeps {
  authenticator: Authenticator;
  rateLimiter: RateLimiter;
  /** Refused credentials per client address (auth.refusals_per_s). */
  refusals: RefusalGuard;
  audit: AuditTrail;
  logger: Logger;
  /** Requests per second of a key without its own limit. */
  defaultRatePerS: number;
  publicMetrics: boolean;
  /** auth.public_docs: false puts the API's description behind a key. */
  publicDocs?: boolean;
  /** server.insecure: open mode was allowed on any address, and answers any Host name. */
  openModeAnyHost?: boolean;
  boardPath: string;
  /**
   * `jarvis up`'s own worker's registration token (24 random bytes, made by this run, as a
   * generated key is made): shown from a held-off address, it is still let through to POST
   * /nodes/register. nodes.registration_token is not: an operator chose it, and its length says
   * nothing of how it was made.
   */
  localNodeToken?: string | null;
}

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The rule of the route this request matched, or undefined when no route matched (404/405). */
export function ruleFor(c: Context, boardPath: string): { rule: RouteRule | undefined; matched: boolean } {
  if (c.req.path === boardPath || c.req.path.startsWith(`${boardPath}/`)) return { rule: BOARD_RULE, matched: true };
  if (c.req.path === UI_PATH || c.req.path.startsWith(`${UI_PATH}/`)) return { rule: UI_RULE, matched: true };
  const routes = matchedRoutes(c).filter((r) => r.method !== 'ALL');
  const last = routes[routes.length - 1];
  if (!last) return { rule: undefined, matched: false };
  const method = last.method === 'HEAD' ? 'GET' : last.method;
  return { rule: ROUTE_RULES[`${method} ${last.path}`], matched: true };
}

/**
 * Where the dashboard's in-process API calls (src/ui/api-client.ts) carry the address of the
 * browser they are made for: a binding of the call (`app.request`'s env), which only code in this
 * process can set — never a header, which any client could send.
 */
export const DASHBOARD_CLIENT = Symbol('jarvis.dashboardClient');

/** The bindings of a dashboard's in-process call made for the browser at `client`. */
export const dashboardCall = (client: string | null): Record<symbol, string | null> => ({ [DASHBOARD_CLIENT]: client });

/**
 * The client's address, as audit records name it (null when the server cannot tell): the
 * browser's for a call the dashboard made for it, else the connection's.
 */
export function clientAddress(c: Context): string | null {
  const env = c.env as Record<symbol, unknown> | undefined;
  if (env && DASHBOARD_CLIENT in env) return typeof env[DASHBOARD_CLIENT] === 'string' ? env[DASHBOARD_CLIENT] : null;
  try {
    return getConnInfo(c).remote.address ?? null;
  } catch {
    return null;
  }
}

export function authMiddleware(deps: AuthMiddlewareDeps): MiddlewareHandler {
  let lastRedisWarning = 0;

  return async (c, next) => {
    const found = ruleFor(c, deps.boardPath);
    if (!found.matched) return next(); // Not Found / Method Not Allowed, answered as FastAPI does
    let rule = found.rule;
    if (rule?.kind === 'public') {
      if (c.req.path === '/metrics' && !deps.publicMetrics) rule = METRICS_RULE;
      else if (DOCS_PATHS.has(c.req.path) && deps.publicDocs === false) rule = DOCS_RULE;
      else return next();
    }
    if (rule?.kind === 'node' && !rule.audit) return next();
    // The client's address, read when a record or a refusal needs it (most requests need neither).
    let client: string | null | undefined;
    const clientOf = () => (client === undefined ? (client = clientAddress(c)) : client);
    // A credential shown where it could be guessed (a key, the registration token): refusals
    // count per address, and an address that has had too many is held off: what it shows is
    // refused unchecked (429), unless it is a generated key (random by construction, so no guess
    // finds one) that turns out right (heldOffPasses), so others' guesses from the same address
    // (a NAT, a proxy) lock out no one who holds a generated key, and a guess at any chosen
    // secret (JARVIS_ADMIN_KEY, the registration token), however long, still learns nothing.
    const credential = rule?.kind === 'node' && !rule.guessable ? undefined : c.req.header('authorization');
    const heldOff = credential && deps.refusals.anyHeld ? deps.refusals.heldOff(clientOf()) : 0;
    /** The key's check, made already when a held-off address showed it (undefined: not yet). */
    let checked: Awaited<ReturnType<Authenticator['authenticate']>> | undefined;
    const heldOffPasses = async (): Promise<boolean> => {
      const token = bearerToken(credential);
      if (rule?.kind === 'node' && token && deps.localNodeToken && sameSecret(deps.localNodeToken, token)) return true;
      checked = await deps.authenticator.authenticateHeldOff(token);
      return checked.ok;
    };
    const action = rule?.kind === 'key' ? rule.action : rule?.kind === 'node' && rule.audit ? rule.audit : `${c.req.method} ${c.req.path}`;

    const record = (p: Principal | null, status: number, created?: string | null) =>
      deps.audit.record({
        at: new Date(),
        keyId: p?.keyId ?? null,
        keyName: p?.name ?? null,
        tenant: p?.tenant ?? null,
        role: p?.role ?? null,
        action,
        target: c.req.param('id') ?? c.req.param('name') ?? created ?? null,
        status,
        client: clientOf(),
        requestId: c.get('requestId') ?? null,
      });

    if (heldOff && !(await heldOffPasses())) {
      record(null, 429);
      throw heldOffError(heldOff);
    }
    if (rule?.kind === 'node') {
      // The route checks the node's token itself; who joined the cluster, or asked for a task's
      // secret values, and every refusal, is recorded (no key: a node is not a key's holder).
      await next();
      record(null, c.res.status);
      if (c.res.status === 401 && credential) await deps.refusals.refused(clientOf());
      return;
    }
    const auth = checked ?? (await deps.authenticator.authenticate(bearerToken(credential)));
    if (!auth.ok) {
      record(null, 401);
      // A key was shown and refused (no key at all is no guess).
      if (credential) await deps.refusals.refused(clientOf());
      throw new UnauthorizedError('Not authenticated');
    }
    const p = auth.principal;
    if (p === OPEN_MODE && !deps.openModeAnyHost && !isLoopbackHost(c.req.header('host'))) {
      record(null, 403);
      throw new ForbiddenError(OPEN_MODE_HOST_REFUSED);
    }
    const permission = rule?.kind === 'key' ? rule.permission : null;
    if (!permission || !allows(p.role, permission)) {
      record(p, 403);
      if (!permission) {
        deps.logger.error({ method: c.req.method, path: c.req.path }, 'auth: a route has no access rule (src/api/auth/route-policy.ts); refused');
        throw new ForbiddenError('This route has no access rule; it is refused to everyone');
      }
      throw new ForbiddenError(`This needs the ${roleNeeded(permission)} role; your key has the ${p.role} role`);
    }

    if (p !== OPEN_MODE) {
      const rate = p.rateLimitPerS ?? deps.defaultRatePerS;
      const bucket = p.keyId ?? `env:${p.name}`;
      const decision = await deps.rateLimiter.take(bucket, rate).catch((err: Error) => {
        // Redis down: every write fails with 503 anyway; reads go on without a limit.
        if (Date.now() - lastRedisWarning > 60_000) {
          lastRedisWarning = Date.now();
          deps.logger.warn({ err: { message: err.message } }, 'auth: rate limits not enforced while Redis is unavailable');
        }
        return null;
      });
      if (decision) {
        const headers = rateLimitHeaders(decision);
        if (!decision.allowed) {
          record(p, 429);
          const seconds = retryAfterSeconds(decision.retryAfterMs);
          throw new HttpError(429, `Rate limit exceeded: this key may make ${rate} requests per second; retry in ${seconds} s`, {
            headers: { ...headers, 'Retry-After': String(seconds) },
          });
        }
        // Set before the route answers, so they go out with its response as it is built: set on
        // c.res afterwards, they made @hono/node-server turn every keyed answer into a full
        // Response object (its slow path), ~12 % of a POST /tasks's rate (bench (f)).
        for (const [k, v] of Object.entries(headers)) c.header(k, v);
      }
    }
    c.set('principal', p);
    await next();
    // Changes, and the route's own refusals of a read (429: too many log streams open).
    if (!READS.has(c.req.method) || c.res.status === 429) record(p, c.res.status, c.get('auditTarget') ?? null);
  };
}

function heldOffError(ms: number): HttpError {
  return new HttpError(429, heldOffDetail(ms), { headers: { 'Retry-After': String(retryAfterSeconds(ms)) } });
}
