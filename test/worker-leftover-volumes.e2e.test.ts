// removeLeftovers (test/support/leftovers.ts) removes a file's task containers with their
// anonymous volumes: a task with outputs has one on /tmp, with its data.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { TEST_IMAGE } from './support/env.ts';
import { removeLeftovers, removeTaskContainers, watchNodeIds } from './support/leftovers.ts';

afterAll(removeLeftovers);

const run = promisify(execFile);

describe('removeTaskContainers', () => {
  it('removes the containers of the nodes this file saw, and their anonymous volumes', async () => {
    const nodeId = randomUUID();
    // A process of this file that printed its node id (ended already).
    watchNodeIds(() => `{"node_id":"${nodeId}"}`, Promise.resolve());
    const { stdout } = await run('docker', ['create', '--label', `jarvis.node_id=${nodeId}`, '-v', '/tmp', TEST_IMAGE, 'true']);
    const id = stdout.trim();
    const inspect = JSON.parse((await run('docker', ['inspect', id])).stdout) as Array<{ Mounts: Array<{ Type: string; Name: string }> }>;
    const volume = inspect[0].Mounts.find((m) => m.Type === 'volume')!.Name;
    try {
      await new Promise((r) => setTimeout(r, 10)); // the output's ids are read once it has ended
      await removeTaskContainers();
      await expect(run('docker', ['inspect', id])).rejects.toThrow(/No such/i);
      await expect(run('docker', ['volume', 'inspect', volume])).rejects.toThrow(/No such volume/i);
    } finally {
      await run('docker', ['rm', '-f', '-v', id]).catch(() => undefined);
      await run('docker', ['volume', 'rm', '-f', volume]).catch(() => undefined);
    }
  });
});
