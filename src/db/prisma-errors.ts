import { Prisma } from '../generated/prisma/client.js';

import { EmailTakenError, InvalidInputError, UsernameTakenError } from '../errors.js';

/**
 * The one place that turns database failures into domain errors. Anything not recognised here is
 * rethrown unchanged: an unknown failure must surface, not be mistaken for a known one.
 */

/** PostgreSQL SQLSTATE codes this project gives a meaning to. */
export const SQLSTATE = {
  uniqueViolation: '23505',
  checkViolation: '23514',
  foreignKeyViolation: '23503',
} as const;

/**
 * Codes and messages of failures that say nothing about the request or row at hand: the database
 * was unreachable, restarting, out of connections, or the pool was busy or closed. pg and Prisma
 * report these in several shapes, so both the code and the message are read.
 */
const UNAVAILABLE =
  /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EAI_AGAIN|timeout|terminat|connect|pool|P1001|P1002|P1008|P1017|P2024|57P0\d|08\d{3}|53300/i;

/** True when the database, not the request, is at fault: worth a 503, or a retry later. */
export function isDatabaseUnavailable(error: unknown): boolean {
  if (error === null || typeof error !== 'object') return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  return UNAVAILABLE.test(`${String(code ?? '')} ${String(message ?? '')}`);
}

/** Fields named by a unique violation, whether it came through Prisma or straight from pg. */
export function uniqueViolationFields(error: unknown): string[] | undefined {
  if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2002') {
    const meta = error.meta as Record<string, unknown> | undefined;
    const target = meta?.target;
    if (Array.isArray(target)) return target.map(String);
    if (typeof target === 'string') return [target];
    const cause = (meta?.driverAdapterError as { cause?: { constraint?: unknown } } | undefined)?.cause;
    const constraint = cause?.constraint as { fields?: string[]; index?: string } | undefined;
    if (constraint?.fields) return constraint.fields;
    if (constraint?.index) return [constraint.index];
    return [];
  }
  const pgError = error as { code?: string; constraint?: string } | null;
  if (pgError?.code === SQLSTATE.uniqueViolation) return [pgError.constraint ?? ''];
  return undefined;
}

/** The SQLSTATE behind an error, whether Prisma wrapped it (driver adapter) or pg threw it. */
export function sqlState(error: unknown): string | undefined {
  if (error instanceof Prisma.PrismaClientKnownRequestError) {
    const code = driverCause(error)?.originalCode;
    return typeof code === 'string' ? code : undefined;
  }
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** True for a foreign key violation: Prisma's P2003 or SQLSTATE 23503. */
export function isForeignKeyViolation(error: unknown): boolean {
  if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2003') return true;
  return sqlState(error) === SQLSTATE.foreignKeyViolation;
}

/** The CHECK constraint an error names, or undefined when it is not a check violation. */
export function checkViolationConstraint(error: unknown): string | undefined {
  if (sqlState(error) !== SQLSTATE.checkViolation) return undefined;
  const constraint = (error as { constraint?: unknown }).constraint;
  if (typeof constraint === 'string') return constraint;
  const message = String(driverCause(error)?.originalMessage ?? '');
  return /check constraint "([^"]+)"/.exec(message)?.[1] ?? '';
}

/** True when Prisma reports that the record an update or delete named does not exist. */
export function isRecordNotFound(error: unknown): boolean {
  return error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2025';
}

/**
 * Maps a unique violation on users to UsernameTakenError or EmailTakenError, and a refusal by a
 * lowercase CHECK to InvalidInputError; rethrows the rest. The CHECK's error is not kept as a
 * cause: PostgreSQL's detail lists the whole failing row, password hash included.
 */
export function translateUserWriteError(error: unknown): never {
  const fields = uniqueViolationFields(error);
  if (fields !== undefined) {
    const joined = fields.join(' ');
    if (/email/.test(joined)) throw new EmailTakenError(error);
    if (/username/.test(joined)) throw new UsernameTakenError(error);
  }
  const check = checkViolationConstraint(error);
  if (check === 'users_username_lowercase') throw new InvalidInputError('username', 'must be lowercase');
  if (check === 'users_email_lowercase') throw new InvalidInputError('email', 'must be lowercase');
  throw error;
}

interface DriverCause {
  originalCode?: unknown;
  originalMessage?: unknown;
}

function driverCause(error: unknown): DriverCause | undefined {
  if (!(error instanceof Prisma.PrismaClientKnownRequestError)) return undefined;
  const adapterError = (error.meta as { driverAdapterError?: { cause?: DriverCause } } | undefined)
    ?.driverAdapterError;
  return adapterError?.cause;
}
