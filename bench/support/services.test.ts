// The bench's CPU accounting by command name: a process of that name which ends between two
// snapshots keeps its time in the sum (through its parent's reaped-children time), so a share
// computed from two snapshots cannot go negative when PostgreSQL's pool closes a connection.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { cpuMsOfCommand } from './services.ts';

it('counts the CPU of a child that exited between two snapshots', async () => {
  // Processes with a name of their own: Node run through a link named so (the kernel names a
  // process after the file it was started from).
  const dir = mkdtempSync(join(tmpdir(), 'jarvis-cpu-'));
  const comm = `jcpu${process.pid}`.slice(0, 15);
  const node = join(dir, comm);
  symlinkSync(process.execPath, node);
  try {
    expect(cpuMsOfCommand(comm)).toBe(0);
    // The parent starts a child of the same name that burns 400 ms of CPU and exits; the parent
    // reaps it, says so, and stays until its stdin closes.
    const parent = spawn(node, [
      '-e',
      `require('node:child_process').spawnSync(process.execPath, ['-e', 'while (process.cpuUsage().user < 400000);']);` +
        `process.stdout.write('reaped\\n'); process.stdin.resume();`,
    ]);
    await new Promise<void>((resolve, reject) => {
      parent.stdout.on('data', (d: Buffer) => d.toString().includes('reaped') && resolve());
      parent.on('exit', (code) => reject(new Error(`the parent exited early (${code})`)));
    });
    const total = cpuMsOfCommand(comm);
    parent.stdin.end();
    // The parent's own start is well under 300 ms of CPU; without the reaped child's, it stays there.
    expect(total).toBeGreaterThanOrEqual(300);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
