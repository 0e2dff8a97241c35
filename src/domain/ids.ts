// Ids of new tasks and workflows: UUIDv7 (RFC 9562), whose text sorts by creation time (to the
// millisecond, and in creation order within one process). A waiting task's BullMQ job is its
// task id, and jobs sent back to a pending queue's front (dispatcher.ts, "Waiting") are ordered
// by that id within their priority class: time-ordered ids keep them first in, first out.
// Time-ordered keys also keep the tasks table's primary-key index appending at its end.
import { v7 } from 'uuid';

export function newId(): string {
  return v7();
}
