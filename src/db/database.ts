import { PrismaPg } from '@prisma/adapter-pg';
import type pg from 'pg';

import type { Config, PoolSettings } from '../config.js';
import { PrismaClient } from '../generated/prisma/client.js';
import type { Logger } from '../logger.js';
import { createPool, warmPool } from './pool.js';
import { AuditLogRepository } from './repositories/audit-logs.js';
import { SessionRepository } from './repositories/sessions.js';
import { UserRepository } from './repositories/users.js';

export interface DatabaseOptions {
  url: string;
  pool: PoolSettings;
  ssl?: Config['ssl'];
  logger?: Logger;
  /** Log every query at debug level (development). Otherwise only errors are logged. */
  logQueries?: boolean;
  /**
   * Use named prepared statements on the hand-written hot paths (default true). Turn off for the
   * embedded PGlite, whose connections share one backend and so one statement namespace.
   */
  preparedStatements?: boolean;
}

/**
 * Owns the pg pool, the Prisma client on top of it and the repositories. Create one per process
 * (or per test); nothing here is global.
 */
export class DatabaseService {
  readonly pool: pg.Pool;
  readonly prisma: PrismaClient;
  readonly users: UserRepository;
  readonly sessions: SessionRepository;
  readonly auditLogs: AuditLogRepository;
  private readonly options: DatabaseOptions;

  constructor(options: DatabaseOptions) {
    this.options = options;
    this.pool = createPool(options);
    this.pool.on('error', (error) => options.logger?.error({ err: error }, 'idle database client failed'));
    this.prisma = createPrismaClient(this.pool, options);
    this.users = new UserRepository(this.prisma);
    this.sessions = new SessionRepository(this.prisma, this.pool, {
      preparedStatements: options.preparedStatements,
    });
    this.auditLogs = new AuditLogRepository(this.prisma, this.pool);
  }

  /** Opens DB_POOL_MIN connections and makes sure the database answers. */
  async connect(): Promise<void> {
    await warmPool(this.pool, this.options.pool.min);
    await this.prisma.$connect();
  }

  /** Closes Prisma and the pool. Safe to call twice. */
  async disconnect(): Promise<void> {
    await this.prisma.$disconnect();
    if (!this.pool.ended) await this.pool.end();
  }

  /**
   * True when the database answers a trivial query within timeoutMs; never throws, never hangs on
   * a server that accepts connections but stops answering.
   */
  async healthCheck(timeoutMs = 3000): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const answered = this.pool.query('SELECT 1').then(
      () => true,
      () => false,
    );
    try {
      return await Promise.race([answered, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }
}

function createPrismaClient(pool: pg.Pool, options: DatabaseOptions): PrismaClient {
  const adapter = new PrismaPg(pool, {
    onPoolError: (error) => options.logger?.error({ err: error }, 'database pool error'),
  });
  const log = options.logQueries
    ? ([
        { emit: 'event', level: 'query' },
        { emit: 'event', level: 'error' },
      ] as const)
    : ([{ emit: 'event', level: 'error' }] as const);
  const prisma = new PrismaClient({ adapter, log: [...log] });

  const logger = options.logger;
  if (logger) {
    // Prisma reports every failed query here, also the expected ones the repositories turn into
    // domain errors (a taken username, a missing user). Whoever finally fails logs at error.
    prisma.$on('error' as never, (event: { message: string }) =>
      logger.debug({ prisma: event.message }, 'prisma query failed'),
    );
    if (options.logQueries) {
      prisma.$on('query' as never, (event: { query: string; duration: number }) =>
        logger.debug({ query: event.query, durationMs: event.duration }, 'query'),
      );
    }
  }
  return prisma;
}
