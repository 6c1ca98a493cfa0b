import { accessSync, constants, statSync } from 'node:fs';
import { isIP } from 'node:net';

import { z } from 'zod';

import { ConfigError } from './errors.js';

/**
 * Every setting the project reads from the environment, validated once at start-up. A missing or
 * malformed variable fails with a ConfigError that names it. The result is frozen.
 */

const optionalInteger = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max))
    .optional();

const integer = (fallback: number, min: number, max = Number.MAX_SAFE_INTEGER) =>
  optionalInteger(min, max).transform((value) => value ?? fallback);

const flag = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' })
    .optional()
    .transform((value) => (value === undefined ? fallback : ['true', '1', 'yes'].includes(value)));

const text = () =>
  z
    .string()
    .optional()
    .transform((value) => (value === undefined || value.trim() === '' ? undefined : value));

// The message never repeats the value: a connection URL may carry a password.
const postgresUrl = () =>
  text().refine(
    (value) => value === undefined || (/^postgres(ql)?:\/\//.test(value) && URL.canParse(value)),
    {
      message: 'must be a postgres:// or postgresql:// URL',
    },
  );

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).optional().default('development'),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .optional()
    .default('info'),
  HOST: z.string().optional().default('127.0.0.1'),
  PORT: integer(3000, 0, 65535),

  DATABASE_URL: postgresUrl(),
  EMBEDDED_DATA_DIR: z.string().optional().default('.data/pglite'),
  // Unset, it is 2, or DB_POOL_MAX when that is smaller: DB_POOL_MAX=1 alone is a valid setting.
  DB_POOL_MIN: optionalInteger(0, 1000),
  DB_POOL_MAX: integer(20, 1, 1000),
  DB_POOL_TIMEOUT: integer(30_000, 1),
  DB_POOL_IDLE_TIMEOUT: integer(600_000, 1),
  DB_SSL: z.enum(['off', 'verify']).optional(),
  DB_SSL_CA_FILE: text(),

  JWT_SECRET: text(),
  JWT_TTL_SECONDS: integer(3600, 60, 30 * 24 * 3600),
  MAX_SESSIONS_PER_USER: integer(50, 1, 10_000),
  ADMIN_USERNAMES: z.string().optional().default('admin'),
  PASSWORD_BLOCKLIST_FILE: text(),
  PASSWORD_CONTEXT_WORDS: z.string().optional().default('infinity-server,infinity'),
  TRUST_PROXY: text(),
  BODY_LIMIT: integer(1_048_576, 1024, 64 * 1_048_576),
  REQUEST_TIMEOUT_MS: integer(30_000, 1000, 600_000),
  SHUTDOWN_TIMEOUT_MS: integer(10_000, 100, 600_000),
  DOCS_ENABLED: flag(true),

  LOGIN_RATE_WINDOW_SECONDS: integer(900, 1),
  LOGIN_MAX_PER_IP: integer(100, 1),
  LOGIN_MAX_PER_ACCOUNT: integer(10, 1),
  REGISTER_RATE_WINDOW_SECONDS: integer(3600, 1),
  REGISTER_MAX_PER_IP: integer(20, 1),

  AUDIT_FLUSH_INTERVAL_MS: integer(250, 1, 60_000),
  AUDIT_BATCH_SIZE: integer(200, 1, 10_000),
  AUDIT_RETENTION_DAYS: integer(90, 1, 36_500),
  CLEANUP_ENABLED: flag(true),
  CLEANUP_INTERVAL_MS: integer(24 * 3600 * 1000, 1000),
  CLEANUP_BATCH_SIZE: integer(5000, 1, 1_000_000),

  MIGRATE_ON_START: flag(true),
  SEED_ON_START: flag(true),
  SEED_ADMIN_PASSWORD: text(),
  SEED_TEST_PASSWORD: text(),
});

type Env = z.infer<typeof envSchema>;

/** Every environment variable the configuration reads (README.md documents each). */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(envSchema.shape);

export interface PoolSettings {
  readonly min: number;
  readonly max: number;
  readonly connectionTimeoutMs: number;
  readonly idleTimeoutMs: number;
}

