import { pino, type Logger, type LoggerOptions } from 'pino';

import type { Config } from './config.js';
import { isSecretKey, REDACTED } from './http/redact.js';

export type { Logger };

/** The logging methods a component needs; both pino's Logger and Fastify's request logger fit. */
export type Log = Pick<Logger, 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace'>;

/**
 * Paths pino blanks out wherever they appear in a log line. The audit trail has its own, deeper
 * redaction (src/http/redact.ts); this list keeps request logging safe.
 */
export const REDACTED_LOG_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  'password',
  '*.password',
  'passwordHash',
  '*.passwordHash',
  'accessToken',
  '*.accessToken',
  'token',
  '*.token',
];

/** Options shared by the standalone logger and Fastify's: JSON in production, pretty otherwise. */
export function loggerOptions(config: Pick<Config, 'logLevel' | 'env'>): LoggerOptions {
  const pretty = config.env === 'development' && process.stdout.isTTY;
  return {
    level: config.logLevel,
    redact: { paths: REDACTED_LOG_PATHS, censor: REDACTED },
    serializers: { req: serializeRequest },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { translateTime: true } } } : {}),
  };
}

export function createLogger(config: Pick<Config, 'logLevel' | 'env'>): Logger {
  return pino(loggerOptions(config));
}

interface LoggedRequest {
  method: string;
  url: string;
  hostname?: string;
  ip?: string;
  socket?: { remotePort?: number };
}

/**
 * Fastify's request fields, with the values of secret-looking query parameters blanked: a client
 * that puts a token in the URL (`?access_token=…`) must not get it written to the log.
 */
function serializeRequest(request: LoggedRequest) {
  return {
    method: request.method,
    url: redactQuery(request.url),
    host: request.hostname,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  };
}

export function redactQuery(url: string): string {
  const mark = url.indexOf('?');
  if (mark === -1) return url;
  const query = new URLSearchParams(url.slice(mark + 1));
  for (const key of new Set(query.keys())) {
    if (isSecretKey(key)) query.set(key, REDACTED);
  }
  return `${url.slice(0, mark)}?${query.toString()}`;
}
