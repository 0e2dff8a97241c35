// The resources a task asks for, as a client may write them (Kubernetes quantities accepted),
// and their one normal form: cores, MiB, whole GPUs. Pure.

/** What a task asks of a node, normalised: cores, MiB, whole GPUs. */
export interface Resources {
  cpu: number;
  memory_mb: number;
  gpu: number;
}

/** Resources as submitted: cpu in cores or a quantity ("500m"), memory in MiB or a quantity ("1Gi"). */
export interface ResourceRequest {
  cpu?: number | string;
  memory_mb?: number | null;
  memory?: string | null;
  gpu?: number;
}

export const DEFAULT_RESOURCES: Resources = { cpu: 1, memory_mb: 256, gpu: 0 };

/** "500m" → 0.5, "2" → 2, 1.5 → 1.5 (Kubernetes CPU quantities). */
export function parseCpuQuantity(value: string): number | null {
  const m = /^(\d+(?:\.\d+)?|\.\d+)(m?)$/.exec(value.trim());
  if (!m) return null;
  const n = Number(m[1]) / (m[2] ? 1000 : 1);
  return n > 0 ? n : null;
}

const MEMORY_UNITS: Record<string, number> = {
  '': 1,
  k: 1e3,
  K: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
  Ti: 1024 ** 4,
};

/** "512Mi" → 512, "1Gi" → 1024, "1G" → 954 (MiB, rounded up). */
export function parseMemoryQuantity(value: string): number | null {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|K|M|G|T)?$/.exec(value.trim());
  if (!m) return null;
  const bytes = Number(m[1]) * MEMORY_UNITS[m[2] ?? ''];
  const mib = Math.ceil(bytes / 1024 ** 2);
  return mib > 0 ? mib : null;
}

/** The normal form of a request the schema has accepted (its quantities parse). */
export function normaliseResources(r: ResourceRequest | undefined): Resources {
  const cpu = r?.cpu === undefined ? DEFAULT_RESOURCES.cpu : typeof r.cpu === 'number' ? r.cpu : (parseCpuQuantity(r.cpu) as number);
  const memory_mb =
    r?.memory_mb != null ? r.memory_mb : r?.memory != null ? (parseMemoryQuantity(r.memory) as number) : DEFAULT_RESOURCES.memory_mb;
  return { cpu, memory_mb, gpu: r?.gpu ?? DEFAULT_RESOURCES.gpu };
}
