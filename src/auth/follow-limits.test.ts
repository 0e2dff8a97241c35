// The follow limits (auth/follow-limits.ts): per key and in all, a place given back once however
// often its release is called, and refusals that name the limit and its setting.
import { describe, expect, it } from 'vitest';
import { FollowLimits } from './follow-limits.ts';

describe('FollowLimits', () => {
  it('refuses a key past its limit and the process past its own, and takes again what is given back', () => {
    const limits = new FollowLimits(2, 3);
    const a1 = limits.take('a');
    const a2 = limits.take('a');
    expect(limits.take('a')).toEqual({ refused: 'key' });
    const b1 = limits.take('b');
    expect(limits.open).toBe(3);
    // The process is full: even a key with nothing open is refused, and it says so first.
    expect(limits.take('c')).toEqual({ refused: 'process' });
    if (!('release' in a1) || !('release' in a2) || !('release' in b1)) throw new Error('refused');
    a1.release();
    a1.release(); // once only
    expect(limits.open).toBe(2);
    expect('release' in limits.take('a')).toBe(true);
    b1.release();
    expect(limits.open).toBe(2);
    expect(limits.take('a')).toEqual({ refused: 'key' });
    a2.release();
    expect(limits.open).toBe(1);
  });

  it('says which limit, its value, its setting and environment variable', () => {
    const limits = new FollowLimits(50, 1000);
    expect(limits.refusal('key')).toBe(
      'Too many log streams: this key has 50 open on this server process, the most one key may (server.max_log_follows_per_key, env JARVIS_MAX_LOG_FOLLOWS_PER_KEY). Close one, or raise the limit; retry in 5 s',
    );
    expect(limits.refusal('process')).toBe(
      'Too many log streams: this server process has 1000 open, the most it serves (server.max_log_follows, env JARVIS_MAX_LOG_FOLLOWS). Retry in 5 s, or raise the limit',
    );
  });
});
