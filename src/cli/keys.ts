// `jarvis keys create|list|revoke`: manage API keys on the database directly (DATABASE_URL or
// the embedded one, joining the private server of a running `jarvis up`), so the first admin key
// can be made before any key exists. A running
// control plane sees a new or revoked key within a second.
import type { Command } from 'commander';
import { ROLES, TENANT_PATTERN, type Role } from '../auth/keys.ts';
import type { Config } from '../config/index.ts';
import { createApiKey, describeKey } from '../control/keys.ts';
import { openDatabase } from '../state/db.ts';
import { KeyStore } from '../state/key-store.ts';
import { noKeysMessage } from './advice.ts';
import { CliError } from './client.ts';
import { numberFlag } from './flags.ts';

async function withKeys<T>(cfg: Config, fn: (keys: KeyStore) => Promise<T>): Promise<T> {
  let db;
  try {
    // Beside a running `jarvis up`, its private PostgreSQL server is joined as one more client.
    db = await openDatabase({ url: cfg.database.url, dataDir: cfg.database.data_dir, joinRunning: true });
  } catch (err) {
    const inUse = /in use by another Jarvis process/.test((err as Error).message);
    throw new CliError(
      inUse
        ? `${(err as Error).message} While it runs in open mode (no key yet), the API makes the first key: ` +
            `curl -X POST http://127.0.0.1:8000/auth/keys -H 'content-type: application/json' -d '{"name": "admin", "role": "admin"}'`
        : (err as Error).message,
    );
  }
  try {
    return await fn(new KeyStore(db.db));
  } finally {
    await db.close();
  }
}

export function registerKeyCommands(program: Command, config: () => Config) {
  const keys = program.command('keys').description('Manage API keys (on the database directly: DATABASE_URL, or the embedded one)');

  keys
    .command('create')
    .description('Create an API key and print it (shown this once)')
    .requiredOption('--name <name>', 'a name to know it by')
    .option('--role <role>', `one of ${ROLES.join(', ')}`, 'submitter')
    .option('--tenant <tenant>', 'the tenant whose work it reaches', 'default')
    .option('--rate-limit <perSecond>', 'requests per second (default: auth.default_rate_per_s)')
    .option('--json', 'print the whole record as JSON')
    .action(async (opts) => {
      if (!ROLES.includes(opts.role)) throw new CliError(`--role must be one of ${ROLES.join(', ')}, got "${opts.role}"`);
      if (!TENANT_PATTERN.test(opts.tenant)) throw new CliError(`--tenant "${opts.tenant}" is not a tenant name: 1-63 lowercase letters, digits, "_" or "-"`);
      const name = String(opts.name);
      if (name.length === 0 || name.length > 128 || name.includes('\u0000')) throw new CliError('--name must be 1-128 characters');
      const rate = opts.rateLimit === undefined ? null : numberFlag('--rate-limit', opts.rateLimit, { above: 0, unit: 'requests per second', example: '20' });
      const { row, key } = await withKeys(config(), (k) => createApiKey(k, { name, role: opts.role as Role, tenant: opts.tenant, rateLimitPerS: rate }));
      if (opts.json) process.stdout.write(JSON.stringify({ ...describeKey(row), key }, null, 2) + '\n');
      else {
        process.stdout.write(`${key}\n`);
        process.stderr.write(`key ${row.id} "${row.name}" (${row.role}, tenant ${row.tenant}) created; it is shown this once: keep it safe.\n`);
      }
    });

  keys
    .command('list')
    .description('List the keys that are not revoked (never the keys themselves)')
    .option('--json', 'print JSON')
    .action(async (opts) => {
      const cfg = config();
      const rows = await withKeys(cfg, (k) => k.list());
      if (opts.json) return void process.stdout.write(JSON.stringify(rows.map(describeKey), null, 2) + '\n');
      for (const r of rows) process.stdout.write(`${r.id}  ${r.role.padEnd(9)}  ${r.tenant.padEnd(12)}  ${r.name}\n`);
      if (rows.length === 0) process.stderr.write(noKeysMessage(cfg.server, process.env.JARVIS_ADMIN_KEY?.trim() || null) + '\n');
    });

  keys
    .command('revoke')
    .description('Revoke a key by id: refused by every control plane within a second')
    .argument('<id>', 'the key id (from `jarvis keys list`)')
    .action(async (id: string) => {
      if (!/^[0-9a-f-]{36}$/i.test(id)) throw new CliError(`"${id}" is not a key id (a UUID from \`jarvis keys list\`)`);
      const done = await withKeys(config(), (k) => k.revoke(id));
      if (!done) throw new CliError(`no live key with id ${id}`);
      process.stderr.write(`key ${id} revoked\n`);
    });
}
