import type { FastifyInstance, FastifyRequest } from 'fastify';

import { AUDIT_ACTIONS } from '../../audit-actions.js';
import { hashPassword, PASSWORD_PROBLEMS, verifyAgainstDecoy, verifyPassword } from '../../auth/passwords.js';
import type { UserCredentials } from '../../db/repositories/users.js';
import { normalizeIdentity } from '../../db/validate.js';
import { AppError, ConflictError, UsernameTakenError } from '../../errors.js';
import { authenticate } from '../authenticate.js';
import { audit, caller, clientIp, userAgent } from '../context.js';
import {
  emailSchema,
  errors,
  NO_C0_CONTROL_CHARS,
  NO_CONTROL_CHARS,
  usernameSchema,
  userSchema,
} from '../schemas.js';

interface PasswordChange {
  currentPassword: string;
  newPassword: string;
}

interface Credentials {
  username: string;
  password: string;
}

/** A new password: no control character of any kind. */
const newPasswordSchema = {
  type: 'string',
  minLength: 1,
  maxLength: 1024,
  pattern: NO_CONTROL_CHARS,
} as const;

/**
 * A password to check against a stored one. C1 controls were once accepted in new passwords, so
 * they stay accepted here, or the accounts that hold one could never sign in again.
 */
const passwordSchema = {
  type: 'string',
  minLength: 1,
  maxLength: 1024,
  pattern: NO_C0_CONTROL_CHARS,
} as const;

const registerSchema = {
  tags: ['auth'],
  summary: 'Create an account',
  body: {
    type: 'object',
    additionalProperties: false,
    required: ['username', 'password'],
    properties: { username: usernameSchema, password: newPasswordSchema, email: emailSchema },
  },
  response: {
    201: { type: 'object', properties: { user: userSchema } },
    ...errors(400, 409, 413, 415, 429),
  },
} as const;

const loginSchema = {
  tags: ['auth'],
  summary: 'Sign in with a username or email and a password',
  body: {
    type: 'object',
    additionalProperties: false,
    required: ['username', 'password'],
    properties: {
      username: { type: 'string', minLength: 1, maxLength: 254, pattern: NO_CONTROL_CHARS },
      password: passwordSchema,
    },
  },
  response: {
    200: {
      type: 'object',
      properties: {
        accessToken: { type: 'string' },
        tokenType: { type: 'string', enum: ['Bearer'] },
        expiresAt: { type: 'string', format: 'date-time' },
        user: userSchema,
      },
    },
    ...errors(400, 401, 429),
  },
} as const;

const signedIn = { security: [{ bearerAuth: [] }], tags: ['auth'] } as const;

const changePasswordSchema = {
  ...signedIn,
  summary: 'Change the password; every other session of the user ends',
  body: {
    type: 'object',
    additionalProperties: false,
    required: ['currentPassword', 'newPassword'],
    properties: { currentPassword: passwordSchema, newPassword: newPasswordSchema },
  },
  response: {
    200: { type: 'object', properties: { revoked: { type: 'integer' } } },
    ...errors(400, 401, 403, 429),
  },
} as const;

