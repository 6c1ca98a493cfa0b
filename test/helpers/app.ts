import type { FastifyInstance } from 'fastify';

import { hashPassword } from '../../src/auth/passwords.js';
import { loadConfig, type Config } from '../../src/config.js';
import { DatabaseService } from '../../src/db/database.js';
import { normalizeIdentity } from '../../src/db/validate.js';
import { buildApp } from '../../src/http/app.js';
import type { Logger } from '../../src/logger.js';
import { createTestDatabase, onPostgres, type TestDatabase } from './database.js';

/**
 * One HTTP app on a real socket (127.0.0.1, a free port) and a test database, with the few calls
 * the HTTP tests repeat: a request that returns status, headers and parsed body, register, login,
 * and the audit rows as they are stored. Close what you start; close() drops a database only when
 * it created it.
 */

export const JWT_SECRET = 'http-tests-secret-that-is-at-least-32-bytes';

/** Satisfies the policy (15+ characters); every test user has it unless a test says otherwise. */
export const PASSWORD = 'a quiet harbour at dawn';

export interface Response<T = any> {
  readonly status: number;
  readonly headers: Headers;
  /** The parsed JSON body, or undefined when there was none or it was not JSON. */
  readonly body: T;
  readonly text: string;
}

export interface RequestOptions {
  token?: string;
  /** Sent as JSON. */
  body?: unknown;
  /** Sent as is; set the content type in headers. */
  raw?: string | Uint8Array;
  headers?: Record<string, string>;
}

export interface SignedIn {
  readonly token: string;
  readonly user: { id: number; username: string; email: string | null; isActive: boolean };
}

/** An audit_logs row, columns as stored; requestText is request_data as JSON text. */
export interface AuditRow {
  id: string;
  userId: number | null;
  action: string;
  resource: string | null;
  resourceId: string | null;
  ipAddress: string | null;
  userAgent: string | null;
  requestData: any;
  requestText: string | null;
  responseStatus: number | null;
}

export interface TestApp {
  readonly app: FastifyInstance;
  readonly config: Config;
  /** http://127.0.0.1:<port> */
  readonly url: string;
  readonly database: TestDatabase;
  request<T = any>(method: string, path: string, options?: RequestOptions): Promise<Response<T>>;
  register(username: string, options?: { password?: string; email?: string }): Promise<SignedIn['user']>;
  login(username: string, password?: string, headers?: Record<string, string>): Promise<SignedIn>;
  /** register then login. */
  signUp(username: string, options?: { email?: string }): Promise<SignedIn>;
  /** Flushes the audit buffer, then returns the rows matching `where` (SQL), oldest first. */
  auditRows(where?: string, values?: unknown[]): Promise<AuditRow[]>;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Environment overrides on top of the test defaults. */
  env?: Record<string, string>;
  /** Share a database (and its pool) with another app; created, and dropped on close, if absent. */
  database?: TestDatabase;
  /** Run the app on its own DatabaseService (own pool) on the database, as a second process would. */
  ownPool?: boolean;
  /** A logger to capture the app's log lines with. */
  logger?: Logger;
}

export function testConfig(env: Record<string, string> = {}): Config {
  // TEST_LOG_LEVEL=info shows the app's log lines while debugging a test.
  const LOG_LEVEL = process.env.TEST_LOG_LEVEL ?? 'silent';
  // Every test file registers many users from 127.0.0.1; the registration test sets its own limit.
  return loadConfig({ NODE_ENV: 'test', JWT_SECRET, LOG_LEVEL, REGISTER_MAX_PER_IP: '100000', ...env });
}

export async function startApp(options: StartOptions = {}): Promise<TestApp> {
  const ownsDatabase = options.database === undefined;
  const config = testConfig(options.env);
  const database = options.database ?? (await createTestDatabase());
  const db = options.ownPool
    ? new DatabaseService({ url: database.url, pool: config.pool, preparedStatements: onPostgres })
    : database.db;
  let app: FastifyInstance | undefined;
  let url: string;
  try {
    if (options.ownPool) await db.connect();
    app = await buildApp({ config, db, logger: options.logger });
    url = await app.listen({ host: '127.0.0.1', port: 0 });
  } catch (error) {
    // Leave nothing running behind a start that failed half-way.
    await app?.close();
    if (options.ownPool) await db.disconnect();
    if (ownsDatabase) await database.drop();
    throw error;
  }
  const started = app;

  const request = <T = any>(method: string, path: string, opts: RequestOptions = {}) =>
    send<T>(url, method, path, opts);

  const register = async (username: string, opts: { password?: string; email?: string } = {}) => {
    // Admin names cannot be registered over HTTP; like the seed, create them in the database.
    if (config.adminUsernames.includes(normalizeIdentity(username))) {
      const passwordHash = await hashPassword(opts.password ?? PASSWORD);
      return database.db.users.create({ username, passwordHash, email: opts.email ?? null });
    }
    const body = { username, password: opts.password ?? PASSWORD, ...(opts.email && { email: opts.email }) };
    const response = await request('POST', '/auth/register', { body });
    if (response.status !== 201) throw new Error(`register ${username}: ${response.status} ${response.text}`);
    return response.body.user;
  };

  const login = async (username: string, password = PASSWORD, headers: Record<string, string> = {}) => {
    const response = await request('POST', '/auth/login', { body: { username, password }, headers });
    if (response.status !== 200) throw new Error(`login ${username}: ${response.status} ${response.text}`);
    return { token: response.body.accessToken as string, user: response.body.user };
  };

  return {
    app: started,
    config,
    url,
    database,
    request,
    register,
    login,
    async signUp(username, opts = {}) {
      await register(username, opts);
      return login(username);
    },
    async auditRows(where = 'true', values = []) {
      await started.services.audit.flush();
      return readAuditRows(database.db, where, values);
    },
    async close() {
      await started.close();
      if (options.ownPool) await db.disconnect();
      if (ownsDatabase) await database.drop();
    },
  };
}

export async function send<T = any>(
  base: string,
  method: string,
  path: string,
  options: RequestOptions = {},
): Promise<Response<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  let body: string | Uint8Array | undefined = options.raw;
  if (options.body !== undefined) {
    headers['content-type'] ??= 'application/json';
    body = JSON.stringify(options.body);
  }

  const response = await fetch(`${base}${path}`, { method, headers, body });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: parseJson(text), text };
}

export async function readAuditRows(db: DatabaseService, where = 'true', values: unknown[] = []) {
  const { rows } = await db.pool.query<AuditRow>(
    `SELECT id::text AS id,
            user_id AS "userId",
            action,
            resource,
            resource_id AS "resourceId",
            host(ip_address) AS "ipAddress",
            user_agent AS "userAgent",
            request_data AS "requestData",
            request_data::text AS "requestText",
            response_status AS "responseStatus"
       FROM audit_logs
      WHERE ${where}
      ORDER BY audit_logs.id`,
    values,
  );
  return rows;
}

/** An error body's code, or undefined: `{ error: { code } }`. */
export function errorCode(response: Response): string | undefined {
  return response.body?.error?.code;
}

function parseJson(text: string): any {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
