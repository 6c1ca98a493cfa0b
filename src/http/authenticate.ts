import type { FastifyReply, FastifyRequest } from 'fastify';

import { AUDIT_ACTIONS } from '../audit-actions.js';
import { AppError } from '../errors.js';
import { audit } from './context.js';

const BEARER = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/;

/**
 * onRequest hook for signed-in routes: the caller is checked before its body is read or validated.
 * Checks the token's signature and expiry, then, in one query, that its session still exists, has
 * not expired and belongs to an active user: logout, revocation, deactivation and deletion take
 * effect on the very next request. Every refusal is audited.
 */
export async function authenticate(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
  const { tokens, sessionCheck, config } = request.server.services;
  const header = request.headers.authorization;
  const token = typeof header === 'string' ? BEARER.exec(header)?.[1] : undefined;
  const claims = token === undefined ? null : await tokens.verify(token);
  const session = claims === null ? null : await sessionCheck.findActiveSession(claims.jti);

  if (claims === null || session === null || session.userId !== claims.userId) {
    audit(request, {
      action: AUDIT_ACTIONS.tokenRejected,
      userId: null,
      extra: { reason: rejectionReason(header, token, claims, session) },
    });
    throw new AppError('UNAUTHORIZED');
  }

  request.auth = {
    userId: session.userId,
    username: session.username,
    jti: claims.jti,
    sessionId: session.sessionId,
    isAdmin: config.adminUsernames.includes(session.username),
    user: session.user,
  };
}

/** onRequest hook for admin routes, after authenticate. */
export async function requireAdmin(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
  if (request.auth?.isAdmin) return;
  audit(request, { action: AUDIT_ACTIONS.forbidden, userId: request.auth?.userId ?? null });
  throw new AppError('FORBIDDEN');
}

function rejectionReason(
  header: string | undefined,
  token: string | undefined,
  claims: unknown,
  session: unknown,
): string {
  if (header === undefined) return 'missing';
  if (token === undefined) return 'malformed';
  if (claims === null) return 'invalid_or_expired';
  if (session === null) return 'session_ended';
  return 'subject_mismatch';
}
