import type pg from 'pg';

import type { PrismaClient, UserSession } from '../../generated/prisma/client.js';

import { InvalidInputError, UserNotFoundError } from '../../errors.js';
import { isForeignKeyViolation, uniqueViolationFields } from '../prisma-errors.js';
import { boundedText, ipAddress, positiveInt, rowId, validDate } from '../validate.js';
import { type PublicUser, publicUserSelect } from './users.js';

const MAX_JTI_LENGTH = 255;

/** Most sessions a user may be allowed to keep: the upper bound of MAX_SESSIONS_PER_USER. */
const MAX_SESSIONS_KEPT = 10_000;

export type SessionWithUser = UserSession & { user: PublicUser };

/** What an authenticated request needs to know about its token's session, and its user. */
export interface ActiveSession {
  readonly sessionId: number;
  readonly userId: number;
  readonly username: string;
  readonly expiresAt: Date;
  readonly user: PublicUser;
}

/**
 * The per-request session check, kept behind an interface so the hot path can be swapped and
 * benchmarked (see bench/). Returns the session only while it exists, has not expired and its
 * user is active. A jti no session could have (empty, over-long, with NUL) answers null, not an
 * error: the caller asks "is this token live?", and the answer is no.
 */
export interface SessionCheck {
  findActiveSession(tokenJti: string): Promise<ActiveSession | null>;
}

/**
 * Hand-written SQL on the shared pool: one round trip, which also brings the user, so a request
 * like GET /auth/me needs no second query. On PostgreSQL it is a named prepared statement, parsed
 * once per connection. It must stay unnamed on the embedded PGlite, which serves every connection
 * from one backend: a second connection preparing the same name fails with 42P05.
 */
export class SqlSessionCheck implements SessionCheck {
  private readonly name: string | undefined;

  constructor(
    private readonly pool: pg.Pool,
    options: { preparedStatements?: boolean } = {},
  ) {
    this.name = options.preparedStatements === false ? undefined : 'session_check_v2';
  }

  async findActiveSession(tokenJti: string): Promise<ActiveSession | null> {
    if (!isStorableJti(tokenJti)) return null;

    const { rows } = await this.pool.query<SessionRow>({
      name: this.name,
      text: `
        SELECT s.id AS session_id, s.expires_at,
               u.id, u.username, u.email, u.is_active, u.created_at, u.updated_at
          FROM user_sessions s
          JOIN users u ON u.id = s.user_id
         WHERE s.token_jti = $1
           AND s.expires_at > now()
           AND u.is_active`,
      values: [tokenJti],
    });
    const row = rows[0];
    if (row === undefined) return null;
    return {
      sessionId: row.session_id,
      userId: row.id,
      username: row.username,
      expiresAt: row.expires_at,
      user: {
        id: row.id,
        username: row.username,
        email: row.email,
        isActive: row.is_active,
        createdAt: row.created_at,
        updatedAt: row.updated_at,
      },
    };
  }
}

interface SessionRow {
  session_id: number;
  expires_at: Date;
  id: number;
  username: string;
  email: string | null;
  is_active: boolean;
  created_at: Date;
  updated_at: Date;
}

/** The same check through Prisma, kept for the side-by-side benchmark. */
export class PrismaSessionCheck implements SessionCheck {
  constructor(private readonly prisma: PrismaClient) {}

  async findActiveSession(tokenJti: string): Promise<ActiveSession | null> {
    if (!isStorableJti(tokenJti)) return null;

    const row = await this.prisma.userSession.findFirst({
      where: { tokenJti, expiresAt: { gt: new Date() }, user: { isActive: true } },
      select: { id: true, userId: true, expiresAt: true, user: { select: publicUserSelect } },
    });
    if (row === null) return null;
    return {
      sessionId: row.id,
      userId: row.userId,
      username: row.user.username,
      expiresAt: row.expiresAt,
      user: row.user,
    };
  }
}

/** What a login stores, and the state of the user it verified the password against. */
export interface LoginSessionInput {
  userId: number;
  /** The hash the password was verified against: the session is stored only if it is still the one. */
  passwordHash: string;
  tokenJti: string;
  expiresAt: Date;
  ipAddress?: string | null;
  userAgent?: string | null;
}

/**
 * A login's session, stored only while its user is active and still has the password hash the
 * login verified. Share-locking the user row orders it against a password change or deactivation
 * of the same user: whichever commits first, the other sees it. Otherwise a change committed while
 * the password was being verified (tens of milliseconds) would delete the sessions it saw and miss
 * the one stored just after, which would outlive the password it was opened with.
 */
const INSERT_LOGIN_SESSION = `
  INSERT INTO user_sessions (user_id, token_jti, expires_at, ip_address, user_agent)
  SELECT u.id, $2, $3, $4::inet, $5
    FROM users u
   WHERE u.id = $1 AND u.is_active AND u.password_hash = $6
     FOR SHARE
  RETURNING id, user_id, token_jti, expires_at, host(ip_address) AS ip_address, user_agent, created_at`;

interface LoginSessionRow {
  id: number;
  user_id: number;
  token_jti: string;
  expires_at: Date;
  ip_address: string | null;
  user_agent: string | null;
  created_at: Date;
}

export class SessionRepository {
  readonly check: SessionCheck;

  constructor(
    private readonly prisma: PrismaClient,
    private readonly pool: pg.Pool,
    options: { preparedStatements?: boolean } = {},
  ) {
    this.check = new SqlSessionCheck(pool, options);
  }

