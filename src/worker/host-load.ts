// The host's load as heartbeats report it, shared by every node agent of the process.
import { cpus } from 'node:os';
import si from 'systeminformation';

/** CPU times summed over the host's cores (ms), as os.cpus() reads them from the kernel. */
interface CpuTimes {
  idle: number;
  total: number;
}

function cpuTimes(): CpuTimes {
  let idle = 0;
  let total = 0;
  for (const { times: t } of cpus()) {
    idle += t.idle;
    total += t.user + t.nice + t.sys + t.idle + t.irq;
  }
  return { idle, total };
}

let lastTimes: CpuTimes | null = null;

/**
 * The share of the host's CPU time that was busy since the previous call (since boot on the
 * first), 0–100. From os.cpus(), read in this process: systeminformation's currentLoad runs
 * `cat /proc/stat | grep cpu` through a synchronous shell on Linux, which held the worker's event
 * loop and spawned three processes every second (1.7 % of a 1,000-node worker's CPU in bench (e),
 * not counting the processes it spawned).
 */
export function cpuPercent(): number {
  const now = cpuTimes();
  const prev = lastTimes ?? { idle: 0, total: 0 };
  lastTimes = now;
  const total = now.total - prev.total;
  if (total <= 0) return 0;
  return Math.min(100, Math.max(0, 100 * (1 - (now.idle - prev.idle) / total)));
}

/**
 * The host's CPU load (%) and memory, sampled at most once a second: the simulated nodes of one
 * process share a host, and a thousand of them must not each read /proc on every heartbeat.
 */
let hostSample: { at: number; value: Promise<{ cpuPercent: number; mem: si.Systeminformation.MemData }> } | null = null;
export function hostLoad() {
  if (!hostSample || Date.now() - hostSample.at > 1_000) {
    const load = cpuPercent();
    const value = si.mem().then((mem) => ({ cpuPercent: load, mem }));
    hostSample = { at: Date.now(), value };
    value.catch(() => (hostSample = null));
  }
  return hostSample.value;
}