export interface Config {
  readonly env: Env['NODE_ENV'];
  readonly isProduction: boolean;
  readonly logLevel: Env['LOG_LEVEL'];
  readonly host: string;
  readonly port: number;
  readonly databaseUrl: string | undefined;
  readonly embeddedDataDir: string;
  readonly pool: PoolSettings;
  readonly ssl: { readonly mode: 'off' | 'verify'; readonly caFile: string | undefined };
  readonly jwt: { readonly secret: string | undefined; readonly ttlSeconds: number };
  /** Sessions a user keeps at most: a login past it ends the user's oldest ones. */
  readonly maxSessionsPerUser: number;
  readonly adminUsernames: readonly string[];
  readonly passwords: {
    /** A file of extra blocked passwords, one per line. */
    readonly blocklistFile: string | undefined;
    /** The service's own names, which do not count toward a password's length. */
    readonly contextWords: readonly string[];
  };
  readonly trustProxy: boolean | string;
  readonly bodyLimit: number;
  /** Longest a client may take to send a whole request; a stalled one is cut off (408). */
  readonly requestTimeoutMs: number;
  /** How long a graceful shutdown waits for open connections before closing them. */
  readonly shutdownTimeoutMs: number;
  readonly docsEnabled: boolean;
  readonly loginRateLimit: {
    readonly windowSeconds: number;
    readonly maxPerIp: number;
    readonly maxPerAccount: number;
  };
  readonly registerRateLimit: {
    readonly windowSeconds: number;
    readonly maxPerIp: number;
  };
  readonly audit: {
    readonly flushIntervalMs: number;
    readonly batchSize: number;
    readonly retentionDays: number;
  };
  readonly cleanup: {
    readonly enabled: boolean;
    readonly intervalMs: number;
    readonly batchSize: number;
  };
  /** Apply pending migrations when the server starts (always done on the embedded default). */
  readonly migrateOnStart: boolean;
  readonly seed: {
    readonly onStart: boolean;
    readonly adminPassword: string | undefined;
    readonly testPassword: string | undefined;
  };
}

export interface LoadOptions {
  /**
   * Whether this process signs tokens (the server does). Production requires JWT_SECRET only
   * then: the command line's migrate, status, seed and cleanup never touch a token.
   */
  readonly signsTokens?: boolean;
}

/** Reads and validates the environment. Throws ConfigError naming the first bad variable. */
export function loadConfig(source: NodeJS.ProcessEnv = process.env, options: LoadOptions = {}): Config {
  const parsed = envSchema.safeParse(source);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(String(issue?.path[0] ?? 'environment'), issue?.message ?? 'is invalid');
  }
  const env = parsed.data;
  checkConsistency(env, options.signsTokens ?? true);

  return deepFreeze({
    env: env.NODE_ENV,
    isProduction: env.NODE_ENV === 'production',
    logLevel: env.LOG_LEVEL,
    host: env.HOST,
    port: env.PORT,
    databaseUrl: env.DATABASE_URL,
    embeddedDataDir: env.EMBEDDED_DATA_DIR,
    pool: {
      min: poolMin(env),
      max: env.DB_POOL_MAX,
      connectionTimeoutMs: env.DB_POOL_TIMEOUT,
      idleTimeoutMs: env.DB_POOL_IDLE_TIMEOUT,
    },
    ssl: {
      mode: env.DB_SSL ?? (env.NODE_ENV === 'production' ? 'verify' : 'off'),
      caFile: env.DB_SSL_CA_FILE,
    },
    jwt: { secret: env.JWT_SECRET, ttlSeconds: env.JWT_TTL_SECONDS },
    maxSessionsPerUser: env.MAX_SESSIONS_PER_USER,
    adminUsernames: env.ADMIN_USERNAMES.split(',')
      .map((name) => name.trim().normalize('NFKC').toLowerCase())
      .filter(Boolean),
    passwords: {
      blocklistFile: env.PASSWORD_BLOCKLIST_FILE,
      contextWords: env.PASSWORD_CONTEXT_WORDS.split(',')
        .map((word) => word.trim())
        .filter(Boolean),
    },
    trustProxy: parseTrustProxy(env.TRUST_PROXY),
    bodyLimit: env.BODY_LIMIT,
    requestTimeoutMs: env.REQUEST_TIMEOUT_MS,
    shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
    docsEnabled: env.DOCS_ENABLED,
    loginRateLimit: {
      windowSeconds: env.LOGIN_RATE_WINDOW_SECONDS,
      maxPerIp: env.LOGIN_MAX_PER_IP,
      maxPerAccount: env.LOGIN_MAX_PER_ACCOUNT,
    },
    registerRateLimit: {
      windowSeconds: env.REGISTER_RATE_WINDOW_SECONDS,
      maxPerIp: env.REGISTER_MAX_PER_IP,
    },
    audit: {
      flushIntervalMs: env.AUDIT_FLUSH_INTERVAL_MS,
      batchSize: env.AUDIT_BATCH_SIZE,
      retentionDays: env.AUDIT_RETENTION_DAYS,
    },
    cleanup: {
      enabled: env.CLEANUP_ENABLED,
      intervalMs: env.CLEANUP_INTERVAL_MS,
      batchSize: env.CLEANUP_BATCH_SIZE,
    },
    migrateOnStart: env.MIGRATE_ON_START,
    seed: {
      onStart: env.SEED_ON_START,
      adminPassword: env.SEED_ADMIN_PASSWORD,
      testPassword: env.SEED_TEST_PASSWORD,
    },
  });
}

