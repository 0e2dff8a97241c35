// The setup helpers (scripts/lib.sh) as a fresh Debian machine sees them, without needing one:
// stand-in `dpkg-query` and `apt-get` on PATH. dpkg-query answers as Debian's does for packages it
// has never heard of (nothing on stdout, "no packages found matching X" on stderr, exit 1);
// apt-get records what it is asked and succeeds or fails as the case needs. Needs no service.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const LIB = resolve(import.meta.dirname, 'lib.sh');

interface Machine {
  dir: string;
  aptCalls(): string[];
}

/**
 * A PATH directory with stand-ins. `installed` packages answer `ii`; every other one is unknown
 * to dpkg (exit 1). apt-get install exits `installExit`.
 */
function fakeMachine(opts: { installed?: string[]; installExit?: number; updateExit?: number } = {}): Machine {
  const dir = mkdtempSync(join(tmpdir(), 'jarvis-fresh-'));
  const bin = join(dir, 'bin');
  spawnSync('mkdir', ['-p', bin]);
  const calls = join(dir, 'apt-calls');
  writeFileSync(calls, '');
  const installed = (opts.installed ?? []).join(' ');
  writeFileSync(
    join(bin, 'dpkg-query'),
    `#!/bin/bash
# Stand-in for Debian's dpkg-query -W -f=FORMAT PKG...: known packages print, unknown ones exit 1.
rc=0
for a in "$@"; do
  case "$a" in -*) continue ;; esac
  case " ${installed} " in
    *" $a "*) printf '%s=ii \\n' "$a" ;;
    *) echo "dpkg-query: no packages found matching $a" >&2; rc=1 ;;
  esac
done
exit $rc
`,
  );
  writeFileSync(
    join(bin, 'apt-get'),
    `#!/bin/bash
echo "$*" >>'${calls}'
for a in "$@"; do
  case "$a" in
    update) echo "Reading package lists..."; exit ${opts.updateExit ?? 0} ;;
    install) echo "E: Unable to locate package (stand-in)"; exit ${opts.installExit ?? 0} ;;
  esac
done
`,
  );
  chmodSync(join(bin, 'dpkg-query'), 0o755);
  chmodSync(join(bin, 'apt-get'), 0o755);
  return {
    dir,
    aptCalls: () => readFileSync(calls, 'utf8').split('\n').filter(Boolean),
  };
}