export async function authRoutes(app: FastifyInstance): Promise<void> {
  app.post<{ Body: Credentials & { email?: string } }>(
    '/auth/register',
    {
      schema: registerSchema,
      preValidation: normalizeUsername,
      // Values of other fields, a misspelt password among them, are not kept.
      config: {
        audit: { action: AUDIT_ACTIONS.registerFailed, resource: 'user' },
        auditValues: ['username', 'email'],
      },
    },
    async (request, reply) => {
      const { username, password, email } = request.body;
      const { throttle, passwords } = request.server.services;
      // Counted before the password is hashed: the hash is the expensive part of a registration.
      const verdict = await throttle.attemptRegistration(clientIp(request) ?? 'unknown');
      if (!verdict.allowed) {
        audit(request, { action: AUDIT_ACTIONS.registerRateLimited, resource: 'user' });
        throw new AppError('RATE_LIMITED', { details: { retryAfterSeconds: verdict.retryAfterSeconds } });
      }
      // Admin rights follow the name, so an admin name is never free to take, even while no
      // account holds it: only the seed (or the CLI) creates it.
      if (request.server.services.config.adminUsernames.includes(username)) {
        audit(request, {
          action: AUDIT_ACTIONS.registerFailed,
          resource: 'user',
          extra: { reason: 'reserved' },
        });
        throw new UsernameTakenError();
      }
      const problem = passwords.check(password, [username, email]);
      if (problem !== null) {
        audit(request, {
          action: AUDIT_ACTIONS.registerFailed,
          resource: 'user',
          extra: { reason: `password_${problem}` },
        });
        throw passwordRefused('body.password', problem);
      }

      const passwordHash = await hashPassword(password);
      const user = await request.server.services.db.users
        .create({ username, passwordHash, email: email ?? null })
        .catch((error: unknown) => {
          if (error instanceof ConflictError) {
            audit(request, {
              action: AUDIT_ACTIONS.registerFailed,
              resource: 'user',
              extra: { reason: error.code },
            });
          }
          throw error;
        });

      audit(request, {
        action: AUDIT_ACTIONS.register,
        userId: user.id,
        resource: 'user',
        resourceId: user.id,
      });
      return reply.status(201).send({ user });
    },
  );

  app.post<{ Body: Credentials }>(
    '/auth/login',
    {
      schema: loginSchema,
      preValidation: normalizeUsername,
      config: { audit: { action: AUDIT_ACTIONS.loginFailed, resource: 'session' }, auditValues: [] },
    },
    async (request, reply) => {
      const { db, throttle, tokens } = request.server.services;
      const { username: login, password } = request.body;
      const ip = clientIp(request) ?? 'unknown';

      // The audit rows of this route keep no value it was sent (auditValues: []): the row's user
      // names a known account, and a name that matches none is often a password typed into the
      // wrong field, so only its keyed fingerprint is kept, which is also its throttle key.
      const credentials = await db.users.findCredentials(login);
      // One count per account, however it is named (username or email); unknown names count too.
      const fingerprint = credentials ? undefined : tokens.fingerprint(login);
      const account = credentials ? `user:${credentials.id}` : `name:${fingerprint}`;
      const unknownName = fingerprint === undefined ? undefined : { loginFingerprint: fingerprint };
      const verdict = await throttle.attempt(ip, account);
      if (!verdict.allowed) {
        audit(request, {
          action: AUDIT_ACTIONS.loginRateLimited,
          userId: credentials?.id ?? null,
          resource: 'session',
          extra: unknownName,
        });
        throw new AppError('RATE_LIMITED', { details: { retryAfterSeconds: verdict.retryAfterSeconds } });
      }

      const refusal = await checkCredentials(credentials, password);
      if (refusal !== null) {
        audit(request, {
          action: AUDIT_ACTIONS.loginFailed,
          userId: credentials?.id ?? null,
          resource: 'session',
          extra: { reason: refusal, ...unknownName },
        });
        throw new AppError('INVALID_CREDENTIALS');
      }

      const { passwordHash, ...user } = credentials as UserCredentials;
      const opened = await openSession(request, user.id, passwordHash);
      if (opened === null) {
        // Deactivated, deleted or given a new password while this one was being verified.
        audit(request, {
          action: AUDIT_ACTIONS.loginFailed,
          userId: user.id,
          resource: 'session',
          extra: { reason: 'changed_meanwhile' },
        });
        throw new AppError('INVALID_CREDENTIALS');
      }
      const { token, expiresAt, sessionId, evicted } = opened;
      await throttle.succeeded(ip, account);

      audit(request, {
        action: AUDIT_ACTIONS.login,
        userId: user.id,
        resource: 'session',
        resourceId: sessionId,
        ...(evicted > 0 && { extra: { evictedSessions: evicted } }),
      });
      return reply.send({ accessToken: token, tokenType: 'Bearer', expiresAt, user });
    },
  );

  app.get(
    '/auth/me',
    {
      schema: {
        ...signedIn,
        summary: 'The signed-in user',
        response: { 200: { type: 'object', properties: { user: userSchema } }, ...errors(401) },
      },
      onRequest: authenticate,
    },
    async (request) => ({ user: caller(request).user }),
  );

  app.post(
    '/auth/logout',
    {
      schema: {
        ...signedIn,
        summary: 'End this session',
        response: { 204: { type: 'null' }, ...errors(401) },
      },
      onRequest: authenticate,
      config: { audit: { action: AUDIT_ACTIONS.logout, resource: 'session' } },
    },
    async (request, reply) => {
      const auth = caller(request);
      await request.server.services.db.sessions.deleteSession(auth.jti);
      audit(request, { action: AUDIT_ACTIONS.logout, resource: 'session', resourceId: auth.sessionId });
      return reply.status(204).send();
    },
  );

  app.post(
    '/auth/logout-all',
    {
      schema: {
        ...signedIn,
        summary: 'End every session of the signed-in user',
        response: { 200: { type: 'object', properties: { revoked: { type: 'integer' } } }, ...errors(401) },
      },
      onRequest: authenticate,
      config: { audit: { action: AUDIT_ACTIONS.logoutAll, resource: 'session' } },
    },
    async (request) => {
      const auth = caller(request);
      const revoked = await request.server.services.db.sessions.deleteUserSessions(auth.userId);
      audit(request, { action: AUDIT_ACTIONS.logoutAll, resource: 'session', extra: { revoked } });
      return { revoked };
    },
  );

  app.post<{ Body: PasswordChange }>(
    '/auth/password',
    {
      schema: changePasswordSchema,
      onRequest: authenticate,
      // Both fields are passwords, and so may be a misspelt third: no value is kept.
      config: { audit: { action: AUDIT_ACTIONS.passwordChangeFailed, resource: 'user' }, auditValues: [] },
    },
    changePassword,
  );
}

