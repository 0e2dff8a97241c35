// scripts/reference-app.sh, the setup of the FastAPI reference app, on the paths that need no
// download: a machine without python3, one whose python3 cannot make virtualenvs (Debian without
// python3-venv), and a venv already up to date (a file check, nothing installed). The full
// install is what test/fastapi-diff.e2e.test.ts runs on a machine that has no venv yet.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SCRIPT = resolve(import.meta.dirname, 'reference-app.sh');
const REQS = resolve(import.meta.dirname, '../test/reference/requirements.txt');

function run(env: Record<string, string>) {
  const r = spawnSync('bash', [SCRIPT], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function executable(path: string, text: string) {
  writeFileSync(path, text);
  chmodSync(path, 0o755);
}

describe('scripts/reference-app.sh', () => {
  it('names the step and the package to install when python3 is missing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'jarvis-pyref-'));
    const r = run({ JARVIS_PYREF: join(dir, 'venv'), JARVIS_PYTHON: join(dir, 'no-such-python3') });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/ERROR: python for the reference app: .*no-such-python3 not found.*apt-get install python3 python3-venv/);
  });

  it('says to install python3-venv when python3 cannot make a virtualenv', () => {
    const dir = mkdtempSync(join(tmpdir(), 'jarvis-pyref-'));
    // A python3 as Debian's is without python3-venv: the version check passes, ensurepip is absent.
    executable(join(dir, 'python3'), `#!/bin/bash\ncase "$*" in *ensurepip*) echo "No module named 'ensurepip'" >&2; exit 1 ;; esac\nexit 0\n`);
    const r = run({ JARVIS_PYREF: join(dir, 'venv'), JARVIS_PYTHON: join(dir, 'python3') });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/ERROR: python for the reference app: .*cannot create virtualenvs.*apt-get install python3-venv/);
  });

  it('returns at once, installing nothing, when the venv holds the pinned requirements', () => {
    const dir = mkdtempSync(join(tmpdir(), 'jarvis-pyref-'));
    const venv = join(dir, 'venv');
    mkdirSync(join(venv, 'bin'), { recursive: true });
    const marker = join(dir, 'ran');
    for (const bin of ['python', 'uvicorn']) executable(join(venv, 'bin', bin), `#!/bin/bash\necho "$0 $*" >> ${marker}\n`);
    writeFileSync(join(venv, '.jarvis-requirements.sha256'), `${createHash('sha256').update(readFileSync(REQS)).digest('hex')}\n`);
    const r = run({ JARVIS_PYREF: venv, JARVIS_PYTHON: join(dir, 'no-such-python3') });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(join(venv, 'bin/python'));
    expect(() => readFileSync(marker)).toThrow(); // neither python nor pip ran
  });

  it('reinstalls when the requirements changed since the venv was made', () => {
    const dir = mkdtempSync(join(tmpdir(), 'jarvis-pyref-'));
    const venv = join(dir, 'venv');
    mkdirSync(join(venv, 'bin'), { recursive: true });
    for (const bin of ['python', 'uvicorn']) executable(join(venv, 'bin', bin), '#!/bin/bash\nexit 0\n');
    writeFileSync(join(venv, '.jarvis-requirements.sha256'), 'an older hash\n');
    // No python3 to rebuild with: the run must fail at that step rather than trust the old venv.
    const r = run({ JARVIS_PYREF: venv, JARVIS_PYTHON: join(dir, 'no-such-python3') });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/python for the reference app/);
  });
});
