import type pg from 'pg';

import type { Config } from './config.js';
import type { DatabaseService } from './db/database.js';
import { positiveInt } from './db/validate.js';
import type { Logger } from './logger.js';

/**
 * Housekeeping for the three tables that only grow: expired sessions, audit rows past their
 * retention and login throttle windows that have closed. Every delete runs in bounded batches, each
 * its own short statement, so removing a million rows never holds a long lock or a long
 * transaction, and replication and vacuum keep up between batches.
 */

export interface CleanupOptions {
  /** Most rows one DELETE statement removes. */
  readonly batchSize: number;
  /** Audit rows older than this many days are removed. */
  readonly retentionDays: number;
  /**
   * A throttle row whose window started this long ago or longer has expired; the same rule as
   * src/http/login-throttle.ts, which restarts such a window at the next attempt. With login and
   * registration windows of different lengths, the longer one: a row kept past its own window
   * is restarted by its next hit anyway.
   */
  readonly throttleWindowSeconds: number;
}

export interface CleanupReport {
  readonly expiredSessions: number;
  readonly oldAuditLogs: number;
  readonly staleThrottles: number;
  readonly durationMs: number;
}

/**
 * Session advisory lock key of the daily cleanup: the ASCII bytes of "infc" read as an integer.
 * Fixed, so every instance and every version agrees; distinct from Prisma Migrate's 72707369.
 */
export const CLEANUP_LOCK_KEY = 0x69_6e_66_63;

/** The options the service takes, read from the validated configuration. */
export function cleanupOptionsFrom(
  config: Pick<Config, 'cleanup' | 'audit' | 'loginRateLimit' | 'registerRateLimit'>,
): CleanupOptions {
  return {
    batchSize: config.cleanup.batchSize,
    retentionDays: config.audit.retentionDays,
    throttleWindowSeconds: Math.max(
      config.loginRateLimit.windowSeconds,
      config.registerRateLimit.windowSeconds,
    ),
  };
}

/** Something that runs a query: the pool, or the one client that holds the cleanup lock. */
type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

// Each statement deletes at most $1 rows picked by the primary key. SKIP LOCKED lets a batch pass
// over rows a request is writing right now instead of waiting on them; the next run gets them.

const DELETE_EXPIRED_SESSIONS = `
  DELETE FROM user_sessions
   WHERE id IN (
           SELECT id
             FROM user_sessions
            WHERE expires_at <= now()
            LIMIT $1
              FOR UPDATE SKIP LOCKED
         )`;

const DELETE_OLD_AUDIT_LOGS = `
  DELETE FROM audit_logs
   WHERE id IN (
           SELECT id
             FROM audit_logs
            WHERE created_at < now() - make_interval(days => $2::int)
            LIMIT $1
              FOR UPDATE SKIP LOCKED
         )`;

const DELETE_STALE_THROTTLES = `
  DELETE FROM login_throttles
   WHERE key IN (
           SELECT key
             FROM login_throttles
            WHERE window_start <= now() - make_interval(secs => $2::int)
            LIMIT $1
              FOR UPDATE SKIP LOCKED
         )`;

export class CleanupService {
  private readonly options: CleanupOptions;

  constructor(
    private readonly db: DatabaseService,
    private readonly logger: Logger,
    options: CleanupOptions,
  ) {
    this.options = {
      batchSize: positiveInt('batchSize', options.batchSize),
      retentionDays: positiveInt('retentionDays', options.retentionDays),
      throttleWindowSeconds: positiveInt('throttleWindowSeconds', options.throttleWindowSeconds),
    };
  }

  /** Deletes every session whose expiry has passed; returns how many. */
  async cleanupExpiredSessions(): Promise<number> {
    return this.expiredSessions(this.db.pool);
  }

  /** Deletes audit rows created more than `days` days ago; returns how many. */
  async cleanupOldAuditLogs(days = this.options.retentionDays): Promise<number> {
    return this.oldAuditLogs(this.db.pool, positiveInt('days', days));
  }

