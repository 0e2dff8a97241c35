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

/** Input that a schema cannot check (a workflow cycle, an unknown dependency). */
export class InvalidInput extends DomainError {
  constructor(readonly problems: InputProblem[]) {
    super(`${problems.length} problem${problems.length === 1 ? '' : 's'}: ${problems.map((p) => `${p.loc.join('.')}: ${p.msg}`).join('; ')}`);
  }
}

/** Missing or wrong credentials (a registration or node token). */
export class Unauthorized extends DomainError {}

/** A rule of the tenant's policy refuses what was asked; the message names the rule. */
export class Forbidden extends DomainError {}
