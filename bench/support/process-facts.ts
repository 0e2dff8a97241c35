// Facts about the processes measured: resident memory, Redis's memory, and the code's version.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { ROOT } from './jarvis.ts';

export function rssMb(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : null;
  } catch {
    return null;
  }
}

export async function redisUsedMb(redis: Redis): Promise<number | null> {
  const m = /used_memory:(\d+)/.exec(await redis.info('memory').catch(() => ''));
  return m ? Math.round(Number(m[1]) / 1024 / 1024) : null;
}

/** What code was measured: the commit, and the files under src/ that differ from it (someone may be editing them). */
export function codeVersion() {
  const git = (...args: string[]) => {
    try {
      return execFileSync('git', args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    } catch {
      return null;
    }
  };
  const dirty = git('status', '--porcelain', '--', 'src', 'drizzle', 'config');
  return { commit: git('rev-parse', 'HEAD'), subject: git('log', '-1', '--format=%s'), uncommitted_src_files: dirty === null ? null : dirty.split('\n').filter(Boolean) };
}