  /** Deletes login throttle rows whose window has closed; returns how many. */
  async cleanupStaleThrottles(): Promise<number> {
    return this.staleThrottles(this.db.pool);
  }

  /**
   * Runs the three cleanups under a session advisory lock, so that when several instances of the
   * service start it at the same time one does the work and the others return `{ skipped: true }`
   * at once. The batches run on the client that holds the lock: the run needs one connection, not
   * two, and still works with DB_POOL_MAX=1. Errors propagate, after the lock is released.
   * On the embedded PGlite every connection shares one session, so the lock excludes nothing there;
   * the data directory's own lock already keeps a second process out.
   */
  async runDailyCleanup(): Promise<CleanupReport | { skipped: true }> {
    const client = await this.db.pool.connect();
    let broken: Error | undefined;
    try {
      if (!(await this.tryLock(client))) {
        this.logger.info(
          { lockKey: CLEANUP_LOCK_KEY, reason: 'another process holds the cleanup lock' },
          'daily cleanup skipped',
        );
        return { skipped: true };
      }
      try {
        return await this.runAll(client);
      } finally {
        broken = await this.unlock(client);
      }
    } finally {
      // A client whose unlock failed is destroyed, not pooled: closing its session frees the lock.
      client.release(broken);
    }
  }

  private async runAll(client: pg.PoolClient): Promise<CleanupReport> {
    const started = performance.now();

    const expiredSessions = await this.expiredSessions(client);
    const oldAuditLogs = await this.oldAuditLogs(client, this.options.retentionDays);
    const staleThrottles = await this.staleThrottles(client);

    const report = {
      expiredSessions,
      oldAuditLogs,
      staleThrottles,
      durationMs: Math.round(performance.now() - started),
    };
    const { retentionDays } = this.options;
    this.logger.info({ ...report, retentionDays }, 'daily cleanup finished');
    return report;
  }

  private async tryLock(client: pg.PoolClient): Promise<boolean> {
    const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [
      CLEANUP_LOCK_KEY,
    ]);
    return rows[0]?.locked === true;
  }

  /** Returns the error when the unlock failed, so the caller can throw the connection away. */
  private async unlock(client: pg.PoolClient): Promise<Error | undefined> {
    try {
      const { rows } = await client.query<{ unlocked: boolean }>(
        'SELECT pg_advisory_unlock($1) AS unlocked',
        [CLEANUP_LOCK_KEY],
      );
      if (rows[0]?.unlocked !== true) {
        this.logger.warn({ lockKey: CLEANUP_LOCK_KEY }, 'cleanup lock was not held at unlock');
      }
      return undefined;
    } catch (error) {
      this.logger.error({ err: error, lockKey: CLEANUP_LOCK_KEY }, 'cleanup lock unlock failed');
      return error instanceof Error ? error : new Error(String(error));
    }
  }

  private expiredSessions(runner: Queryable): Promise<number> {
    return this.deleteInBatches(runner, 'user_sessions', DELETE_EXPIRED_SESSIONS, []);
  }

  private oldAuditLogs(runner: Queryable, days: number): Promise<number> {
    return this.deleteInBatches(runner, 'audit_logs', DELETE_OLD_AUDIT_LOGS, [days]);
  }

  private staleThrottles(runner: Queryable): Promise<number> {
    const window = this.options.throttleWindowSeconds;
    return this.deleteInBatches(runner, 'login_throttles', DELETE_STALE_THROTTLES, [window]);
  }

  /**
   * Repeats one bounded DELETE (its $1 is the batch size) until a batch comes back short, logging
   * each batch at debug. Each statement commits on its own: no transaction spans batches.
   */
  private async deleteInBatches(
    runner: Queryable,
    table: string,
    statement: string,
    params: readonly unknown[],
  ): Promise<number> {
    const { batchSize } = this.options;
    let total = 0;
    for (let batch = 1; ; batch += 1) {
      const { rowCount } = await runner.query(statement, [batchSize, ...params]);
      const count = rowCount ?? 0;
      total += count;
      this.logger.debug({ table, batch, count, batchSize }, 'cleanup batch deleted');
      if (count < batchSize) return total;
    }
  }
}
