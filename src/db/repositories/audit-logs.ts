import type pg from 'pg';

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
 * The audit buffer's batch insert, in hand-written SQL: one statement and nine array parameters
 * whatever the batch size, about as fast as PostgreSQL takes rows (see bench/). Rows keep their
 * order; a row naming a user that no longer exists gets a null user through the join.
 */
const INSERT_AUDIT_BATCH = `
  INSERT INTO audit_logs
    (action, user_id, resource, resource_id, ip_address, user_agent, request_data, response_status, created_at)
  SELECT r.action, u.id, r.resource, r.resource_id, r.ip_address, r.user_agent, r.request_data,
         r.response_status, coalesce(r.created_at, now())
    FROM unnest($1::varchar[], $2::int[], $3::varchar[], $4::varchar[], $5::inet[], $6::text[],
                $7::jsonb[], $8::int[], $9::timestamptz[])
         WITH ORDINALITY
         AS r(action, user_id, resource, resource_id, ip_address, user_agent, request_data,
              response_status, created_at, n)
    LEFT JOIN users u ON u.id = r.user_id
   ORDER BY r.n
  RETURNING id`;

/** Rows as the nine column arrays INSERT_AUDIT_BATCH takes. */
function toColumns(rows: Prisma.AuditLogCreateManyInput[]): unknown[][] {
  return [
    rows.map((row) => row.action),
    rows.map((row) => row.userId ?? null),
    rows.map((row) => row.resource ?? null),
    rows.map((row) => row.resourceId ?? null),
    rows.map((row) => row.ipAddress ?? null),
    rows.map((row) => row.userAgent ?? null),
    rows.map((row) => (row.requestData === undefined ? null : JSON.stringify(row.requestData))),
    rows.map((row) => row.responseStatus ?? null),
    // ISO strings in UTC: pg would format a Date in the process's zone, and for old dates with
    // second-level offsets (local mean time) that loses the seconds.
    rows.map((row) => (row.createdAt instanceof Date ? row.createdAt.toISOString() : null)),
  ];
}

/**
 * Audit rows are history: none is lost because its user is gone. A row naming a user deleted
 * before it was written (the audit buffer writes late) is kept with a null user, exactly as the
 * foreign key's ON DELETE SET NULL would have left it had it been written a moment earlier.
 */
export class AuditLogRepository {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly pool: pg.Pool,
  ) {}

  /** Writes one row through the batch statement (so both paths store the same) and reads it back. */
  async createAuditLog(input: AuditLogInput): Promise<AuditLog> {
    const [id] = await this.insert([toRow(input)]);
    return this.prisma.auditLog.findUniqueOrThrow({ where: { id: BigInt(id as string) } });
  }

  /**
   * Inserts many rows in one statement; the audit buffer's flush. Every row is validated before
   * any is written, and the insert is all or nothing. Returns how many.
   */
  async createAuditLogs(inputs: readonly AuditLogInput[]): Promise<number> {
    if (inputs.length === 0) return 0;
    return (await this.insert(inputs.map((input) => toRow(input)))).length;
  }

  /** Inserts validated rows in one statement; returns their ids, in order. */
  private async insert(rows: Prisma.AuditLogCreateManyInput[]): Promise<string[]> {
    const columns = toColumns(rows);
    for (let attempt = 1; ; attempt += 1) {
      try {
        const { rows: inserted } = await this.pool.query<{ id: string }>(INSERT_AUDIT_BATCH, columns);
        return inserted.map((row) => row.id);
      } catch (error) {
        // A user deleted between the join and the insert: the join sees it gone on the retry.
        if (!isForeignKeyViolation(error) || attempt === MAX_INSERT_ATTEMPTS) throw error;
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
}

export function encodeCursor(id: bigint): string {
  return Buffer.from(`a:${id}`).toString('base64url');
}

/** Throws AppError INVALID_CURSOR for anything encodeCursor did not make. */
export function decodeCursor(cursor: string): bigint {
  const decoded = /^[A-Za-z0-9_-]{1,40}$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString() : '';
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
  if (
    status !== undefined &&
    status !== null &&
    (!Number.isInteger(status) || status < 100 || status > 599)
  ) {
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
