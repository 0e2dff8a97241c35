// How often nodes heartbeat, and when silence means trouble. As Nomad does, the period grows
// with the cluster so the control plane takes at most `maxPerSecond` heartbeats a second: 1,000
// nodes at the 5 s default would send 200 a second (each an HTTP request and a row written),
// about a fifth of a core of the control plane's, the workers' and PostgreSQL's time together.
// The control plane tells each node its period in the heartbeat answer (HEARTBEAT_PERIOD_HEADER).

/** The answer header of POST /nodes/{id}/heartbeat that carries the node's next period, in seconds. */
export const HEARTBEAT_PERIOD_HEADER = 'x-jarvis-heartbeat-seconds';

/** The period for a cluster of `liveNodes`: the configured one, or longer so all of them stay within maxPerSecond. */
export function heartbeatPeriodSeconds(liveNodes: number, baseSeconds: number, maxPerSecond: number): number {
  return Math.max(baseSeconds, Math.ceil((liveNodes / maxPerSecond) * 10) / 10);
}

/**
 * Silence thresholds for a period: unhealthy after `missed` periods, offline after
 * offline_seconds but never before two more periods than that.
 */
export function silenceSeconds(periodSeconds: number, missed: number, offlineSeconds: number): { unhealthy: number; offline: number } {
  return { unhealthy: periodSeconds * missed, offline: Math.max(offlineSeconds, periodSeconds * (missed + 2)) };
}
