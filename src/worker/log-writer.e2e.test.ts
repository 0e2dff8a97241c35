// An attempt's log as it lands in Redis when stdout and stderr interleave: the engine cuts each
// stream into frames on its own (~32 KiB, or a write's worth), so a frame of one stream may end
// inside a character or a secret value, its rest coming in that stream's next frame with frames
// of the other stream in between. Against a real Redis, fed frames directly and from a real
// container through the Docker executor.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDIS_URL, TEST_IMAGE } from '../../test/support/env.ts';
import { removeLeftovers, usePrefix, watchNodeIds } from '../../test/support/leftovers.ts';
import { consumerConnection, redisNames } from '../scheduler/queues.ts';
import { DockerExecutor } from './docker-executor.ts';
import { LogWriter } from './log-writer.ts';
import { SecretMasker } from './secret-mask.ts';

afterAll(removeLeftovers);

const names = redisNames(usePrefix(`logw-${randomUUID().slice(0, 8)}`));
const nodeId = randomUUID();
// The containers this file starts carry this node id: removeLeftovers removes any left.
watchNodeIds(() => `"node_id":"${nodeId}"`, Promise.resolve());
const SECRET = 'hunter2-s3cr3t-token';
let redis: Redis;

beforeAll(() => {
  redis = consumerConnection(REDIS_URL);
});
afterAll(async () => {
  await redis?.quit();
});

/** What the attempt's live log holds: its text, and whether it was closed. */
async function stored(key: string): Promise<{ text: string; ended: boolean }> {
  const entries = await redis.xrange(key, '-', '+');
  let text = '';
  let ended = false;
  for (const [, fields] of entries) {
    const f = Object.fromEntries(fields.reduce<string[][]>((acc, v, i) => (i % 2 ? acc : [...acc, [v, fields[i + 1]]]), []));
    if (f.d !== undefined) text += f.d;
    if (f.end) ended = true;
  }
  return { text, ended };
}

function writer(secrets: string[] | null) {
  const key = names.logStream(randomUUID());
  return { key, writer: new LogWriter(redis, key, 1, 1_000_000, secrets ? new SecretMasker(secrets) : null) };
}

describe('LogWriter with stdout and stderr interleaved, against Redis', () => {
  it('masks a secret whose stdout frames have a stderr frame between them', async () => {
    const { key, writer: w } = writer([SECRET]);
    w.write(Buffer.from('token=hunter2-s3cr'), 'stdout');
    w.write(Buffer.from('warn: slow\n'), 'stderr');
    w.write(Buffer.from('3t-token\n'), 'stdout');
    await w.close();
    const { text, ended } = await stored(key);
    expect(ended).toBe(true);
    expect(text).not.toMatch(/hunter|s3cr|3t-token/);
    expect(text).toContain('warn: slow\n');
    expect(text).toContain('token=***\n');
  });

  it('decodes a character split across stdout frames with a stderr frame between them', async () => {
    const { key, writer: w } = writer(null);
    const e = Buffer.from('é\n');
    w.write(e.subarray(0, 1), 'stdout');
    w.write(Buffer.from('err\n'), 'stderr');
    w.write(e.subarray(1), 'stdout');
    await w.close();
    const { text } = await stored(key);
    expect(text).not.toContain('\uFFFD');
    expect(text).toContain('é\n');
    expect(text).toContain('err\n');
    expect(text.length).toBe('é\nerr\n'.length);
  });

  it('masks a secret cut off at the end of one stream while the other goes on', async () => {
    const { key, writer: w } = writer([SECRET]);
    w.write(Buffer.from('token=hunter2-s3'), 'stderr');
    w.write(Buffer.from('some output\n'), 'stdout');
    await w.close();
    const { text } = await stored(key);
    expect(text).not.toMatch(/hunter/);
    expect(text).toContain('token=***');
    expect(text).toContain('some output\n');
  });
});

describe('LogWriter fed by a real container', () => {
  it('masks a secret and keeps a character that stdout writes in two pieces around a stderr write', async () => {
    const { key, writer: w } = writer([SECRET]);
    const executor = new DockerExecutor();
    // Separate writes with pauses between them: each is its own frame on the attach stream.
    const script = [
      "printf 'token=hunter2-s3cr'",
      'sleep 0.3',
      "printf 'warn: slow\\n' >&2",
      'sleep 0.3',
      "printf '3t-token \\303'",
      'sleep 0.3',
      "printf 'err\\n' >&2",
      'sleep 0.3',
      "printf '\\251\\n'",
    ].join('; ');
    const frames: string[] = [];
    const res = await executor.run(
      {
        taskId: randomUUID(), attempt: 1, image: TEST_IMAGE, command: script, env: {}, cpu: 0.5, memoryMb: 64, gpu: 0,
        network: 'none', timeoutSeconds: 30, labels: { 'jarvis.node_id': nodeId },
      },
      {
        onOutput: (chunk, stream) => {
          frames.push(stream);
          w.write(chunk, stream);
        },
      },
    );
    await w.close();
    expect(res.status).toBe('succeeded');
    // The case at issue: stdout's pieces came in frames of their own with stderr's between them.
    expect(frames.join(' ')).toMatch(/stdout stderr stdout stderr stdout/);
    const { text } = await stored(key);
    expect(text).not.toMatch(/hunter|s3cr|3t-token/);
    expect(text).not.toContain('\uFFFD');
    expect(text).toContain('token=*** é\n');
    expect(text).toContain('warn: slow\n');
    expect(text).toContain('err\n');
  });
});
