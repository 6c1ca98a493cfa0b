import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

import type { FastifyBaseLogger, FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

import { isDatabaseUnavailable } from '../db/prisma-errors.js';
import { AppError, ERROR_CODES, type ErrorCode } from '../errors.js';
import { redactQuery } from '../logger.js';
import { AllowedMethods } from './allowed-methods.js';

/** Fastify's own failures, each answered with a registered code. */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'VALIDATION_FAILED',
  FST_ERR_BAD_URL: 'VALIDATION_FAILED',
  FST_ERR_MAX_PARAM_LENGTH: 'VALIDATION_FAILED',
  FST_ERR_ASYNC_CONSTRAINT: 'VALIDATION_FAILED',
};

export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: unknown };
}

export function errorBody(code: ErrorCode, message?: string, details?: unknown): ErrorBody {
  return {
    error: {
      code,
      message: message ?? ERROR_CODES[code].message,
      ...(details === undefined ? {} : { details }),
    },
  };
}

/**
 * Every error leaves as `{ error: { code, message, details? } }` with a registered code. 4xx are
 * logged at info, 5xx at error; a 5xx never shows its own message or stack to the client. Call it
 * before any route is added: the 405 answer knows only the routes added after it.
 */
export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler(answerError);

  const allowed = new AllowedMethods();
  app.addHook('onRoute', (route) => allowed.add(route));

  app.setNotFoundHandler((request, reply) => {
    const methods = allowed.forUrl(request.url);
    // A route of this very method may still send the request here (@fastify/static does when a
    // file is missing): then the path is what is not found, not the method.
    if (methods.length > 0 && !methods.includes(request.method)) {
      const url = redactQuery(request.url);
      request.log.info({ method: request.method, url, allow: methods }, 'method not allowed');
      return reply.status(405).header('allow', methods.join(', ')).send(errorBody('METHOD_NOT_ALLOWED'));
    }
    request.log.info({ method: request.method, url: redactQuery(request.url) }, 'route not found');
    return reply.status(404).send(errorBody('ROUTE_NOT_FOUND'));
  });
}

/**
 * Answers an error with the error body. Also Fastify's `frameworkErrors` option: failures raised
 * before routing (a malformed percent-encoding, an over-long path parameter) reach only that
 * option, not setErrorHandler, and would otherwise leave in Fastify's own body shape.
 */
export function answerError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const { status, body } = classify(error);
  if (status >= 500) request.log.error({ err: error, code: body.error.code }, 'request failed');
  else request.log.info({ code: body.error.code, reason: error.message }, 'request refused');
  if (status === 429 && error instanceof AppError) {
    const retryAfter = (error.details as { retryAfterSeconds?: number } | undefined)?.retryAfterSeconds;
    if (retryAfter !== undefined) void reply.header('retry-after', String(retryAfter));
  }
  return reply.status(status).send(body);
}

function classify(error: FastifyError): { status: number; body: ErrorBody } {
  if (error instanceof AppError) {
    return { status: error.statusCode, body: errorBody(error.code, error.message, error.details) };
  }
  if (error.validation) {
    const details = error.validation.map((issue) => ({
      field: fieldOf(error.validationContext, issue.instancePath, issue.params),
      message: issue.message ?? 'is invalid',
    }));
    return { status: 400, body: errorBody('VALIDATION_FAILED', undefined, details) };
  }
  const mapped = error.code === undefined ? undefined : FASTIFY_CODES[error.code];
  if (mapped !== undefined) return { status: ERROR_CODES[mapped].status, body: errorBody(mapped) };
  // The client went away mid-request: nothing failed on this side, and no one reads the answer.
  if (error.message === 'aborted' || error.code === 'ECONNABORTED') {
    return { status: 400, body: errorBody('VALIDATION_FAILED', 'The request was aborted.') };
  }
  const status = error.statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    return { status, body: errorBody('VALIDATION_FAILED', error.message) };
  }
  if (isDatabaseUnavailable(error)) {
    return { status: 503, body: errorBody('SERVICE_UNAVAILABLE') };
  }
  return { status: 500, body: errorBody('INTERNAL_ERROR') };
}

/** "body.password", "querystring.limit": where the failing value was. */
function cut(text: string, length: number): string {
  return text.length <= length ? text : `${text.slice(0, length)}…`;
}

function fieldOf(context: string | undefined, path: string, params: Record<string, unknown>): string {
  const missing = typeof params.missingProperty === 'string' ? `/${params.missingProperty}` : '';
  // The name of an unknown field is the client's: cut, so a megabyte-long one is not echoed back.
  const extra =
    typeof params.additionalProperty === 'string' ? `/${cut(params.additionalProperty, 100)}` : '';
  const pointer = `${path}${missing}${extra}`.replace(/^\//, '').replaceAll('/', '.');
  return [context ?? 'request', pointer].filter(Boolean).join('.');
}

/**
 * Fastify's `clientErrorHandler`: a request Node's HTTP parser could not read (bad syntax, an
 * unknown method, headers over the limit) or that was not received within REQUEST_TIMEOUT_MS. No
 * route, hook or audit row sees it; the answer is written to the socket in the usual error body,
 * and the connection is closed. Logged at debug: a scanner can send any number of these.
 */
export function answerClientError(
  this: FastifyInstance,
  error: Error & { code?: string },
  socket: Socket,
): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const code: ErrorCode =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? 'REQUEST_TIMEOUT'
      : error.code === 'HPE_HEADER_OVERFLOW'
        ? 'HEADERS_TOO_LARGE'
        : 'MALFORMED_REQUEST';
  answerOnSocket(this.log, socket, code, { parserError: error.code });
}

/**
 * The HTTP server's `connect` listener. A CONNECT request (a proxy tunnel) never reaches Fastify,
 * and with no listener Node closes its connection without a word. This is no proxy: the request
 * is answered 400 MALFORMED_REQUEST like any other the service cannot read.
 */
export function answerConnect(log: Pick<FastifyBaseLogger, 'debug'>, socket: Duplex): void {
  if (socket.destroyed) return;
  answerOnSocket(log, socket, 'MALFORMED_REQUEST', { method: 'CONNECT' });
}

/**
 * Writes the error body for `code` straight to the socket and closes it. It carries an
 * x-request-id like every other answer (a fresh one: no request was ever made of it), and the
 * debug line names the same id.
 */
function answerOnSocket(
  log: Pick<FastifyBaseLogger, 'debug'>,
  socket: Duplex,
  code: ErrorCode,
  facts: Record<string, unknown>,
): void {
  const requestId = randomUUID();
  log.debug({ ...facts, code, reqId: requestId }, 'unreadable request refused');
  if (socket.writable) {
    const { status } = ERROR_CODES[code];
    const body = JSON.stringify(errorBody(code));
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
        'Content-Type: application/json; charset=utf-8\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        `X-Request-Id: ${requestId}\r\n` +
        'Cache-Control: no-store\r\nConnection: close\r\n\r\n' +
        body,
    );
  }
  socket.destroy();
}
