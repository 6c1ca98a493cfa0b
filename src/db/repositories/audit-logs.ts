import type { AuditLog, Prisma, PrismaClient } from '../../generated/prisma/client.js';

import { AppError, InvalidInputError } from '../../errors.js';
import { isForeignKeyViolation } from '../prisma-errors.js';
import {
  boundedText,
  ipAddress,
  limit as checkLimit,
  MAX_INT8,
  nonNegativeInt,
  optionalText,
  positiveInt,
  rowId,
  validDate,
} from '../validate.js';
import { type PublicUser, publicUserSelect } from './users.js';

export interface AuditLogInput {
  action: string;
  userId?: number | null;
  resource?: string | null;
  resourceId?: string | null;
  ipAddress?: string | null;
  userAgent?: string | null;
  /**
   * Any JSON value. Redact secrets before it gets here (see src/http/redact.ts). jsonb cannot hold
   * U+0000 or a lone surrogate; either is stored as U+FFFD, in keys and in values.
   */
  requestData?: Prisma.InputJsonValue | null;
  responseStatus?: number | null;
  /** When it happened; defaults to the time of the insert, by this process's clock (Prisma fills it). */
  createdAt?: Date;
}

export interface AuditLogFilter {
  userId?: number;
  action?: string;
  resource?: string;
  from?: Date;
  to?: Date;
}

export interface AuditLogPage {
  items: AuditLog[];
  /** Opaque; pass back as `cursor` for the next page. Null on the last page. */
  nextCursor: string | null;
}

const MAX_NAME_LENGTH = 100;
/** About 270 years: an older cutoff would leave the range PostgreSQL can compare dates in. */
const MAX_DAYS_OLD = 100_000;
/** Inserts retried after a foreign key violation; each retry re-reads which users exist. */
const MAX_INSERT_ATTEMPTS = 3;
const ACTION_PATTERN = /^[a-z][a-z0-9_.-]*$/;

/**
 * Audit rows are history: none is lost because its user is gone. A row naming a user deleted
 * before it was written (the audit buffer writes late) is kept with a null user, exactly as the
 * foreign key's ON DELETE SET NULL would have left it had it been written a moment earlier.
 */
export class AuditLogRepository {
  constructor(private readonly prisma: PrismaClient) {}

  async createAuditLog(input: AuditLogInput): Promise<AuditLog> {
    let row = toRow(input);

    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.prisma.auditLog.create({ data: row });
      } catch (error) {
        if (!isForeignKeyViolation(error) || attempt === MAX_INSERT_ATTEMPTS) throw error;
        row = (await this.withoutMissingUsers([row]))[0] ?? row;
      }
    }
  }

  /**
   * Inserts many rows in one statement; the audit buffer's flush. Every row is validated before
   * any is written, and the insert is all or nothing. Returns how many.
   */
  async createAuditLogs(inputs: readonly AuditLogInput[]): Promise<number> {
    if (inputs.length === 0) return 0;
    let rows = inputs.map((input) => toRow(input));

    for (let attempt = 1; ; attempt += 1) {
      try {
        const { count } = await this.prisma.auditLog.createMany({ data: rows });
        return count;
      } catch (error) {
        if (!isForeignKeyViolation(error) || attempt === MAX_INSERT_ATTEMPTS) throw error;
        rows = await this.withoutMissingUsers(rows);
      }
    }
  }

  /** The user's audit rows, newest first (by when they happened; ties by insertion order). */
  async findUserAuditLogs(userId: number, limit = 100, offset = 0): Promise<AuditLog[]> {
    return this.prisma.auditLog.findMany({
      where: { userId: rowId('userId', userId) },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: checkLimit(limit),
      skip: nonNegativeInt('offset', offset),
    });
  }

  /** Rows with this action, newest first as findUserAuditLogs orders them, each with its user or null. */
  async findAuditLogsByAction(
    action: string,
    limit = 100,
  ): Promise<(AuditLog & { user: PublicUser | null })[]> {
    return this.prisma.auditLog.findMany({
      where: { action: boundedText('action', action, MAX_NAME_LENGTH) },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: checkLimit(limit),
      include: { user: { select: publicUserSelect } },
    });
  }

  /** Deletes rows older than daysOld days in one statement; cleanup does it in batches. */
  async deleteOldAuditLogs(daysOld: number): Promise<number> {
    const cutoff = new Date(Date.now() - positiveInt('daysOld', daysOld, MAX_DAYS_OLD) * 86_400_000);
    const { count } = await this.prisma.auditLog.deleteMany({ where: { createdAt: { lt: cutoff } } });
    return count;
  }

  /**
   * Keyset pagination, newest first by id, which follows insertion order. Unlike offsets, the
   * cost of a page does not grow with how deep it is. The key is the id, not created_at: a
   * created_at read back has lost its microseconds, so it could not resume a walk exactly. `from`
   * is inclusive and `to` exclusive.
   */
  async findPage(filter: AuditLogFilter, limit = 100, cursor?: string): Promise<AuditLogPage> {
    checkLimit(limit);
    const where: Prisma.AuditLogWhereInput = {
      ...(filter.userId !== undefined && { userId: rowId('userId', filter.userId) }),
      ...(filter.action !== undefined && { action: boundedText('action', filter.action, MAX_NAME_LENGTH) }),
      ...(filter.resource !== undefined && {
        resource: boundedText('resource', filter.resource, MAX_NAME_LENGTH),
      }),
      createdAt: {
        ...(filter.from !== undefined && { gte: validDate('from', filter.from) }),
        ...(filter.to !== undefined && { lt: validDate('to', filter.to) }),
      },
      ...(cursor !== undefined && { id: { lt: decodeCursor(cursor) } }),
    };
    const rows = await this.prisma.auditLog.findMany({ where, orderBy: { id: 'desc' }, take: limit + 1 });
    const items = rows.slice(0, limit);
    const last = items.at(-1);
    return { items, nextCursor: rows.length > limit && last ? encodeCursor(last.id) : null };
  }

  /** The rows with every user id that no longer names a user set to null. */
  private async withoutMissingUsers(
    rows: Prisma.AuditLogCreateManyInput[],
  ): Promise<Prisma.AuditLogCreateManyInput[]> {
    const named = [...new Set(rows.flatMap((row) => (typeof row.userId === 'number' ? [row.userId] : [])))];
    const existing = await this.prisma.user.findMany({ where: { id: { in: named } }, select: { id: true } });
    const present = new Set(existing.map((user) => user.id));

    return rows.map((row) =>
      typeof row.userId === 'number' && !present.has(row.userId) ? { ...row, userId: null } : row,
    );
  }
}

