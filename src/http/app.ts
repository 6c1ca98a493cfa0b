import { randomBytes, randomUUID } from 'node:crypto';

import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';

import { type PasswordPolicy, passwordPolicyFrom } from '../auth/passwords.js';
import type { Config } from '../config.js';
import type { DatabaseService } from '../db/database.js';
import type { SessionCheck } from '../db/repositories/sessions.js';
import { type Log, type Logger, loggerOptions } from '../logger.js';
import { AuditBuffer } from './audit-buffer.js';
import { installAuditHook } from './audit-hook.js';
import type { Services } from './context.js';
import { answerClientError, answerConnect, answerError, installErrorHandlers } from './error-handler.js';
import { LoginThrottle } from './login-throttle.js';
import { adminRoutes } from './routes/admin.js';
import { authRoutes } from './routes/auth.js';
import { healthRoutes } from './routes/health.js';
import { sessionRoutes } from './routes/sessions.js';
import { TokenService } from './tokens.js';

export interface AppOptions {
  config: Config;
  db: DatabaseService;
  /** A pino logger to use instead of one built from the config (tests capture logs this way). */
  logger?: Logger;
  /** Replaces the per-request session check (benchmarks swap implementations here). */
  sessionCheck?: SessionCheck;
}

/**
 * Builds the HTTP service on a connected DatabaseService. Closing the app flushes the audit
 * buffer; the caller owns the database and closes it afterwards.
 */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const { config } = options;
  const app = Fastify({
    ...loggerOption(options),
    trustProxy: config.trustProxy,
    bodyLimit: config.bodyLimit,
    requestTimeout: config.requestTimeoutMs,
    http: {
      // Given to Node's constructor too: set only afterwards (as Fastify does), a requestTimeout
      // below the 60 s headersTimeout was not enforced until 60 s had passed.
      requestTimeout: config.requestTimeoutMs,
      headersTimeout: Math.min(60_000, config.requestTimeoutMs),
      // Node looks for timed-out requests only this often (30 s by default).
      connectionsCheckingInterval: Math.min(1000, config.requestTimeoutMs),
    },
    genReqId: () => randomUUID(),
    return503OnClosing: true,
    clientErrorHandler: answerClientError,
    forceCloseConnections: 'idle',
    routerOptions: { maxParamLength: 100 },
    frameworkErrors: answerError,
  });

  // Without a listener, Node would close a CONNECT request's connection without an answer.
  app.server.on('connect', (_request, socket) => answerConnect(app.log, socket));
  installValidators(app);
  const services = createServices(options, app.log);
  app.decorate('services', services);
  app.decorateRequest('auth', null);
  // close() reaps only the connections idle when it starts; one busy then would stay open after
  // its response, holding up the shutdown and the audit flush behind it for as long as the client
  // keeps it (up to keepAliveTimeout). Responses sent while closing end their connection.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (request, reply) => {
    // Responses carry tokens and personal data: no cache may keep them (ASVS 14.3).
    void reply.header('x-request-id', request.id).header('cache-control', 'no-store');
    if (closing) void reply.header('connection', 'close');
  });
  app.addHook('onClose', async () => {
    await services.audit.close();
  });

  // Only JSON bodies are accepted; text/plain would otherwise reach the routes as a string.
  app.removeContentTypeParser('text/plain');
  installErrorHandlers(app);
  installAuditHook(app);
  if (config.docsEnabled) await installDocs(app);

  await app.register(healthRoutes);
  await app.register(authRoutes);
  await app.register(sessionRoutes);
  await app.register(adminRoutes);
  return app;
}

function createServices(options: AppOptions, log: Log): Services {
  const { config, db } = options;
  if (config.trustProxy === true) warnTrustAll(log);
  const secret = config.jwt.secret ?? ephemeralSecret(log);
  return {
    config,
    db,
    sessionCheck: options.sessionCheck ?? db.sessions.check,
    tokens: new TokenService(secret, config.jwt.ttlSeconds),
    throttle: new LoginThrottle(db.pool, { ...config.loginRateLimit, register: config.registerRateLimit }),
    passwords: passwordPolicy(config, log),
    audit: new AuditBuffer(db.auditLogs, log, config.audit),
  };
}

/**
 * The password policy, with the size of its blocklist logged once: the one place an operator sees
 * that PASSWORD_BLOCKLIST_FILE was read, and how many of its entries the length rule kept.
 */
function passwordPolicy(config: Config, log: Log): PasswordPolicy {
  const policy = passwordPolicyFrom(config);
  log.info(
    { blocklistSize: policy.blocklistSize, blocklistFile: config.passwords.blocklistFile ?? null },
    'password blocklist loaded',
  );
  return policy;
}

/**
 * TRUST_PROXY=true takes the client address from the first X-Forwarded-For entry whoever sent it:
 * a client that reaches the service directly picks its own address, and with it a fresh count in
 * every per-address throttle. Safe only behind a proxy that is the sole way in; a list of the
 * proxies' addresses is safe anywhere.
 */
function warnTrustAll(log: Log): void {
  log.warn(
    { variable: 'TRUST_PROXY' },
    'TRUST_PROXY=true trusts every X-Forwarded-For hop: the per-address throttles can be spoofed ' +
      'unless the service is reachable only through the proxy; name the proxies instead',
  );
}

function ephemeralSecret(log: Log): string {
  log.warn({ variable: 'JWT_SECRET' }, 'no JWT_SECRET set: using a random one, tokens end with the process');
  return randomBytes(32).toString('base64url');
}

function loggerOption(options: AppOptions): Pick<FastifyServerOptions, 'logger' | 'loggerInstance'> {
  if (options.logger) return { loggerInstance: options.logger };
  return { logger: loggerOptions(options.config) };
}

/**
 * Two validators: bodies are checked strictly (no type coercion, unknown fields refused rather
 * than silently dropped); query strings and params may coerce "2" to 2, since they are text.
 */
function installValidators(app: FastifyInstance): void {
  const strict = makeAjv(false);
  const coercing = makeAjv('array');
  app.setValidatorCompiler(({ schema, httpPart }) => {
    const ajv = httpPart === 'body' ? strict : coercing;
    return ajv.compile(schema);
  });
}

function makeAjv(coerceTypes: false | 'array'): Ajv {
  const ajv = new Ajv({
    coerceTypes,
    removeAdditional: false,
    useDefaults: true,
    allErrors: false,
    strict: false,
  });
  addFormats.default(ajv);
  return ajv;
}

async function installDocs(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'infinity-server',
        description: 'Registration, login, sessions, administration and audit trail.',
        version: '0.1.0',
      },
      components: {
        securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
}
