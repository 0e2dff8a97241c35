// Maps the domain's errors (src/domain/errors.ts) to the HTTP errors the API answers with; every
// other error passes through unchanged to the FastAPI-shaped error handler.
import { Conflict, DomainError, Forbidden, InvalidInput, NotFound, Unauthorized, Unavailable } from '../domain/errors.ts';
import { ConflictError, ForbiddenError, NotFoundError, RequestValidationError, ServiceUnavailableError, UnauthorizedError } from './fastapi/index.ts';

export function toHttpError(err: Error): Error {
  if (!(err instanceof DomainError)) return err;
  if (err instanceof InvalidInput) return new RequestValidationError(err.problems);
  const options = { cause: err };
  if (err instanceof NotFound) return new NotFoundError(err.message, options);
  if (err instanceof Conflict) return new ConflictError(err.message, options);
  if (err instanceof Unavailable) return new ServiceUnavailableError(err.message, options);
  if (err instanceof Unauthorized) return new UnauthorizedError(err.message, options);
  if (err instanceof Forbidden) return new ForbiddenError(err.message, options);
  return err;
}
