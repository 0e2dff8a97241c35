// The use-case layer: what the API (and anything else that drives Jarvis) asks the control plane
// to do. Routes parse, call one of these, and present the answer; these own the orchestration
// (store, enqueue, undo, tell the nodes) and speak in domain errors.
import type { ControlDeps } from './deps.ts';
import { NodeControl } from './nodes.ts';
import { TaskLogs } from './task-logs.ts';
import { TaskControl } from './tasks.ts';
import { TenantControl } from './tenants.ts';
import { WorkflowControl } from './workflows.ts';
import { ScheduleControl } from './schedules.ts';
import { WebhookControl } from './webhooks.ts';
import { SecretControl } from './secrets.ts';
import { KeyControl } from './keys.ts';
import { AuditLog } from './audit.ts';

export interface Control {
  tasks: TaskControl;
  logs: TaskLogs;
  workflows: WorkflowControl;
  nodes: NodeControl;
  tenants: TenantControl;
  schedules: ScheduleControl;
  webhooks: WebhookControl;
  secrets: SecretControl;
  keys: KeyControl;
  audit: AuditLog;
}

export function createControl(deps: ControlDeps): Control {
  return {
    tasks: new TaskControl(deps),
    logs: new TaskLogs(deps),
    workflows: new WorkflowControl(deps),
    nodes: new NodeControl(deps),
    tenants: new TenantControl(deps),
    schedules: new ScheduleControl(deps),
    webhooks: new WebhookControl(deps),
    secrets: new SecretControl(deps),
    keys: new KeyControl(deps),
    audit: new AuditLog(deps),
  };
}

export type { ControlDeps };