/**
 * POST /auth/password. The current password is checked like a login (same throttle, counted first,
 * so a stolen token cannot guess faster than a login could); the new one against the whole policy.
 * The hash changes and every other session ends in one transaction; the caller stays signed in.
 */
async function changePassword(request: FastifyRequest<{ Body: PasswordChange }>) {
  const { db, throttle, passwords } = request.server.services;
  const auth = caller(request);
  const { currentPassword, newPassword } = request.body;
  const ip = clientIp(request) ?? 'unknown';
  const account = `user:${auth.userId}`;
  const failed = (reason: string) =>
    audit(request, {
      action: AUDIT_ACTIONS.passwordChangeFailed,
      resource: 'user',
      resourceId: auth.userId,
      extra: { reason },
    });

  const verdict = await throttle.attempt(ip, account);
  if (!verdict.allowed) {
    failed('rate_limited');
    throw new AppError('RATE_LIMITED', { details: { retryAfterSeconds: verdict.retryAfterSeconds } });
  }
  const credentials = await db.users.findCredentials(auth.username);
  if (credentials === null) throw new AppError('UNAUTHORIZED');
  if (!(await verifyPassword(credentials.passwordHash, currentPassword))) {
    failed('wrong_password');
    throw new AppError('CURRENT_PASSWORD_INCORRECT');
  }
  await throttle.succeeded(ip, account);

  const problem = passwords.check(newPassword, [auth.username, auth.user.email]);
  if (problem !== null) {
    failed(`password_${problem}`);
    throw passwordRefused('body.newPassword', problem);
  }
  const revoked = await db.users.changePassword(auth.userId, {
    from: credentials.passwordHash,
    to: await hashPassword(newPassword),
    keepSessionId: auth.sessionId,
  });
  if (revoked === null) {
    // Another change (or a deletion) committed since the current password was checked: the
    // password the caller gave is no longer the current one.
    failed('password_changed_meanwhile');
    throw new AppError('CURRENT_PASSWORD_INCORRECT');
  }

  audit(request, {
    action: AUDIT_ACTIONS.passwordChange,
    resource: 'user',
    resourceId: auth.userId,
    extra: { revoked },
  });
  return { revoked };
}

function passwordRefused(field: string, problem: keyof typeof PASSWORD_PROBLEMS): AppError {
  return new AppError('VALIDATION_FAILED', { details: [{ field, message: PASSWORD_PROBLEMS[problem] }] });
}

/**
 * Why a login fails, or null when it may proceed. The password is verified in every case, against
 * a decoy hash when there is no account, so a failure takes as long whatever its reason.
 */
async function checkCredentials(
  credentials: UserCredentials | null,
  password: string,
): Promise<'unknown_user' | 'wrong_password' | 'inactive' | null> {
  if (credentials === null) {
    await verifyAgainstDecoy(password);
    return 'unknown_user';
  }
  if (!(await verifyPassword(credentials.passwordHash, password))) return 'wrong_password';
  return credentials.isActive ? null : 'inactive';
}

/**
 * Issues a token and stores its session, with the caller's address and user agent. Then ends the
 * user's oldest sessions beyond MAX_SESSIONS_PER_USER, so logging in again and again cannot pile
 * up sessions without end; the new one, the newest, stays. `evicted` is how many ended.
 */
async function openSession(request: FastifyRequest, userId: number, passwordHash: string) {
  const { db, tokens, config } = request.server.services;
  const { token, claims } = await tokens.issue(userId);
  const session = await db.sessions.createLoginSession({
    userId,
    passwordHash,
    tokenJti: claims.jti,
    expiresAt: claims.expiresAt,
    ipAddress: clientIp(request),
    userAgent: userAgent(request),
  });
  if (session === null) return null;
  const evicted = await db.sessions.deleteOldestUserSessions(userId, config.maxSessionsPerUser);
  return { token, expiresAt: claims.expiresAt, sessionId: session.id, evicted };
}

/**
 * Longest username (or login email) worth normalising, in UTF-16 units: far above the 254 the
 * schemas allow, since NFKC may shorten a little, but small enough that its cost stays negligible.
 */
export const MAX_NORMALIZED_USERNAME = 1024;

/**
 * Usernames are compared after NFKC and lowercasing, so look-alike spellings are one name. A longer
 * value is left as sent for the schema's maxLength to refuse: NFKC expands some characters 18-fold
 * (U+FDFA), so a 1 MiB body of them would cost every request a noticeable slice of CPU for nothing.
 */
export async function normalizeUsername(request: FastifyRequest): Promise<void> {
  const body = request.body as { username?: unknown } | undefined;
  if (body && typeof body === 'object' && typeof body.username === 'string') {
    if (body.username.length > MAX_NORMALIZED_USERNAME) return;
    body.username = normalizeIdentity(body.username);
  }
}
