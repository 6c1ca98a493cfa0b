import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

import { clientIp, userAgent } from './context.js';
import { redact } from './redact.js';

/**
 * A route names its audit event in its config (`config: { audit: { action, resource } }`): that is
 * the row written when the request fails before the handler decides otherwise, e.g. on invalid
 * input. The handler replaces it with the outcome through `audit()`.
 *
 * After each response, the request's audit event (if it has one) becomes a row in the audit
 * buffer, with the final status, the caller's address and agent, and the request data redacted.
 */
export function installAuditHook(app: FastifyInstance): void {
  app.decorateRequest('auditEvent', null);
  app.addHook('onRequest', async (request: FastifyRequest) => {
    const preset = request.routeOptions.config.audit;
    request.auditEvent = preset === undefined ? null : { ...preset };
  });
  app.addHook('onResponse', async (request: FastifyRequest, reply: FastifyReply) => {
    const event = request.auditEvent;
    if (event === null) return;
    const kept = request.routeOptions.config.auditValues;

    request.server.services.audit.add({
      action: event.action,
      userId: event.userId ?? request.auth?.userId ?? null,
      resource: event.resource ?? null,
      resourceId: event.resourceId === undefined ? null : String(event.resourceId),
      ipAddress: clientIp(request),
      userAgent: userAgent(request),
      responseStatus: reply.statusCode,
      requestData: redact({
        method: request.method,
        path: request.routeOptions.url ?? request.url.split('?')[0],
        requestId: request.id,
        ...(isNonEmpty(request.params) && { params: request.params }),
        ...(isNonEmpty(request.query) && {
          query: kept ? keepOnly(request.query as object, kept) : request.query,
        }),
        ...auditedBody(request.body, kept),
        ...(event.extra && { details: event.extra }),
      }) as object,
    });
  });
}

function isNonEmpty(value: unknown): boolean {
  return typeof value === 'object' && value !== null && Object.keys(value).length > 0;
}

export const NOT_RECORDED = '[not recorded]';

/** An object with every value but those of `kept` fields replaced by NOT_RECORDED; an array by a word. */
function keepOnly(value: object, kept: readonly string[]): unknown {
  if (Array.isArray(value)) return '[array]';
  return Object.fromEntries(
    Object.entries(value).map(([key, inner]) => [key, kept.includes(key) ? inner : NOT_RECORDED]),
  );
}

/** Every route takes an object; any other body is refused, and only its type is worth keeping. */
function auditedBody(body: unknown, kept: readonly string[] | undefined): { body?: unknown } {
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object') return { body: `[${typeof body} body]` };
  return { body: kept ? keepOnly(body, kept) : body };
}
