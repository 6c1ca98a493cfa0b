import type { PrismaClient, User, UserSession } from '../../generated/prisma/client.js';

import { InvalidInputError, UserNotFoundError } from '../../errors.js';
import { isRecordNotFound, translateUserWriteError } from '../prisma-errors.js';
import {
  boundedText,
  escapeLike,
  identity,
  limit as checkLimit,
  nonNegativeInt,
  normalizeIdentity,
  optionalText,
  positiveInt,
  rowId,
} from '../validate.js';

/** A user as every caller outside login sees it: never with its password hash. */
export type PublicUser = Omit<User, 'passwordHash'>;

/** What login needs, and only login. */
export type UserCredentials = PublicUser & Pick<User, 'passwordHash'>;

export interface CreateUserInput {
  username: string;
  passwordHash: string;
  email?: string | null;
}

export interface UpdateUserInput {
  username?: string;
  passwordHash?: string;
  email?: string | null;
  isActive?: boolean;
}

export const publicUserSelect = {
  id: true,
  username: true,
  email: true,
  isActive: true,
  createdAt: true,
  updatedAt: true,
} as const;

const MAX_IDENTITY_LENGTH = 255;

export class UserRepository {
  constructor(private readonly prisma: PrismaClient) {}

  async findById(id: number): Promise<PublicUser | null> {
    rowId('id', id);
    return this.prisma.user.findUnique({ where: { id }, select: publicUserSelect });
  }

  async findByUsername(username: string): Promise<PublicUser | null> {
    const normalized = identity('username', username, MAX_IDENTITY_LENGTH);
    return this.prisma.user.findUnique({ where: { username: normalized }, select: publicUserSelect });
  }

  async findByEmail(email: string): Promise<PublicUser | null> {
    const normalized = identity('email', email, MAX_IDENTITY_LENGTH);
    return this.prisma.user.findUnique({ where: { email: normalized }, select: publicUserSelect });
  }

  /** The one method that returns a password hash. `login` is a username, or an email with "@". */
  async findCredentials(login: string): Promise<UserCredentials | null> {
    const normalized = identity('login', login, MAX_IDENTITY_LENGTH);
    const where = normalized.includes('@') ? { email: normalized } : { username: normalized };
    return this.prisma.user.findUnique({ where, select: { ...publicUserSelect, passwordHash: true } });
  }

  /** Creates a user; a taken username or email becomes UsernameTakenError / EmailTakenError. */
  async create(input: CreateUserInput): Promise<PublicUser> {
    const data = {
      username: username(input.username),
      passwordHash: boundedText('passwordHash', input.passwordHash, 255),
      email: normalizeOptionalEmail(input.email),
    };
    try {
      return await this.prisma.user.create({ data, select: publicUserSelect });
    } catch (error) {
      translateUserWriteError(error);
    }
  }

  /** Changes only the fields given. Throws UserNotFoundError when there is no such user. */
  async update(id: number, input: UpdateUserInput): Promise<PublicUser> {
    rowId('id', id);
    const data = {
      ...(input.username !== undefined && { username: username(input.username) }),
      ...(input.passwordHash !== undefined && {
        passwordHash: boundedText('passwordHash', input.passwordHash, 255),
      }),
      ...(input.email !== undefined && { email: normalizeOptionalEmail(input.email) }),
      ...(input.isActive !== undefined && { isActive: input.isActive }),
    };
    try {
      return await this.prisma.user.update({ where: { id }, data, select: publicUserSelect });
    } catch (error) {
      if (isRecordNotFound(error)) throw new UserNotFoundError(id);
      translateUserWriteError(error);
    }
  }

  /**
   * Replaces the password hash `from` with `to` and ends every session of the user except
   * `keepSessionId`, in one transaction, so no session opened with the old password outlives it.
   * Returns how many sessions ended, or null, changing nothing, when the user is gone or its hash
   * is no longer `from`: of two changes racing from the same password, only the first wins.
   */
  async changePassword(
    id: number,
    change: { from: string; to: string; keepSessionId?: number },
  ): Promise<number | null> {
    rowId('id', id);
    if (change.keepSessionId !== undefined) rowId('keepSessionId', change.keepSessionId);
    const from = boundedText('from', change.from, 255);
    const to = boundedText('passwordHash', change.to, 255);
    const others = change.keepSessionId === undefined ? {} : { id: { not: change.keepSessionId } };
    return this.prisma.$transaction(async (tx) => {
      const { count } = await tx.user.updateMany({
        where: { id, passwordHash: from },
        data: { passwordHash: to },
      });
      if (count === 0) return null;
      const ended = await tx.userSession.deleteMany({ where: { userId: id, ...others } });
      return ended.count;
    });
  }

  /**
   * Deletes the user. The database cascades to its sessions and keeps its audit rows with a null
   * user. Throws UserNotFoundError when there is no such user.
   */
  async delete(id: number): Promise<PublicUser> {
    rowId('id', id);
    try {
      return await this.prisma.user.delete({ where: { id }, select: publicUserSelect });
    } catch (error) {
      if (isRecordNotFound(error)) throw new UserNotFoundError(id);
      throw error;
    }
  }

  /** Active users, newest first. */
  async findActiveUsers(limit = 50, offset = 0): Promise<PublicUser[]> {
    return this.prisma.user.findMany({
      where: { isActive: true },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: checkLimit(limit),
      skip: nonNegativeInt('offset', offset),
      select: publicUserSelect,
    });
  }

  /** The user with its unexpired sessions, newest first; null when there is no such user. */
  async findUserWithActiveSessions(id: number): Promise<(PublicUser & { sessions: UserSession[] }) | null> {
    rowId('id', id);
    return this.prisma.user.findUnique({
      where: { id },
      select: {
        ...publicUserSelect,
        sessions: {
          where: { expiresAt: { gt: new Date() } },
          orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        },
      },
    });
  }

  /**
   * A page of users, newest first, with the total matching count. `search` matches username or
   * email case-insensitively and literally: "%" and "_" are plain characters.
   */
  async findUsersWithPagination(
    page = 1,
    limit = 20,
    search?: string,
  ): Promise<{ users: PublicUser[]; total: number }> {
    positiveInt('page', page);
    checkLimit(limit);
    const term = optionalText('search', search === '' ? undefined : search, MAX_IDENTITY_LENGTH);
    const pattern = term == null ? undefined : escapeLike(normalizeIdentity(term));
    const where =
      pattern === undefined
        ? {}
        : { OR: [{ username: { contains: pattern } }, { email: { contains: pattern } }] };

    const [users, total] = await this.prisma.$transaction([
      this.prisma.user.findMany({
        where,
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        take: limit,
        skip: (page - 1) * limit,
        select: publicUserSelect,
      }),
      this.prisma.user.count({ where }),
    ]);
    return { users, total };
  }
}

/**
 * A username as stored. It may not contain "@": findCredentials reads a login with "@" as an
 * email, so such a user could never sign in, and could pose as someone else's address.
 */
function username(value: string): string {
  const normalized = identity('username', value, MAX_IDENTITY_LENGTH);
  if (normalized.includes('@')) throw new InvalidInputError('username', 'must not contain "@"');
  return normalized;
}

/** An email as stored; it needs an "@", or findCredentials would read it as a username. */
function normalizeOptionalEmail(email: string | null | undefined): string | null {
  if (email === undefined || email === null) return null;
  const normalized = identity('email', email, MAX_IDENTITY_LENGTH);
  if (!normalized.includes('@')) throw new InvalidInputError('email', 'must contain "@"');
  return normalized;
}
