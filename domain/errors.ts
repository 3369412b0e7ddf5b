export type DomainErrorCode =
  | 'validation'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'unprocessable'
  | 'unavailable';

export interface FieldError {
  field: string;
  message: string;
}

/** The one way domain code refuses something; the API maps `code` to an HTTP status. */
export class DomainError extends Error {
  constructor(
    readonly code: DomainErrorCode,
    message: string,
    readonly errors: FieldError[] = [],
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

export const notFound = (what: string) => new DomainError('not_found', `${what} not found`);
export const conflict = (why: string) => new DomainError('conflict', why);
export const forbidden = (why = 'You may not access this resource') => new DomainError('forbidden', why);
