// Preloaded into a Jarvis process by bench/memory.ts (node --import): every second, writes the
// process's own memory figures (process.memoryUsage(), the V8 heap spaces, and the WebAssembly
// memories it created, i.e. PGlite's) as one JSON line to the file named by JARVIS_MEMORY_PROBE.
// Bench-only; Jarvis itself never loads it.
import { renameSync, writeFileSync } from 'node:fs';
import v8 from 'node:v8';

const file = process.env.JARVIS_MEMORY_PROBE;
if (file) {
  const memories = [];
  const Original = WebAssembly.Memory;
  // Keep a weak handle on every WebAssembly.Memory so its current size can be read.
  WebAssembly.Memory = function Memory(desc) {
    const m = new Original(desc);
    memories.push(new WeakRef(m));
    return m;
  };
  WebAssembly.Memory.prototype = Original.prototype;
  const write = () => {
    const mu = process.memoryUsage();
    const wasm = memories.map((r) => r.deref()?.buffer.byteLength ?? 0).filter((n) => n > 0);
    const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, s.space_used_size]));
    // Whole or not at all: the bench may read the file at any moment.
    writeFileSync(`${file}.tmp`, JSON.stringify({ at: Date.now(), ...mu, wasm_memories: wasm, heap_spaces: spaces }) + '\n');
    renameSync(`${file}.tmp`, file);
  };
  setInterval(write, 1000).unref();
  process.on('SIGUSR2', write);
}
