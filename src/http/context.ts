import { isIP } from 'node:net';

import type { FastifyRequest } from 'fastify';

import type { AuditAction } from '../audit-actions.js';
import type { PasswordPolicy } from '../auth/passwords.js';
import type { Config } from '../config.js';
import type { DatabaseService } from '../db/database.js';
import type { SessionCheck } from '../db/repositories/sessions.js';
import type { PublicUser } from '../db/repositories/users.js';
import type { AuditBuffer } from './audit-buffer.js';
import type { LoginThrottle } from './login-throttle.js';
import type { TokenService } from './tokens.js';

/** What the routes need, built once by buildApp. */
export interface Services {
  readonly config: Config;
  readonly db: DatabaseService;
  readonly sessionCheck: SessionCheck;
  readonly tokens: TokenService;
  readonly throttle: LoginThrottle;
  readonly passwords: PasswordPolicy;
  readonly audit: AuditBuffer;
}

/** The caller of an authenticated request. */
export interface AuthContext {
  readonly userId: number;
  readonly username: string;
  readonly jti: string;
  readonly sessionId: number;
  readonly isAdmin: boolean;
  /** The user as the session check read it, in the same query. */
  readonly user: PublicUser;
}

/** One audit row in the making; the response status and request data are added when it is sent. */
export interface AuditEvent {
  action: AuditAction;
  userId?: number | null;
  resource?: string;
  resourceId?: string | number;
  /** Facts for the row that are not in the request, e.g. why a login failed. */
  extra?: Record<string, unknown>;
}

declare module 'fastify' {
  interface FastifyInstance {
    services: Services;
  }
  interface FastifyRequest {
    auth: AuthContext | null;
    auditEvent: AuditEvent | null;
  }
  interface FastifyContextConfig {
    /** The audit row this route writes unless its handler records another outcome. */
    audit?: AuditEvent;
    /**
     * The fields of the body and query string whose values the route's audit rows keep; every
     * other value is replaced, field names stay. For a route whose input may hold a secret under
     * any name, a misspelt one included. Unset: everything is kept (and redacted by name).
     */
    auditValues?: readonly string[];
  }
}

/** Marks the request for one audit row, written when the response has been sent. */
export function audit(request: FastifyRequest, event: AuditEvent): void {
  request.auditEvent = event;
}

/**
 * The caller's address as Fastify resolved it (TRUST_PROXY aware), if it is a real IP address.
 * Some proxies forward `203.0.113.9:4711` or `[2001:db8::8]:443`: the port is dropped, or every
 * such client would share one "unknown" throttle bucket.
 */
export function clientIp(request: FastifyRequest): string | null {
  const ip = withoutPort(request.ip ?? '').replace(/%.*$/, '');
  return isIP(ip) !== 0 ? ip : null;
}

function withoutPort(address: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(address);
  if (bracketed) return bracketed[1] ?? '';
  const v4 = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.exec(address);
  return v4 ? (v4[1] ?? '') : address;
}

export function userAgent(request: FastifyRequest): string | null {
  const value = request.headers['user-agent'];
  return typeof value === 'string' && value.length > 0 ? value.slice(0, 1024) : null;
}

/** The authenticated caller; only for routes behind `authenticate`. */
export function caller(request: FastifyRequest): AuthContext {
  if (request.auth === null) throw new Error('route is missing the authenticate hook');
  return request.auth;
}
