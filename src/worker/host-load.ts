// The host's load as heartbeats report it, shared by every node agent of the process.
import si from 'systeminformation';

/**
 * The host's CPU load and memory, sampled at most once a second: the simulated nodes of one
 * process share a host, and a thousand of them must not each read /proc on every heartbeat.
 */
let hostSample: { at: number; value: Promise<{ load: si.Systeminformation.CurrentLoadData; mem: si.Systeminformation.MemData }> } | null = null;
export function hostLoad() {
  if (!hostSample || Date.now() - hostSample.at > 1_000) {
    const value = Promise.all([si.currentLoad(), si.mem()]).then(([load, mem]) => ({ load, mem }));
    hostSample = { at: Date.now(), value };
    value.catch(() => (hostSample = null));
  }
  return hostSample.value;
}
