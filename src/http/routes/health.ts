import type { FastifyInstance } from 'fastify';

export async function healthRoutes(app: FastifyInstance): Promise<void> {
  app.get(
    '/health',
    {
      schema: {
        tags: ['health'],
        summary: 'Whether the service and its database answer',
        response: {
          200: { type: 'object', properties: { status: { const: 'ok' }, database: { const: 'up' } } },
          503: {
            type: 'object',
            properties: { status: { const: 'unavailable' }, database: { const: 'down' } },
          },
        },
      },
    },
    async (request, reply) => {
      const up = await request.server.services.db.healthCheck();
      if (up) return { status: 'ok', database: 'up' };
      return reply.status(503).send({ status: 'unavailable', database: 'down' });
    },
  );
}
