import { Prisma } from '../generated/prisma/client.js';

import { EmailTakenError, UsernameTakenError } from '../errors.js';

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

/** True when Prisma reports that the record an update or delete named does not exist. */
export function isRecordNotFound(error: unknown): boolean {
  return error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2025';
}

/** Maps a unique violation on users to UsernameTakenError or EmailTakenError; rethrows the rest. */
export function translateUserWriteError(error: unknown): never {
  const fields = uniqueViolationFields(error);
  if (fields !== undefined) {
    const joined = fields.join(' ');
    if (/email/.test(joined)) throw new EmailTakenError(error);
    if (/username/.test(joined)) throw new UsernameTakenError(error);
  }
  throw error;
}
