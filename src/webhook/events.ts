// Webhook events: their names, which subscriptions match them, and the JSON each one carries.
//   EventPattern                       zod schema for one entry of a webhook's `events`;
//   matchesEvent(patterns, type)       fan-out: does this webhook want this event?
//   taskEvent / workflowEvent(...)     the payload {id, type, at, data}, serialised once with
//                                      eventBody() and stored, so every retry sends the same bytes;
//   orderingKey(event)                 deliveries sharing a key go out one at a time, in order.
import { z } from '@hono/zod-openapi';

export const TASK_EVENTS = ['task.queued', 'task.running', 'task.succeeded', 'task.failed', 'task.timed_out', 'task.cancelled', 'task.skipped'] as const;
export const WORKFLOW_EVENTS = ['workflow.running', 'workflow.succeeded', 'workflow.failed', 'workflow.cancelled'] as const;
export const EVENT_TYPES = [...TASK_EVENTS, ...WORKFLOW_EVENTS] as const;
export type EventType = (typeof EVENT_TYPES)[number];

const FAMILIES = [...new Set(EVENT_TYPES.map((t) => t.split('.')[0]))];

export const EventPattern = z
  .string()
  .refine((p) => p === '*' || (EVENT_TYPES as readonly string[]).includes(p) || FAMILIES.some((f) => p === `${f}.*`), {
    error: (issue) => `unknown event "${String(issue.input)}": use one of ${EVENT_TYPES.join(', ')}, or ${FAMILIES.map((f) => `${f}.*`).join(', ')}, or *`,
  })
  .openapi({ example: 'task.succeeded' });

/** `*` matches all, `task.*` every task event, anything else only itself. */
export function matchesEvent(patterns: readonly string[], type: string): boolean {
  return patterns.some((p) => p === '*' || p === type || (p.endsWith('.*') && type.startsWith(p.slice(0, -1))));
}

export interface WebhookEvent<D> {
  /** Stable across retries and re-sends: receivers de-duplicate on it (delivery is at-least-once). */
  id: string;
  type: EventType;
  /** ISO 8601 time the event happened (not when it was sent). */
  at: string;
  data: D;
}

export interface TaskEventData {
  task: { id: string; name: string | null; status: string; workflow_id: string | null; workflow_key: string | null; exit_code: number | null; reason: string | null; result: string | null; outputs: Record<string, string> };
}
export interface WorkflowEventData {
  workflow: { id: string; name: string | null; status: string; schedule_id: string | null };
}

export function taskEvent(id: string, type: (typeof TASK_EVENTS)[number], at: Date, task: TaskEventData['task']): WebhookEvent<TaskEventData> {
  return { id, type, at: at.toISOString(), data: { task } };
}

export function workflowEvent(id: string, type: (typeof WORKFLOW_EVENTS)[number], at: Date, workflow: WorkflowEventData['workflow']): WebhookEvent<WorkflowEventData> {
  return { id, type, at: at.toISOString(), data: { workflow } };
}

/** The exact bytes sent and signed. */
export function eventBody(event: WebhookEvent<unknown>): string {
  return JSON.stringify(event);
}

/** "task:<id>" or "workflow:<id>": per webhook, one delivery per key is in flight at a time. */
export function orderingKey(event: WebhookEvent<TaskEventData | WorkflowEventData>): string {
  return 'task' in event.data ? `task:${event.data.task.id}` : `workflow:${event.data.workflow.id}`;
}