  /**
   * Stores a session for a token, whatever the state of its user: a login uses createLoginSession,
   * which checks that state in the same statement. Throws UserNotFoundError when the user does not exist, and
   * InvalidInputError when the jti already names a session: the existing session is never
   * replaced, so a repeated jti cannot take over someone else's session.
   */
  async createSession(
    userId: number,
    tokenJti: string,
    expiresAt: Date,
    ipAddressValue?: string | null,
    userAgent?: string | null,
  ): Promise<UserSession> {
    const data = {
      userId: rowId('userId', userId),
      tokenJti: boundedText('tokenJti', tokenJti, MAX_JTI_LENGTH),
      expiresAt: validDate('expiresAt', expiresAt),
      ipAddress: ipAddress(ipAddressValue) ?? null,
      userAgent: stripNul(userAgent),
    };
    try {
      return await this.prisma.userSession.create({ data });
    } catch (error) {
      if (isForeignKeyViolation(error)) throw new UserNotFoundError(userId);
      if (uniqueViolationFields(error) !== undefined) {
        throw new InvalidInputError('tokenJti', 'already names a session');
      }
      throw error;
    }
  }

  /**
   * Stores the session of a login that verified `passwordHash`; null, storing nothing, when the
   * user is gone, inactive or has another password hash by now. See INSERT_LOGIN_SESSION.
   */
  async createLoginSession(input: LoginSessionInput): Promise<UserSession | null> {
    const values = [
      rowId('userId', input.userId),
      boundedText('tokenJti', input.tokenJti, MAX_JTI_LENGTH),
      validDate('expiresAt', input.expiresAt),
      ipAddress(input.ipAddress) ?? null,
      stripNul(input.userAgent),
      boundedText('passwordHash', input.passwordHash, 255),
    ];
    try {
      // Unnamed: the embedded database serves every connection from one backend (see SqlSessionCheck).
      const { rows } = await this.pool.query<LoginSessionRow>({ text: INSERT_LOGIN_SESSION, values });
      const row = rows[0];
      if (row === undefined) return null;
      return {
        id: row.id,
        userId: row.user_id,
        tokenJti: row.token_jti,
        expiresAt: row.expires_at,
        ipAddress: row.ip_address,
        userAgent: row.user_agent,
        createdAt: row.created_at,
      };
    } catch (error) {
      if ((error as { code?: string }).code === '23505') {
        throw new InvalidInputError('tokenJti', 'already names a session');
      }
      throw error;
    }
  }

  /** The session for a token with its user (no hash), expired or not; null when there is none. */
  async findSessionByJti(tokenJti: string): Promise<SessionWithUser | null> {
    boundedText('tokenJti', tokenJti, MAX_JTI_LENGTH);
    return this.prisma.userSession.findUnique({
      where: { tokenJti },
      include: { user: { select: publicUserSelect } },
    });
  }

  /** The user's unexpired sessions, newest first. */
  async findActiveUserSessions(userId: number): Promise<UserSession[]> {
    rowId('userId', userId);
    return this.prisma.userSession.findMany({
      where: { userId, expiresAt: { gt: new Date() } },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    });
  }

  /** Deletes the session of a token. Returns false, without error, when it was already gone. */
  async deleteSession(tokenJti: string): Promise<boolean> {
    boundedText('tokenJti', tokenJti, MAX_JTI_LENGTH);
    const { count } = await this.prisma.userSession.deleteMany({ where: { tokenJti } });
    return count > 0;
  }

  /** Deletes one session only if it belongs to the user; false when it does not (or is gone). */
  async deleteUserSession(userId: number, sessionId: number): Promise<boolean> {
    rowId('userId', userId);
    rowId('sessionId', sessionId);
    const { count } = await this.prisma.userSession.deleteMany({ where: { id: sessionId, userId } });
    return count > 0;
  }

  /** Deletes every expired session in one statement; returns how many. See cleanup for batches. */
  async deleteExpiredSessions(): Promise<number> {
    const { count } = await this.prisma.userSession.deleteMany({
      where: { expiresAt: { lte: new Date() } },
    });
    return count;
  }

  /**
   * Deletes the user's sessions beyond the newest `keep` (by creation, then id), expired or not,
   * in one statement; returns how many. Called right after a login stores its session, which is
   * then the newest and stays. Two logins of one user at the same moment each keep the newest
   * `keep`: with `keep` 1, the earlier may find its own session already ended by the later.
   */
  async deleteOldestUserSessions(userId: number, keep: number): Promise<number> {
    rowId('userId', userId);
    positiveInt('keep', keep, MAX_SESSIONS_KEPT);
    return this.prisma.$executeRaw`
      DELETE FROM user_sessions
       WHERE id IN (
               SELECT id
                 FROM user_sessions
                WHERE user_id = ${userId}
                ORDER BY created_at DESC, id DESC
               OFFSET ${keep}
             )`;
  }

  /** Deletes every session of the user; returns how many. */
  async deleteUserSessions(userId: number): Promise<number> {
    rowId('userId', userId);
    const { count } = await this.prisma.userSession.deleteMany({ where: { userId } });
    return count;
  }
}

function isStorableJti(tokenJti: string): boolean {
  return (
    typeof tokenJti === 'string' &&
    tokenJti.length > 0 &&
    tokenJti.length <= MAX_JTI_LENGTH &&
    !tokenJti.includes('\u0000')
  );
}

/** PostgreSQL text cannot hold NUL; a user agent is informational, so it is cleaned, not refused. */
function stripNul(value: string | null | undefined): string | null {
  return value === undefined || value === null ? null : value.replaceAll('\u0000', '\uFFFD');
}
