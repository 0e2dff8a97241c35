// Why a task is where it is, in words (a task's status_reason and its history's reasons). The
// stores write these; they do not compose them.

export const WAITING_FOR_SCHEDULER = 'waiting for the scheduler to place it on a node';

export const placedOn = (node: string) => `placed on node ${node}`;
export const placedWaitingForStart = (node: string) => `${placedOn(node)}; waiting for it to start the container`;
export const CONTAINER_STARTED = 'container started';
export const nodeWentOffline = (node: string, attempt: number) => `node ${node} went offline during attempt ${attempt}; placing it again`;
export const retryRequested = (after: string) => `retry requested after ${after}; ${WAITING_FOR_SCHEDULER}`;
