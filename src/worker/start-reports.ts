// "started" reports leave a worker process in batches: while one job of reports is being added
// to the events queue, the next fills up, so a process whose nodes start hundreds of attempts
// a second (many simulated nodes, or one big node taking a burst) adds a few jobs, and a lone
// start is reported at once. The control plane stores them in batches anyway (monitor/results.ts).
import type { Queue } from 'bullmq';
import { Batcher } from '../scheduler/batcher.ts';
import type { StartedReports, TaskEventJob } from '../scheduler/queues.ts';

type Started = Extract<TaskEventJob, { type: 'started' }>;

/** The most reports in one job. */
const MAX_REPORTS = 500;

export class StartReports {
  private readonly batcher = new Batcher<Started>(MAX_REPORTS, async (batch) => {
    const job: StartedReports = { type: 'started-many', reports: batch.map((b) => b.value) };
    // Retried by BullMQ if recording fails; a report applied twice changes nothing (fenced by attempt).
    await this.events.add('started-many', job, { attempts: 20, backoff: { type: 'exponential', delay: 250 }, removeOnComplete: true, removeOnFail: { count: 1000 } });
    for (const b of batch) b.settle();
  });

  constructor(private readonly events: Queue) {}

  /** Resolves once the report is in the events queue (with the others of its batch). */
  report(event: Started): Promise<void> {
    return this.batcher.add(event);
  }
}
