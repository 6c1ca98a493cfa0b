import type { FastifyInstance } from 'fastify';

import { AUDIT_ACTIONS } from '../../audit-actions.js';
import { SessionNotFoundError } from '../../errors.js';
import { authenticate } from '../authenticate.js';
import { audit, caller } from '../context.js';
import { errors, idParamsSchema, sessionSchema } from '../schemas.js';

const tags = ['sessions'];
const security = [{ bearerAuth: [] }];

export async function sessionRoutes(app: FastifyInstance): Promise<void> {
  app.get(
    '/auth/sessions',
    {
      schema: {
        tags,
        security,
        summary: "The signed-in user's active sessions, newest first",
        response: {
          200: { type: 'object', properties: { sessions: { type: 'array', items: sessionSchema } } },
          ...errors(401),
        },
      },
      onRequest: authenticate,
    },
    async (request) => {
      const auth = caller(request);
      const sessions = await request.server.services.db.sessions.findActiveUserSessions(auth.userId);
      return {
        sessions: sessions.map((session) => ({ ...session, current: session.tokenJti === auth.jti })),
      };
    },
  );

  app.delete<{ Params: { id: number } }>(
    '/auth/sessions/:id',
    {
      schema: {
        tags,
        security,
        summary: "Revoke one of the signed-in user's sessions",
        params: idParamsSchema,
        response: { 204: { type: 'null' }, ...errors(400, 401, 404) },
      },
      onRequest: authenticate,
      config: { audit: { action: AUDIT_ACTIONS.sessionRevoke, resource: 'session' } },
    },
    async (request, reply) => {
      const auth = caller(request);
      const { id } = request.params;
      audit(request, { action: AUDIT_ACTIONS.sessionRevoke, resource: 'session', resourceId: id });
      const deleted = await request.server.services.db.sessions.deleteUserSession(auth.userId, id);
      if (!deleted) throw new SessionNotFoundError();
      return reply.status(204).send();
    },
  );
}
