import { DrizzleQueryError } from 'drizzle-orm/errors';
import { describe, expect, it } from 'vitest';
import { errSerializer, redactUrl, withoutQueryParams } from './log-redaction.ts';

const TOKEN = 'a1b2c3d4e5f6-node-token';

describe('log redaction', () => {
  it("drops a failed query's parameters from its message, stack and fields, at any depth", () => {
    const failed = new DrizzleQueryError('update nodes set x = $1 where token = $2', [1, TOKEN], new Error('column "token" does not exist'));
    for (const err of [failed, new Error('wrapped', { cause: failed })]) {
      const line = JSON.stringify(errSerializer(err));
      expect(line).not.toContain(TOKEN);
      expect(line).toContain('Failed query: update nodes set x = $1 where token = $2');
      expect(line).toContain('column \\"token\\" does not exist');
    }
    const safe = withoutQueryParams(failed) as Error;
    expect(safe.message).toBe('Failed query: update nodes set x = $1 where token = $2');
    expect(safe.stack).toMatch(/^Error: Failed query: update nodes set x = \$1 where token = \$2\n\s+at /);
    expect(JSON.stringify(errSerializer({ message: failed.message }))).not.toContain(TOKEN);
  });

  it("keeps a Redis command's name but not its arguments (a failed AUTH carries the password)", () => {
    const err = Object.assign(new Error('WRONGPASS invalid username-password pair'), { command: { name: 'auth', args: ['default', 's3cret'] } });
    const out = errSerializer(err) as Record<string, unknown>;
    expect(out.command).toEqual({ name: 'auth' });
    expect(JSON.stringify(out)).not.toContain('s3cret');
  });

  it('leaves other errors and values as pino would log them', () => {
    const plain = new Error('boom');
    expect(withoutQueryParams(plain)).toBe(plain);
    expect(errSerializer(plain)).toMatchObject({ type: 'Error', message: 'boom' });
    expect(errSerializer('text')).toBe('text');
  });

  it('replaces a URL password in the user part or the query', () => {
    expect(redactUrl('redis://:pw@h:6379/0')).toBe('redis://:***@h:6379/0');
    expect(redactUrl('postgres://u@h/db?password=pw&sslmode=require')).toBe('postgres://u@h/db?password=***&sslmode=require');
    expect(redactUrl('not a url pw')).toBe('(unparseable URL)');
    // Nothing to hide: as given (the CLI's messages name the --api-url the user wrote).
    expect(redactUrl('https://127.0.0.1:8000')).toBe('https://127.0.0.1:8000');
  });
});
