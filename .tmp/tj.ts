const row = { id: crypto.randomUUID(), name: null, image: 'jarvis-bench-busybox:latest', command: '["true"]', env: {}, priority: 'normal', cpu: 1, memory_mb: 256, gpu: 0, timeout_seconds: null, max_retries: 0, retry_backoff_seconds: 1, node_selector: {}, labels: {}, idempotency_key: null, network: 'none', output_spec: {}, created_at: new Date(), status: 'queued', status_reason: 'waiting for the scheduler to place it on a node', tenant: 'default' };
const rows = Array.from({ length: 16 }, () => ({ ...row, id: crypto.randomUUID(), created_at: new Date() }));
let t = performance.now(); let n = 0;
for (let i = 0; i < 20000; i++) { const s = JSON.stringify(rows); n += s.length; }
console.log('stringify per row us', (performance.now() - t) / 20000 / 16 * 1000);
const s = JSON.stringify(rows);
t = performance.now();
for (let i = 0; i < 20000; i++) { n += /\\u[dD][89a-fA-F]/.test(s) ? 1 : 0; }
console.log('regex per row us', (performance.now() - t) / 20000 / 16 * 1000);
t = performance.now();
for (let i = 0; i < 20000; i++) { n += s.includes('\\u') ? 1 : 0; }
console.log('includes per row us', (performance.now() - t) / 20000 / 16 * 1000);
