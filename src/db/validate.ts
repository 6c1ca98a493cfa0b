import { isIP } from 'node:net';

import { InvalidInputError } from '../errors.js';

/**
 * Checks that run before a value reaches the database, so bad input becomes a typed
 * InvalidInputError instead of a driver error. Each returns the value it accepted.
 */

export const MAX_LIMIT = 1000;

/** Largest value of PostgreSQL's integer (int4), the type of every SERIAL id here. */
export const MAX_INT4 = 2_147_483_647;

/** Largest value of PostgreSQL's bigint (int8). */
export const MAX_INT8 = 9_223_372_036_854_775_807n;

/** Instants Prisma and PostgreSQL both write and read back unchanged: years 1 to 9999, UTC. */
const MIN_TIME = Date.parse('0001-01-01T00:00:00.000Z');
const MAX_TIME = Date.parse('9999-12-31T23:59:59.999Z');

export function positiveInt(field: string, value: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new InvalidInputError(field, 'must be a positive whole number');
  }
  if (value > max) throw new InvalidInputError(field, `must be at most ${max}`);
  return value;
}

export function nonNegativeInt(field: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new InvalidInputError(field, 'must be a whole number of zero or more');
  }
  return value;
}

/** An id of a SERIAL column: a larger number cannot name a row, and the driver would refuse it. */
export function rowId(field: string, value: number): number {
  return positiveInt(field, value, MAX_INT4);
}

export function limit(value: number, field = 'limit'): number {
  return positiveInt(field, value, MAX_LIMIT);
}

/** A non-empty string of at most maxLength characters, without NUL (PostgreSQL refuses it). */
export function boundedText(field: string, value: string, maxLength: number): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new InvalidInputError(field, 'must be a non-empty string');
  }
  if (value.length > maxLength) {
    throw new InvalidInputError(field, `must be at most ${maxLength} characters`);
  }
  if (value.includes('\u0000')) throw new InvalidInputError(field, 'must not contain NUL');
  return value;
}

export function optionalText(field: string, value: string | null | undefined, maxLength: number) {
  return value === undefined || value === null ? value : boundedText(field, value, maxLength);
}

/** IPv4, IPv6 or IPv4-mapped IPv6, as PostgreSQL's inet type stores it (no zone index). */
export function ipAddress(value: string | null | undefined, field = 'ipAddress') {
  if (value === undefined || value === null) return value;
  if (typeof value !== 'string' || isIP(value) === 0 || value.includes('%')) {
    throw new InvalidInputError(field, 'must be an IPv4 or IPv6 address');
  }
  return value;
}

export function validDate(field: string, value: Date): Date {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) {
    throw new InvalidInputError(field, 'must be a valid date');
  }
  if (value.getTime() < MIN_TIME || value.getTime() > MAX_TIME) {
    throw new InvalidInputError(field, 'must be between the years 1 and 9999');
  }
  return value;
}

/**
 * Usernames and emails are one identity whatever their case or Unicode spelling. Lowercasing
 * turns a word-final capital sigma into "ς" but any other into "σ"; folding "ς" to "σ" keeps
 * "ΟΔΟΣ" and "οδοσ" one name, as they are in Unicode case folding.
 */
export function normalizeIdentity(value: string): string {
  return value.normalize('NFKC').toLowerCase().replaceAll('\u03C2', '\u03C3');
}

/**
 * A username or email as it is stored: normalised, then checked against the column's length, since
 * NFKC can lengthen a string ("ﷺ" becomes 18 characters). Input far beyond maxLength is refused
 * before normalising, so no caller can make us normalise megabytes.
 */
export function identity(field: string, value: string, maxLength: number): string {
  const tooLong = () => new InvalidInputError(field, `must be at most ${maxLength} characters`);
  if (typeof value === 'string' && value.length > maxLength * 4) throw tooLong();

  const normalized = normalizeIdentity(boundedText(field, value, maxLength * 4));
  if (normalized.length > maxLength) throw tooLong();
  return normalized;
}

/** Escapes LIKE wildcards so user search text is matched literally. */
export function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, (char) => `\\${char}`);
}
