import type { FastifyInstance, FastifyRequest } from 'fastify';

import { AUDIT_ACTIONS } from '../../audit-actions.js';
import type { AuditLogFilter } from '../../db/repositories/audit-logs.js';
import { AppError, UserNotFoundError } from '../../errors.js';
import { authenticate, requireAdmin } from '../authenticate.js';
import { audit, caller } from '../context.js';
import {
  emailSchema,
  errors,
  idParamsSchema,
  NO_CONTROL_CHARS,
  sessionSchema,
  userSchema,
} from '../schemas.js';

const tags = ['admin'];
const security = [{ bearerAuth: [] }];
/**
 * The caller is checked before the input: a caller who may not use these routes learns nothing
 * from their validation, and its audit row is auth.token_rejected or auth.forbidden, not an
 * anonymous admin action.
 */
// onRequest: the caller is checked before the body is even read, so an anonymous or non-admin
// request gets 401/403 whatever it sends.
const onRequest = [authenticate, requireAdmin];

interface UserListQuery {
  search?: string;
  page: number;
  limit: number;
}

interface AuditQuery {
  userId?: number;
  action?: string;
  resource?: string;
  from?: string;
  to?: string;
  limit: number;
  cursor?: string;
}

const auditLogSchema = {
  type: 'object',
  properties: {
    id: { type: 'string', description: 'A 64-bit integer, as a string.' },
    userId: { type: ['integer', 'null'] },
    action: { type: 'string' },
    resource: { type: ['string', 'null'] },
    resourceId: { type: ['string', 'null'] },
    ipAddress: { type: ['string', 'null'] },
    userAgent: { type: ['string', 'null'] },
    requestData: {},
    responseStatus: { type: ['integer', 'null'] },
    createdAt: { type: 'string', format: 'date-time' },
  },
} as const;

export async function adminRoutes(app: FastifyInstance): Promise<void> {
  app.get<{ Querystring: UserListQuery }>(
    '/admin/users',
    {
      schema: {
        tags,
        security,
        summary: 'Find users, newest first',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            search: { type: 'string', maxLength: 255, pattern: NO_CONTROL_CHARS },
            page: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 1 },
            limit: { type: 'integer', minimum: 1, maximum: 100, default: 20 },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              users: { type: 'array', items: userSchema },
              total: { type: 'integer' },
              page: { type: 'integer' },
              limit: { type: 'integer' },
            },
          },
          ...errors(400, 401, 403),
        },
      },
      onRequest,
      config: { audit: { action: AUDIT_ACTIONS.adminUserList, resource: 'user' } },
    },
    async (request) => {
      const { search, page, limit } = request.query;
      const { users, total } = await request.server.services.db.users.findUsersWithPagination(
        page,
        limit,
        search,
      );
      return { users, total, page, limit };
    },
  );

  app.patch<{ Params: { id: number }; Body: { isActive?: boolean; email?: string | null } }>(
    '/admin/users/:id',
    {
      schema: {
        tags,
        security,
        summary: "Change a user's active flag or email; deactivating ends all its sessions",
        params: idParamsSchema,
        body: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          properties: { isActive: { type: 'boolean' }, email: { anyOf: [emailSchema, { type: 'null' }] } },
        },
        response: {
          200: { type: 'object', properties: { user: userSchema } },
          ...errors(400, 401, 403, 404, 409),
        },
      },
      onRequest,
      config: { audit: { action: AUDIT_ACTIONS.adminUserUpdate, resource: 'user' } },
    },
    async (request) => {
      const { id } = request.params;
      const { db } = request.server.services;
      audit(request, { action: AUDIT_ACTIONS.adminUserUpdate, resource: 'user', resourceId: id });
      if (request.body.isActive === false) refuseSelfLockout(request, id);
      const user = await db.users.update(id, request.body);
      const revoked = request.body.isActive === false ? await db.sessions.deleteUserSessions(id) : 0;
      audit(request, {
        action: AUDIT_ACTIONS.adminUserUpdate,
        resource: 'user',
        resourceId: id,
        extra: { revoked },
      });
      return { user };
    },
  );

  app.delete<{ Params: { id: number } }>(
    '/admin/users/:id',
    {
      schema: {
        tags,
        security,
        summary: 'Delete a user; its sessions go with it, its audit rows stay',
        params: idParamsSchema,
        response: { 204: { type: 'null' }, ...errors(400, 401, 403, 404) },
      },
      onRequest,
      config: { audit: { action: AUDIT_ACTIONS.adminUserDelete, resource: 'user' } },
    },
    async (request, reply) => {
      const { id } = request.params;
      audit(request, { action: AUDIT_ACTIONS.adminUserDelete, resource: 'user', resourceId: id });
      refuseSelfLockout(request, id);
      await request.server.services.db.users.delete(id);
      return reply.status(204).send();
    },
  );

  app.get<{ Params: { id: number } }>(
    '/admin/users/:id/sessions',
    {
      schema: {
        tags,
        security,
        summary: "A user's active sessions, newest first",
        params: idParamsSchema,
        response: {
          200: { type: 'object', properties: { sessions: { type: 'array', items: sessionSchema } } },
          ...errors(400, 401, 403, 404),
        },
      },
      onRequest,
      config: { audit: { action: AUDIT_ACTIONS.adminUserSessions, resource: 'user' } },
    },
    async (request) => {
      const { id } = request.params;
      audit(request, { action: AUDIT_ACTIONS.adminUserSessions, resource: 'user', resourceId: id });
      const user = await request.server.services.db.users.findUserWithActiveSessions(id);
      if (user === null) throw new UserNotFoundError();
      return { sessions: user.sessions };
    },
  );

  app.get<{ Querystring: AuditQuery }>(
    '/admin/audit-logs',
    {
      schema: {
        tags,
        security,
        summary: 'The audit trail, newest first, one keyset page at a time',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            userId: { type: 'integer', minimum: 1, maximum: 2_147_483_647 },
            action: { type: 'string', minLength: 1, maxLength: 100, pattern: '^[a-z][a-z0-9_.-]*$' },
            resource: { type: 'string', minLength: 1, maxLength: 100, pattern: NO_CONTROL_CHARS },
            from: { type: 'string', format: 'date-time' },
            to: { type: 'string', format: 'date-time' },
            limit: { type: 'integer', minimum: 1, maximum: 100, default: 50 },
            cursor: { type: 'string', minLength: 1, maxLength: 64 },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              items: { type: 'array', items: auditLogSchema },
              nextCursor: { type: ['string', 'null'] },
            },
          },
          ...errors(400, 401, 403),
        },
      },
      onRequest,
      config: { audit: { action: AUDIT_ACTIONS.adminAuditQuery, resource: 'audit_log' } },
    },
    async (request) => {
      const { limit, cursor, from, to, ...rest } = request.query;
      const filter: AuditLogFilter = {
        ...rest,
        ...(from !== undefined && { from: new Date(from) }),
        ...(to !== undefined && { to: new Date(to) }),
      };
      const page = await request.server.services.db.auditLogs.findPage(filter, limit, cursor);
      return {
        items: page.items.map((item) => ({ ...item, id: String(item.id) })),
        nextCursor: page.nextCursor,
      };
    },
  );
}

/**
 * An administrator may not deactivate or delete their own account: the last one doing so would
 * leave nobody able to administer, and a deleted admin name could then be registered by anyone
 * (registration refuses the names in ADMIN_USERNAMES, but only while the list is kept in step).
 */
function refuseSelfLockout(request: FastifyRequest, id: number): void {
  if (caller(request).userId === id) throw new AppError('SELF_LOCKOUT');
}
