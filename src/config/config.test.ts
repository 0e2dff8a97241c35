// loadConfig: defaults, then a file, then environment variables, then CLI overrides; every key
// checked, and a wrong one named by its dotted path.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './index.ts';

const dir = mkdtempSync(join(tmpdir(), 'jarvis-config-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function file(yaml: string): string {
  const path = join(dir, `config-${++n}.yaml`);
  writeFileSync(path, yaml);
  return path;
}

/** The error loadConfig throws, for assertions on its message. */
function failure(run: () => unknown): ConfigError {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('loadConfig did not fail');
}

describe('loadConfig', () => {
  it('gives the documented defaults with no file and an empty environment', () => {
    const c = loadConfig({ env: {} });
    expect(c.server).toMatchObject({ host: '127.0.0.1', port: 8000 });
    expect(c.redis).toEqual({ url: 'redis://127.0.0.1:6379', prefix: 'jarvis', auto_pipeline: true });
    expect(c.database).toEqual({ url: null, data_dir: '.jarvis/pglite' });
    expect(c.tasks).toEqual({ default_network: 'none', log_cap_bytes: 10_485_760, reconcile_seconds: 5, retention_days: null });
    expect(c.worker.capacity).toEqual({ cpu: null, memory_mb: null, gpu: 0, max_tasks: null });
    expect(c.worker).toMatchObject({ name: null, executor: 'docker', heartbeat_seconds: 5, labels: {} });
    expect(c.worker.job_lock_seconds).toBeUndefined();
    expect(c.scheduler).toEqual({ strategy: 'binpack', aging_seconds: 60, idle_tenant_seconds: 300, critical_jumps_tenants: false, keep_room_after_seconds: 30, view_reuse_ms: 200 });
    expect(c.metrics).toEqual({ enabled: true, final_counts_seconds: 60 });
    expect(c.log_level).toBe('info');
  });

  it('lays a file over the defaults, key by key, keeping what it does not mention', () => {
    const path = file('server:\n  port: 9000\nworker:\n  capacity:\n    cpu: 2\n  labels:\n    zone: a\n');
    const c = loadConfig({ file: path, env: {} });
    expect(c.server).toMatchObject({ host: '127.0.0.1', port: 9000 });
    expect(c.worker.capacity).toEqual({ cpu: 2, memory_mb: null, gpu: 0, max_tasks: null });
    expect(c.worker.labels).toEqual({ zone: 'a' });
    expect(c.worker.heartbeat_seconds).toBe(5);
  });

  it('finds the file through JARVIS_CONFIG when none is passed, and accepts an empty file', () => {
    expect(loadConfig({ env: { JARVIS_CONFIG: file('log_level: debug\n') } }).log_level).toBe('debug');
    expect(loadConfig({ file: file(''), env: {} }).server.port).toBe(8000);
  });

  it('lets environment variables override the file, converting numbers and booleans', () => {
    const path = file('server:\n  port: 9000\nredis:\n  prefix: fromfile\n');
    const c = loadConfig({
      file: path,
      env: {
        PORT: '9100',
        HOST: '0.0.0.0',
        REDIS_URL: 'redis://cache:6380',
        DATABASE_URL: 'postgres://db/jarvis',
        JARVIS_METRICS_ENABLED: 'off',
        JARVIS_METRICS_FINAL_COUNTS_SECONDS: '0',
        JARVIS_SCHEDULER_STRATEGY: 'spread',
        JARVIS_AGING_SECONDS: '2.5',
        JARVIS_CRITICAL_JUMPS_TENANTS: 'true',
        JARVIS_VIEW_REUSE_MS: '0',
        JARVIS_KEEP_ROOM_AFTER_SECONDS: '0',
        JARVIS_DEFAULT_NETWORK: 'bridge',
        JARVIS_REDIS_AUTO_PIPELINE: 'false',
        JARVIS_UI_SESSION_IDLE_SECONDS: '60',
        JARVIS_UI_SESSION_MAX_SECONDS: '3600',
      },
    });
    expect(c.server).toMatchObject({ host: '0.0.0.0', port: 9100 });
    expect(c.redis).toEqual({ url: 'redis://cache:6380', prefix: 'fromfile', auto_pipeline: false });
    expect(c.database.url).toBe('postgres://db/jarvis');
    expect(c.metrics).toEqual({ enabled: false, final_counts_seconds: 0 });
    expect(c.scheduler).toEqual({ strategy: 'spread', aging_seconds: 2.5, idle_tenant_seconds: 300, critical_jumps_tenants: true, keep_room_after_seconds: 0, view_reuse_ms: 0 });
    expect(c.tasks.default_network).toBe('bridge');
    expect(c.dashboard).toEqual({ session_idle_seconds: 60, session_max_seconds: 3600 });
  });

  it('ignores empty environment variables', () => {
    const c = loadConfig({ env: { PORT: '', REDIS_URL: '', JARVIS_METRICS_ENABLED: '' } });
    expect(c.server.port).toBe(8000);
    expect(c.redis.url).toBe('redis://127.0.0.1:6379');
    expect(c.metrics.enabled).toBe(true);
  });

  it('lets overrides (CLI flags) win over the environment', () => {
    const c = loadConfig({ env: { PORT: '9100' }, overrides: { server: { port: 9200 }, worker: { executor: 'simulated' } } });
    expect(c.server.port).toBe(9200);
    expect(c.worker.executor).toBe('simulated');
  });

  it('refuses an unknown key by its dotted path and names the files read', () => {
    const path = file('server:\n  prot: 9000\nlogging: debug\n');
    const err = failure(() => loadConfig({ file: path, env: {} }));
    expect(err.message).toContain('unknown key "server.prot"');
    expect(err.message).toContain('unknown key "logging"');
    expect(err.message).toContain(path);
  });

  it('refuses a malformed value by its path, saying what is allowed', () => {
    const err = failure(() => loadConfig({ file: file('scheduler:\n  strategy: random\nredis:\n  prefix: "a b"\n'), env: {} }));
    expect(err.message).toMatch(/"scheduler\.strategy": .*binpack.*spread/);
    expect(err.message).toContain('"redis.prefix": letters, digits, "_", "." and "-" only');
    expect(failure(() => loadConfig({ env: {}, overrides: { server: { port: 70000 } } })).message).toContain('"server.port"');
  });

  it('refuses a leader that would renew its lock less often than half its lifetime', () => {
    const err = failure(() => loadConfig({ env: { JARVIS_LEADER_TTL_SECONDS: '2', JARVIS_LEADER_RENEW_SECONDS: '5' } }));
    expect(err.message).toContain('"leader.renew_seconds": must be at most half of leader.ttl_seconds');
    expect(loadConfig({ env: { JARVIS_LEADER_TTL_SECONDS: '3', JARVIS_LEADER_RENEW_SECONDS: '0.5' } }).leader).toEqual({ ttl_seconds: 3, renew_seconds: 0.5 });
  });

  it('refuses an environment variable that is not a number or a boolean, naming it', () => {
    expect(failure(() => loadConfig({ env: { PORT: 'eighty' } })).message).toBe('environment variable PORT="eighty" must be a number');
    expect(failure(() => loadConfig({ env: { JARVIS_METRICS_ENABLED: 'maybe' } })).message).toBe(
      'environment variable JARVIS_METRICS_ENABLED="maybe" must be true or false',
    );
    expect(failure(() => loadConfig({ env: { JARVIS_LOG_LEVEL: 'loud' } })).message).toContain('"log_level"');
    expect(failure(() => loadConfig({ env: { JARVIS_UI_SESSION_MAX_SECONDS: '40000000' } })).message).toContain('"dashboard.session_max_seconds": at most 34560000 (400 days)');
  });

  it('says when the file is missing, is not YAML, or is not a mapping', () => {
    const missing = join(dir, 'nope.yaml');
    expect(failure(() => loadConfig({ file: missing, env: {} })).message).toContain(`cannot read config file ${missing}`);
    const bad = file('server: [1, 2\n');
    expect(failure(() => loadConfig({ file: bad, env: {} })).message).toContain(`config file ${bad} is not valid YAML`);
    const list = file('- a\n- b\n');
    expect(failure(() => loadConfig({ file: list, env: {} })).message).toBe(`config file ${list} must be a YAML mapping at the top level`);
  });
});