export function encodeCursor(id: bigint): string {
  return Buffer.from(`a:${id}`).toString('base64url');
}

/** Throws AppError INVALID_CURSOR for anything encodeCursor did not make. */
export function decodeCursor(cursor: string): bigint {
  const decoded = /^[A-Za-z0-9_-]{1,40}$/.test(cursor)
    ? Buffer.from(cursor, 'base64url').toString()
    : '';
  const match = /^a:([1-9]\d{0,18})$/.exec(decoded);
  const id = match?.[1] === undefined ? undefined : BigInt(match[1]);
  if (id === undefined || id > MAX_INT8) throw new AppError('INVALID_CURSOR');
  return id;
}

function toRow(input: AuditLogInput): Prisma.AuditLogCreateManyInput {
  const action = boundedText('action', input.action, MAX_NAME_LENGTH);
  if (!ACTION_PATTERN.test(action)) {
    throw new InvalidInputError('action', 'must be lowercase words joined by dots');
  }
  const status = input.responseStatus;
  if (status !== undefined && status !== null && (!Number.isInteger(status) || status < 100 || status > 599)) {
    throw new InvalidInputError('responseStatus', 'must be an HTTP status code');
  }
  return {
    action,
    userId: input.userId === undefined || input.userId === null ? null : rowId('userId', input.userId),
    resource: optionalText('resource', input.resource, MAX_NAME_LENGTH) ?? null,
    resourceId: optionalText('resourceId', input.resourceId, MAX_NAME_LENGTH) ?? null,
    ipAddress: ipAddress(input.ipAddress) ?? null,
    userAgent: input.userAgent?.replaceAll('\u0000', '\uFFFD') ?? null,
    requestData:
      input.requestData === undefined || input.requestData === null ? undefined : toJsonb(input.requestData),
    responseStatus: status ?? null,
    ...(input.createdAt !== undefined && { createdAt: validDate('createdAt', input.createdAt) }),
  };
}

/** U+0000 and UTF-16 surrogates that are not part of a pair: jsonb refuses both. */
const UNSTORABLE_IN_JSONB = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * The value as jsonb can store it: every string, keys included, with U+0000 and lone surrogates
 * replaced by U+FFFD, so an audit row is never lost over one character. Values JSON cannot
 * represent (undefined, functions) are dropped the way JSON.stringify drops them.
 */
function toJsonb(value: Prisma.InputJsonValue): Prisma.InputJsonValue {
  return JSON.parse(JSON.stringify(value), (_key, inner: unknown) => {
    if (typeof inner === 'string') return scrub(inner);
    if (inner === null || typeof inner !== 'object' || Array.isArray(inner)) return inner;
    // fromEntries defines own properties, so a "__proto__" key stays a plain key.
    return Object.fromEntries(Object.entries(inner).map(([key, field]) => [scrub(key), field]));
  }) as Prisma.InputJsonValue;
}

function scrub(text: string): string {
  return text.replace(UNSTORABLE_IN_JSONB, '\uFFFD');
}