/** Runs a bash script that sources lib.sh the way scripts/*.sh do, with the stand-ins first on PATH. */
function runSetup(machine: Machine, body: string, user?: string) {
  const script = join(machine.dir, 'setup.sh');
  writeFileSync(script, `set -Eeuo pipefail\nsource '${LIB}'\nJARVIS_LOG_PREFIX=jarvis-test\n${body}\n`);
  chmodSync(machine.dir, 0o755);
  chmodSync(script, 0o755);
  const env = {
    PATH: `${join(machine.dir, 'bin')}:${process.env.PATH}`,
    HOME: machine.dir,
    JARVIS_LOG_DIR: join(machine.dir, 'logs'),
    JARVIS_STATE_DIR: join(machine.dir, 'state'),
    JARVIS_POLICY_RC_D: join(machine.dir, 'policy-rc.d'),
  };
  spawnSync('mkdir', ['-p', env.JARVIS_LOG_DIR]);
  if (user) spawnSync('chmod', ['-R', 'a+rwX', machine.dir]);
  const cmd = user ? ['runuser', ['-u', user, '--', 'env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), 'bash', script]] as const : ['bash', [script]] as const;
  const r = spawnSync(cmd[0], [...cmd[1]], { env: user ? process.env : env, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('setup on a machine where the package manager reports nothing installed', () => {
  it('asks apt-get for every missing package and goes on to the next step', () => {
    const m = fakeMachine({ installed: ['curl'] });
    const r = runSetup(m, 'jarvis_step "Debian packages" ensure_apt redis-server postgresql curl docker.io\necho NEXT-STEP-RAN');
    expect(r.stderr).not.toContain('ERROR');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('NEXT-STEP-RAN');
    const calls = m.aptCalls();
    expect(calls[0]).toMatch(/update/);
    expect(calls[1]).toMatch(/install -y -qq redis-server postgresql docker\.io$/);
    expect(calls[1]).not.toContain('curl');
    expect(r.stderr).toContain('installing redis-server postgresql docker.io');
    // apt's own chatter goes to the log named in the progress line, not the terminal.
    expect(r.stderr).not.toContain('Reading package lists');
    expect(readFileSync(join(m.dir, 'logs', 'apt.log'), 'utf8')).toContain('Reading package lists');
    // The temporary policy that keeps apt from starting services is gone afterwards.
    expect(existsSync(join(m.dir, 'policy-rc.d'))).toBe(false);
  });

  it('asks for nothing when every package is installed', () => {
    const m = fakeMachine({ installed: ['redis-server', 'curl'] });
    const r = runSetup(m, 'ensure_apt redis-server curl\necho NEXT-STEP-RAN');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('NEXT-STEP-RAN');
    expect(m.aptCalls()).toEqual([]);
  });

  it('names the packages and exits non-zero when apt-get install fails', () => {
    const m = fakeMachine({ installExit: 100 });
    const r = runSetup(m, 'jarvis_step "Debian packages" ensure_apt redis-server busybox-static\necho NEXT-STEP-RAN');
    expect(r.status).not.toBe(0);
    expect(r.stdout).not.toContain('NEXT-STEP-RAN');
    expect(r.stderr).toMatch(/ERROR: Debian packages: apt-get install failed \(exit 100\); these packages are still missing: redis-server busybox-static/);
    expect(r.stderr).toContain('apt-get install -y redis-server busybox-static');
    expect(r.stderr).toContain('Unable to locate package'); // the tail of apt's log says why
  });

  it('names the packages and exits non-zero when apt-get update fails', () => {
    const m = fakeMachine({ updateExit: 100 });
    const r = runSetup(m, 'ensure_apt redis-server\necho NEXT-STEP-RAN');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/apt-get update failed; the packages still missing are: redis-server/);
  });

  it('tells a user who is not root exactly what to install, and exits non-zero', () => {
    const m = fakeMachine();
    const r = runSetup(m, 'ensure_apt redis-server docker.io\necho NEXT-STEP-RAN', 'nobody');
    expect(r.status).not.toBe(0);
    expect(r.stdout).not.toContain('NEXT-STEP-RAN');
    expect(r.stderr).toContain('missing Debian packages: redis-server docker.io');
    expect(r.stderr).toContain('sudo apt-get update && sudo apt-get install -y redis-server docker.io');
    expect(m.aptCalls()).toEqual([]);
  });
});

describe('a failing step is never silent', () => {
  it('prints the step, the command and the line of an unexpected failure', () => {
    const m = fakeMachine();
    const r = runSetup(m, 'broken() {\n  local x\n  x=$(false)\n}\njarvis_step "demo step" broken\necho NEXT-STEP-RAN');
    expect(r.status).toBe(1);
    expect(r.stdout).not.toContain('NEXT-STEP-RAN');
    expect(r.stderr).toMatch(/ERROR: demo step failed \(exit 1\)/);
    expect(r.stderr).toMatch(/command: x=\$\(false\)/);
    expect(r.stderr).toMatch(/at: .*setup\.sh line 6/);
    expect(r.stderr.match(/ERROR/g)).toHaveLength(1);
  });

  it('keeps going through commands whose non-zero exit is normal', () => {
    const m = fakeMachine();
    // grep with no match inside ensure_node_modules' filter, a log tail of a file with only
    // filtered lines: both used to end the script under pipefail.
    writeFileSync(join(m.dir, 'only-info.log'), 'level=info msg=a\nlevel=info msg=b\n');
    const r = runSetup(m, `out=$(jarvis_log_tail '${join(m.dir, 'only-info.log')}')\necho "TAIL-OK"`);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('TAIL-OK');
  });

  it('passes a die message through with the step name', () => {
    const m = fakeMachine();
    const r = runSetup(m, 'jarvis_step "Redis" jarvis_die "Redis did not answer"');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('jarvis-test: ERROR: Redis: Redis did not answer');
    // one message, not a second one from the trap
    expect(r.stderr.match(/ERROR/g)).toHaveLength(1);
  });
});

describe('every setup script runs under the trap', () => {
  for (const name of ['test.sh', 'quickstart.sh', 'bench.sh', 'reference-app.sh']) {
    it(`${name} sets -Eeuo pipefail and sources lib.sh before any step`, () => {
      const text = readFileSync(resolve(import.meta.dirname, name), 'utf8');
      const set = text.indexOf('set -Eeuo pipefail');
      const src = text.indexOf('source ');
      const firstStep = text.indexOf('jarvis_step');
      expect(set).toBeGreaterThan(0);
      expect(src).toBeGreaterThan(set);
      expect(firstStep).toBeGreaterThan(src);
      expect(text).not.toMatch(/^ensure_/m); // every ensure_* runs as a named step
    });
  }
});

describe('free disk space', () => {
  function withDf(freeKb: number): Machine {
    const m = fakeMachine();
    writeFileSync(
      join(m.dir, 'bin', 'df'),
      `#!/bin/bash
echo "Filesystem     1024-blocks      Used Available Capacity Mounted on"
echo "/dev/vda         264241152 107374182 ${freeKb} 100% /"
`,
    );
    chmodSync(join(m.dir, 'bin', 'df'), 0o755);
    return m;
  }

  it('stops before the first install, naming the file system, what is free and what to clear', () => {
    const m = withDf(60 * 1024);
    const r = runSetup(m, `jarvis_step "free disk space" ensure_free_space 2048 '${m.dir}'\necho NEXT-STEP-RAN`);
    expect(r.status).not.toBe(0);
    expect(r.stdout).not.toContain('NEXT-STEP-RAN');
    expect(r.stderr).toContain(`ERROR: free disk space: only 60 MB free on / (for ${m.dir}); this needs about 2048 MB.`);
    expect(r.stderr).toContain('jarvis-tests-*');
  });

  it('goes on when there is room', () => {
    const m = withDf(80 * 1024 * 1024);
    const r = runSetup(m, `ensure_free_space 2048 '${m.dir}' /no/such/path\necho NEXT-STEP-RAN`);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('NEXT-STEP-RAN');
  });
});
