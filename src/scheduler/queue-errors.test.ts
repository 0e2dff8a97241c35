// logQueueError (queues.ts): what a BullMQ worker's error becomes in the log.
import { Writable } from 'node:stream';
import pino from 'pino';
import { expect, it } from 'vitest';
import { logQueueError } from './queues.ts';

function captured() {
  const lines: Array<{ level: number; msg: string; lapsed_since_last_warning?: number }> = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      done();
    },
  });
  return { lines, logger: pino({ level: 'debug' }, sink) };
}
const flush = () => new Promise((r) => setImmediate(r));

it('logs a lapsed lock, or a job its new taker already finished, as one warning a minute with a count', async () => {
  const { lines, logger } = captured();
  const who = `test-${Math.random()}`;
  logQueueError(logger, who, new Error('Missing key for job 01a23838-daee-739f-b0dd-35e9aa4164c7. moveToFinished'));
  logQueueError(logger, who, new Error('Missing lock for job 7. moveToFinished'));
  logQueueError(logger, who, new Error('could not renew lock for job 8'));
  await flush();
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatchObject({ level: 40, msg: expect.stringContaining(`${who}: a job's lock lapsed`) });
});

it('logs any other queue error, a missing key elsewhere included, as an error each time', async () => {
  const { lines, logger } = captured();
  const who = `test-${Math.random()}`;
  logQueueError(logger, who, new Error('Missing key for job 9. updateProgress'));
  logQueueError(logger, who, new Error('Connection is closed.'));
  await flush();
  expect(lines.map((l) => [l.level, l.msg])).toEqual([
    [50, `${who}: queue error`],
    [50, `${who}: queue error`],
  ]);
});
