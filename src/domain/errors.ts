// Errors of the domain: what a use case or a rule refuses, in words a user can act on, with no
// HTTP in them. The API maps each kind to its status code (src/api/domain-errors.ts).

/** One problem with the input, located like a FastAPI/Pydantic error item (`["body","tasks",3,"key"]`). */
export interface InputProblem {
  type: string;
  loc: Array<string | number>;
  msg: string;
  input: unknown;
  ctx?: Record<string, unknown>;
}

export abstract class DomainError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The thing asked about does not exist. */
export class NotFound extends DomainError {}

/** The thing exists but is in a state that refuses the action (already ended, busy, offline…). */
export class Conflict extends DomainError {}

/** A dependency (Redis) is down, so nothing was done; the message says to retry. */
export class Unavailable extends DomainError {}

/**
 * Problems listed in one answer. A hostile body can hold millions (13 MB of unknown dependencies
 * gave 1.6 M items, a 307 MB answer): past this many, one item says how many were left out.
 */
export const MAX_LISTED_PROBLEMS = 100;

/** The last item of a cut list: `ctx.left_out` problems were found and are not listed. */
export function leftOutProblem(loc: Array<string | number>, leftOut: number): InputProblem {
  const what = leftOut === 1 ? '1 more problem was' : `${leftOut} more problems were`;
  return { type: 'too_many_errors', loc, msg: `${what} found and not listed (only the first ${MAX_LISTED_PROBLEMS} are); fix these and send the request again`, input: null, ctx: { left_out: leftOut } };
}

/** `problems` with at most MAX_LISTED_PROBLEMS listed, then one leftOutProblem counting the rest (left-out items included). */
export function listedProblems<P extends InputProblem>(problems: P[]): Array<P | InputProblem> {
  if (problems.length <= MAX_LISTED_PROBLEMS + 1) return problems;
  let leftOut = 0;
  for (let i = MAX_LISTED_PROBLEMS; i < problems.length; i++) leftOut += problems[i].type === 'too_many_errors' ? Number(problems[i].ctx?.left_out ?? 1) : 1;
  return [...problems.slice(0, MAX_LISTED_PROBLEMS), leftOutProblem(problems[MAX_LISTED_PROBLEMS].loc.slice(0, 1), leftOut)];
}

/** Input that a schema cannot check (a workflow cycle, an unknown dependency); the list is cut by listedProblems. */
export class InvalidInput extends DomainError {
  readonly problems: InputProblem[];
  constructor(problems: InputProblem[]) {
    const listed = listedProblems(problems);
    const shown = listed.slice(0, 10).map((p) => `${p.loc.join('.')}: ${p.msg}`).join('; ');
    super(`${listed.length} problem${listed.length === 1 ? '' : 's'}: ${shown}${listed.length > 10 ? '; …' : ''}`);
    this.problems = listed;
  }
}

/** Missing or wrong credentials (a registration or node token). */
export class Unauthorized extends DomainError {}

/** A rule of the tenant's policy refuses what was asked; the message names the rule. */
export class Forbidden extends DomainError {}