/** DB_POOL_MIN as set, else 2, or DB_POOL_MAX when that is smaller. */
function poolMin(env: Env): number {
  return env.DB_POOL_MIN ?? Math.min(2, env.DB_POOL_MAX);
}

/** Rules that span several variables. */
function checkConsistency(env: Env, signsTokens: boolean): void {
  if (env.DB_POOL_MIN !== undefined && env.DB_POOL_MIN > env.DB_POOL_MAX) {
    throw new ConfigError('DB_POOL_MIN', `must not exceed DB_POOL_MAX (${env.DB_POOL_MAX})`);
  }
  if (signsTokens && env.NODE_ENV === 'production' && env.JWT_SECRET === undefined) {
    throw new ConfigError('JWT_SECRET', 'is required in production');
  }
  // 32 bytes is the key size HS256 needs to carry its full strength (RFC 7518, section 3.2).
  if (env.JWT_SECRET !== undefined && Buffer.byteLength(env.JWT_SECRET) < 32) {
    throw new ConfigError('JWT_SECRET', 'must be at least 32 bytes long');
  }
  // Checked here so a wrong path fails with the variable's name, not later as a bare ENOENT (or,
  // for the blocklist, EISDIR or a string too long for V8, after the database was migrated).
  if (env.DB_SSL_CA_FILE !== undefined) checkFile('DB_SSL_CA_FILE', env.DB_SSL_CA_FILE);
  if (env.PASSWORD_BLOCKLIST_FILE !== undefined) {
    checkFile('PASSWORD_BLOCKLIST_FILE', env.PASSWORD_BLOCKLIST_FILE, MAX_BLOCKLIST_FILE_BYTES);
  }
}

/**
 * Largest PASSWORD_BLOCKLIST_FILE taken, in bytes. The file is read whole into one string at
 * start-up; V8 cannot build a string much over 512 MB, and a list this size already holds millions
 * of passphrases.
 */
export const MAX_BLOCKLIST_FILE_BYTES = 64 * 1_048_576;

/** Throws a ConfigError naming `variable` unless `file` is a readable regular file of at most maxBytes. */
function checkFile(variable: string, file: string, maxBytes = Number.POSITIVE_INFINITY): void {
  let size: number;
  try {
    const stats = statSync(file);
    if (!stats.isFile()) throw new Error('not a regular file');
    accessSync(file, constants.R_OK);
    size = stats.size;
  } catch {
    throw new ConfigError(variable, 'is not a readable file');
  }
  if (size > maxBytes) {
    throw new ConfigError(variable, `is larger than ${maxBytes / 1_048_576} MiB (${size} bytes)`);
  }
}

/**
 * TRUST_PROXY as Fastify's trustProxy takes it: "true"/"false", a hop count, or a comma-separated
 * list of addresses and CIDR ranges.
 */
function parseTrustProxy(value: string | undefined): boolean | string {
  if (value === undefined || value === 'false') return false;
  if (value === 'true') return true;
  // Fastify 5 trusts nothing for a bare hop count (it cannot tell a proxy from a client that sends
  // enough X-Forwarded-For entries itself), so accepting one here would silently do nothing.
  if (/^\d+$/.test(value)) {
    throw new ConfigError(
      'TRUST_PROXY',
      "a hop count is not supported: name the proxies' addresses or CIDRs",
    );
  }
  const entries = value.split(',').map((entry) => entry.trim());
  if (!entries.every(isProxyEntry)) {
    throw new ConfigError('TRUST_PROXY', 'must be true, false, or addresses/CIDRs of the trusted proxies');
  }
  return entries.join(',');
}

const PROXY_KEYWORDS = new Set(['loopback', 'linklocal', 'uniquelocal']);

/** One entry as proxy-addr (behind Fastify's trustProxy) takes it: a keyword, an address, or a range. */
function isProxyEntry(entry: string): boolean {
  if (PROXY_KEYWORDS.has(entry)) return true;
  const [address = '', range, ...rest] = entry.split('/');
  const version = isIP(address);
  if (version === 0 || rest.length > 0) return false;
  if (range === undefined) return true;

  const maxPrefix = version === 4 ? 32 : 128;
  if (/^\d{1,3}$/.test(range)) return Number(range) <= maxPrefix;
  return version === 4 && isIP(range) === 4; // 10.0.0.0/255.0.0.0
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
