// Gives memory back after a burst, once the process is idle. V8 sizes its heap for the busiest
// moment and keeps it: after 100,000 tasks went in, `jarvis up` still held a 200–400 MB heap of
// which most was garbage 15 s later, and how much depended on when V8 happened to run a full
// collection (the embedded figure moved from 495 to 884 MB between runs; docs/decisions.md,
// "An idle collection after a burst"). So every 2 s this looks at the event loop: when
// it was quiet over the last interval and the heap has grown by `growthBytes` since the
// last collection, it runs one full collection, which lets V8 release the emptied pages.
//
// Node exposes `gc` only with --expose-gc; this sets that flag at run time
// (v8.setFlagsFromString) and reads `gc` from a new context, where V8 installs it. At most one
// collection per `growthBytes` of growth, never while the loop is busy, and never on a heap
// above `maxHeapBytes`, so the pause (28–57 ms here for heaps of 100–340 MB after a fill) falls
// where little waits on it.
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';

export interface IdleCollectorOptions {
  /** How often the loop is looked at (default 2 s). */
  intervalMs?: number;
  /** Below this share of the interval busy, the process counts as quiet (default 0.25: `jarvis up` holding 100,000 queued tasks stays 10–13 % busy with its reconciler). */
  idleBelow?: number;
  /** Heap growth since the last collection that makes one worth it (default 32 MiB). */
  growthBytes?: number;
  /**
   * Above this heap size, no collection is forced (default 512 MiB): such a heap is a big
   * cluster's live state more than a burst's garbage, and a forced collection is one long pause
   * (1,390 ms for a 1,155 MB heap of a server placing 100,000 tasks, which freed 26 MB), where
   * V8's own collections mark it concurrently.
   */
  maxHeapBytes?: number;
  /** Told after each collection (heap sizes before and after, and the pause). */
  onCollect?: (c: { heapBefore: number; heapAfter: number; pauseMs: number }) => void;
}

/** Collect now? `heapTotal` against the heap size right after the last collection. */
export function shouldCollect(utilization: number, heapTotal: number, baseline: number, o: Required<Pick<IdleCollectorOptions, 'idleBelow' | 'growthBytes' | 'maxHeapBytes'>>): boolean {
  return utilization < o.idleBelow && heapTotal - baseline >= o.growthBytes && heapTotal <= o.maxHeapBytes;
}

/** V8's heap size (process.memoryUsage's heapTotal, without reading the process's RSS too). */
const heapTotal = () => v8.getHeapStatistics().total_heap_size;

let exposedGc: (() => void) | null = null;
/** V8's full collection, reached through --expose-gc set at run time. */
export function fullCollection(): () => void {
  if (!exposedGc) {
    v8.setFlagsFromString('--expose-gc');
    exposedGc = vm.runInNewContext('gc') as () => void;
  }
  return exposedGc;
}

/** Starts looking; the answer stops it. The timer never keeps the process alive. */
export function startIdleCollector(options: IdleCollectorOptions = {}): () => void {
  const o = { intervalMs: 2_000, idleBelow: 0.25, growthBytes: 32 * 1024 * 1024, maxHeapBytes: 512 * 1024 * 1024, ...options };
  const gc = fullCollection();
  let baseline = heapTotal();
  let last: EventLoopUtilization = performance.eventLoopUtilization();
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    const { utilization } = performance.eventLoopUtilization(now, last);
    last = now;
    const heapBefore = heapTotal();
    // A heap that shrank on its own is the new floor.
    if (heapBefore < baseline) baseline = heapBefore;
    if (!shouldCollect(utilization, heapBefore, baseline, o)) return;
    const started = performance.now();
    gc();
    const heapAfter = heapTotal();
    baseline = heapAfter;
    // The collection itself counts as busy time: leave it out of the next look.
    last = performance.eventLoopUtilization();
    o.onCollect?.({ heapBefore, heapAfter, pauseMs: performance.now() - started });
  }, o.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
