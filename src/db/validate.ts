import { isIP } from 'node:net';

import { InvalidInputError } from '../errors.js';

/**
 * Checks that run before a value reaches the database, so bad input becomes a typed
 * InvalidInputError instead of a driver error. Each returns the value it accepted.
 */

export const MAX_LIMIT = 1000;

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
  return value;
}

/** Usernames and emails are one identity whatever their case or Unicode spelling. */
export function normalizeIdentity(value: string): string {
  return value.normalize('NFKC').toLowerCase();
}

/** Escapes LIKE wildcards so user search text is matched literally. */
export function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, (char) => `\\${char}`);
}
