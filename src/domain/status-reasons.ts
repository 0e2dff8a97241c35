// Why a task is where it is, in words (a task's status_reason and its history's reasons). The
// stores write these; they do not compose them.

export const WAITING_FOR_SCHEDULER = 'waiting for the scheduler to place it on a node';

export const placedOn = (node: string) => `placed on node ${node}`;
export const placedWaitingForStart = (node: string) => `${placedOn(node)}; waiting for it to start the container`;
export const CONTAINER_STARTED = 'container started';
export const nodeWentOffline = (node: string, attempt: number) => `node ${node} went offline during attempt ${attempt}; placing it again`;
export const nodeStoppedBeforeTaking = (node: string, attempt: number) => `node ${node} stopped before it took attempt ${attempt}; placing it again`;
export const nodeEngineLostBeforeTaking = (node: string, attempt: number) =>
  `node ${node} lost its container engine before it took attempt ${attempt}; placing it again`;

/** Why a node gives back the attempts it was handed and has not taken. */
export type UntakenReason = 'stopping' | 'engine_unreachable';
export const retryRequested = (after: string) => `retry requested after ${after}; ${WAITING_FOR_SCHEDULER}`;

/** A reason a tenant's fair share or quota gives (scheduler/fair-share.ts composes them). */
export const FAIR_SHARE_HOLD = 'held back by fair share';
export const isTenantHold = (reason: string | null | undefined) => !!reason && (reason.startsWith(FAIR_SHARE_HOLD) || /^tenant \S+ at quota:/.test(reason));
/** A task the scheduler keeps room for on a node while that node's tasks end (scheduler/room-keeper.ts composes it). */
export const ROOM_KEPT = 'waiting for room kept for it';
/** A reason the task's history records when it begins: a tenant's hold, or room kept for it. */
export const isRecordedHold = (reason: string | null | undefined) => isTenantHold(reason) || (!!reason && reason.startsWith(ROOM_KEPT));
/** The kind of a reason: its words before the first colon ("no node fits", "tenant ml at quota"). */
export const reasonKind = (reason: string | null | undefined) => (reason ?? '').split(':', 1)[0];

/** A workflow task whose templates could not be filled at release fails with this error. */
export const cannotFill = (where: string, error: string) => `cannot fill ${where}: ${error}`;
/** Failed at release, before it ran: its templates were never filled in (cannotFill, cannotRelease). */
export const isFillFailure = (error: string | null | undefined) => !!error && (error.startsWith('cannot fill ') || error.startsWith('cannot release: '));
/** A workflow task whose release failed otherwise (an error, not a missing value) fails with this error. */
export const cannotRelease = (error: string) => `cannot release: ${error}; retry the workflow (POST /workflows/{id}/retry) to run it again`;
