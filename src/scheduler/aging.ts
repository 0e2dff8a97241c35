// Aging: a task that waits long enough rises one priority class per `agingSeconds`, up to
// critical, so low-priority work is never starved by a steady stream of higher-priority work.
import { PRIORITY_RANK, type Priority } from '../domain/task.ts';

/**
 * When a task began to wait for a node: its workflow's release or its last return to the queue,
 * else its creation. A workflow's child released ten minutes after the workflow was submitted
 * has waited 0 s for room, not ten minutes (it was ranked critical at once, until session 28).
 */
export function waitingSince(t: { createdAt: Date; waitingSince: Date | null }): Date {
  return t.waitingSince ?? t.createdAt;
}

/** The BullMQ priority (rank) a task waiting since `createdAt` has now. */
export function agedPriority(priority: Priority, createdAt: Date, agingSeconds: number, now = Date.now()): number {
  // Never below zero: createdAt is stamped by the API process, whose clock may run ahead of this one.
  const classes = Math.max(0, Math.floor((now - createdAt.getTime()) / 1000 / agingSeconds));
  return Math.max(PRIORITY_RANK.critical, PRIORITY_RANK[priority] - classes);
}
