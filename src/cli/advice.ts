// Words for settings that do not do what they look like they do: JARVIS_API_KEY on a worker, and
// what "no keys" means for the API this configuration would start.

/** The bind addresses on which open mode (no key) is allowed without --insecure. */
export const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|::1|\[::1\])$/;

/**
 * A worker registers with nodes.registration_token (JARVIS_REGISTRATION_TOKEN) only: the CLI's
 * JARVIS_API_KEY is not sent. Said when that is set and no token is, since registration is then
 * refused once keys are in use. Null: nothing to say.
 */
export function apiKeyUnusedWarning(env: NodeJS.ProcessEnv, cfg: { nodes: { registration_token: string | null } }): string | null {
  if (!env.JARVIS_API_KEY?.trim() || cfg.nodes.registration_token) return null;
  return (
    'JARVIS_API_KEY is not used by `jarvis worker`; put the registration token (or an admin key) in JARVIS_REGISTRATION_TOKEN ' +
    '(or nodes.registration_token in a --config file). Without either, only a control plane with no API keys and no registration token accepts this worker'
  );
}

/**
 * `jarvis keys list` found no key: what that means for a control plane started with this
 * configuration (server.host, server.insecure / JARVIS_INSECURE, JARVIS_ADMIN_KEY).
 */
export function noKeysMessage(server: { host: string; insecure: boolean }, adminKey: string | null): string {
  const create = 'create one with `jarvis keys create --name NAME --role admin`';
  if (adminKey) return `no keys in the database; open mode is off because JARVIS_ADMIN_KEY is set: every request needs that key (${create})`;
  if (LOOPBACK.test(server.host)) return `no keys: the API is in open mode, no key needed, answering only on loopback (${server.host}) (${create})`;
  if (server.insecure) {
    return `no keys: the API is in open mode on ${server.host} because of --insecure (JARVIS_INSECURE): anyone who can reach it can run any container; ${create}`;
  }
  return `no keys: a control plane on ${server.host} refuses to start until a key exists or JARVIS_ADMIN_KEY is set (--insecure allows open mode); ${create}`;
}
