/**
 * The one registry of domain failures. Every error the service can answer with has a stable code,
 * an HTTP status and a default message here; docs/errors.md documents each code, and a test
 * checks that none is missing there.
 */
export const ERROR_CODES = {
  VALIDATION_FAILED: { status: 400, message: 'The request is not valid.' },
  INVALID_JSON: { status: 400, message: 'The request body is not valid JSON.' },
  INVALID_CURSOR: { status: 400, message: 'The cursor is not valid.' },
  INVALID_INPUT: { status: 400, message: 'An input value is not valid.' },
  MALFORMED_REQUEST: { status: 400, message: 'The request is not valid HTTP.' },
  UNAUTHORIZED: { status: 401, message: 'Authentication is required.' },
  INVALID_CREDENTIALS: { status: 401, message: 'The username or password is incorrect.' },
  FORBIDDEN: { status: 403, message: 'You are not allowed to do this.' },
  CURRENT_PASSWORD_INCORRECT: { status: 403, message: 'The current password is incorrect.' },
  ROUTE_NOT_FOUND: { status: 404, message: 'No such route.' },
  USER_NOT_FOUND: { status: 404, message: 'No such user.' },
  SESSION_NOT_FOUND: { status: 404, message: 'No such session.' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'This method is not allowed here.' },
  REQUEST_TIMEOUT: { status: 408, message: 'The request was not received in time.' },
  USERNAME_TAKEN: { status: 409, message: 'This username is already taken.' },
  SELF_LOCKOUT: { status: 409, message: 'An administrator cannot deactivate or delete their own account.' },
  EMAIL_TAKEN: { status: 409, message: 'This email address is already in use.' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body is too large.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'The request body must be application/json.' },
  RATE_LIMITED: { status: 429, message: 'Too many attempts. Try again later.' },
  HEADERS_TOO_LARGE: { status: 431, message: 'The request headers are too large.' },
  INTERNAL_ERROR: { status: 500, message: 'Something went wrong on our side.' },
  SERVICE_UNAVAILABLE: { status: 503, message: 'The service is temporarily unavailable.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface AppErrorOptions {
  message?: string;
  details?: unknown;
  cause?: unknown;
}

/** Base of every domain error: carries a registered code, its HTTP status and optional details. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;
  readonly details?: unknown;

  constructor(code: ErrorCode, options: AppErrorOptions = {}) {
    super(options.message ?? ERROR_CODES[code].message, { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.statusCode = ERROR_CODES[code].status;
    this.details = options.details;
  }
}

/** A value failed validation before it reached the database. */
export class InvalidInputError extends AppError {
  readonly field: string;

  constructor(field: string, message: string) {
    super('INVALID_INPUT', { message: `${field}: ${message}`, details: { field } });
    this.field = field;
  }
}

/** Family of "the thing you named does not exist" errors. */
export class NotFoundError extends AppError {}

export class UserNotFoundError extends NotFoundError {
  constructor(id?: number | string) {
    super('USER_NOT_FOUND', { details: id === undefined ? undefined : { id } });
  }
}

export class SessionNotFoundError extends NotFoundError {
  constructor(id?: number | string) {
    super('SESSION_NOT_FOUND', { details: id === undefined ? undefined : { id } });
  }
}

/** Family of "this would break a uniqueness rule" errors. */
export class ConflictError extends AppError {}

export class UsernameTakenError extends ConflictError {
  constructor(cause?: unknown) {
    super('USERNAME_TAKEN', { cause });
  }
}

export class EmailTakenError extends ConflictError {
  constructor(cause?: unknown) {
    super('EMAIL_TAKEN', { cause });
  }
}

/** Raised when configuration is missing or malformed; names the environment variable. */
export class ConfigError extends Error {
  readonly variable: string;

  constructor(variable: string, problem: string) {
    super(`${variable}: ${problem}`);
    this.name = 'ConfigError';
    this.variable = variable;
  }
}
