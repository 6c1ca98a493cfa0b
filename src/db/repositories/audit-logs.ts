import type { AuditLog, Prisma, PrismaClient } from '../../generated/prisma/client.js';

import { AppError, InvalidInputError } from '../../errors.js';
import {
  boundedText,
  ipAddress,
  limit as checkLimit,
  nonNegativeInt,
  optionalText,
  positiveInt,
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
  /** Any JSON value. Redact secrets before it gets here (see src/http/redact.ts). */
  requestData?: Prisma.InputJsonValue | null;
  responseStatus?: number | null;
  /** When it happened; defaults to the database's clock at insert. */
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
const ACTION_PATTERN = /^[a-z][a-z0-9_.-]*$/;

export class AuditLogRepository {
  constructor(private readonly prisma: PrismaClient) {}

  async createAuditLog(input: AuditLogInput): Promise<AuditLog> {
    return this.prisma.auditLog.create({ data: toRow(input) });
  }

  /** Inserts many rows in one statement; the audit buffer's flush. Returns how many. */
  async createAuditLogs(inputs: readonly AuditLogInput[]): Promise<number> {
    if (inputs.length === 0) return 0;
    const { count } = await this.prisma.auditLog.createMany({ data: inputs.map(toRow) });
    return count;
  }

  /** The user's audit rows, newest first. */
  async findUserAuditLogs(userId: number, limit = 100, offset = 0): Promise<AuditLog[]> {
    return this.prisma.auditLog.findMany({
      where: { userId: positiveInt('userId', userId) },
      orderBy: { id: 'desc' },
      take: checkLimit(limit),
      skip: nonNegativeInt('offset', offset),
    });
  }

  /** Rows with this action, newest first, each with its user (no hash) or null. */
  async findAuditLogsByAction(
    action: string,
    limit = 100,
  ): Promise<(AuditLog & { user: PublicUser | null })[]> {
    return this.prisma.auditLog.findMany({
      where: { action: boundedText('action', action, MAX_NAME_LENGTH) },
      orderBy: { id: 'desc' },
      take: checkLimit(limit),
      include: { user: { select: publicUserSelect } },
    });
  }

  /** Deletes rows older than daysOld days in one statement; cleanup does it in batches. */
  async deleteOldAuditLogs(daysOld: number): Promise<number> {
    const cutoff = new Date(Date.now() - positiveInt('daysOld', daysOld) * 86_400_000);
    const { count } = await this.prisma.auditLog.deleteMany({ where: { createdAt: { lt: cutoff } } });
    return count;
  }

  /**
   * Keyset pagination, newest first (by id, which follows insertion order). Unlike offsets, the
   * cost of a page does not grow with how deep it is.
   */
  async findPage(filter: AuditLogFilter, limit = 100, cursor?: string): Promise<AuditLogPage> {
    checkLimit(limit);
    const where: Prisma.AuditLogWhereInput = {
      ...(filter.userId !== undefined && { userId: positiveInt('userId', filter.userId) }),
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
  if (!match?.[1]) throw new AppError('INVALID_CURSOR');
  return BigInt(match[1]);
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
    userId: input.userId === undefined || input.userId === null ? null : positiveInt('userId', input.userId),
    resource: optionalText('resource', input.resource, MAX_NAME_LENGTH) ?? null,
    resourceId: optionalText('resourceId', input.resourceId, MAX_NAME_LENGTH) ?? null,
    ipAddress: ipAddress(input.ipAddress) ?? null,
    userAgent: input.userAgent?.replaceAll('\u0000', '\uFFFD') ?? null,
    requestData: input.requestData === undefined || input.requestData === null ? undefined : scrubNul(input.requestData),
    responseStatus: status ?? null,
    ...(input.createdAt !== undefined && { createdAt: validDate('createdAt', input.createdAt) }),
  };
}

/** jsonb cannot hold U+0000; replace it so an audit row is never lost over one character. */
function scrubNul(value: Prisma.InputJsonValue): Prisma.InputJsonValue {
  return JSON.parse(JSON.stringify(value), (_key, inner: unknown) =>
    typeof inner === 'string' ? inner.replaceAll('\u0000', '\uFFFD') : inner,
  ) as Prisma.InputJsonValue;
}
