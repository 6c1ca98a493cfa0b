import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';

import pg from 'pg';

import { CLEANUP_LOCK_KEY, type CleanupOptions, CleanupService } from '../src/cleanup.js';
import { InvalidInputError } from '../src/errors.js';
import { captureLogs } from './helpers/logs.js';
import { createTestDatabase, onPostgres, type TestDatabase } from './helpers/database.js';

const DEBUG = 20;
const INFO = 30;

const ONLY_ON_POSTGRES =
  'PGlite serves all connections from one backend session: advisory locks cannot exclude';

let t: TestDatabase;
let userId: number;
const { logger, lines: logs } = captureLogs('debug');

const defaults: CleanupOptions = { batchSize: 1000, retentionDays: 90, throttleWindowSeconds: 900 };
const service = (options: Partial<CleanupOptions> = {}) =>
  new CleanupService(t.db, logger, { ...defaults, ...options });

before(async () => {
  t = await createTestDatabase();
  const { rows } = await t.db.pool.query<{ id: number }>(
    `INSERT INTO users (username, password_hash) VALUES ('owner', 'not-a-hash') RETURNING id`,
  );
  userId = rows[0]!.id;
});
after(async () => {
  await t.drop();
});
beforeEach(async () => {
  await t.db.pool.query('TRUNCATE user_sessions, audit_logs, login_throttles');
  logs.length = 0;
});

/** Inserts sessions named prefix-1..prefix-count expiring at now() + offset (an interval). */
async function insertSessions(prefix: string, count: number, offset: string): Promise<void> {
  await t.db.pool.query(
    `INSERT INTO user_sessions (user_id, token_jti, expires_at)
     SELECT $1, $2 || '-' || n, now() + $3::interval
       FROM generate_series(1, $4) AS n`,
    [userId, prefix, offset, count],
  );
}

async function insertAuditLog(action: string, age: string): Promise<void> {
  await t.db.pool.query(`INSERT INTO audit_logs (action, created_at) VALUES ($1, now() - $2::interval)`, [
    action,
    age,
  ]);
}

async function insertThrottle(key: string, age: string): Promise<void> {
  await t.db.pool.query(
    `INSERT INTO login_throttles (key, window_start, hits) VALUES ($1, now() - $2::interval, 3)`,
    [key, age],
  );
}

async function column(sql: string): Promise<string[]> {
  const { rows } = await t.db.pool.query<{ value: string }>(sql);
  return rows.map((row) => row.value);
}

const sessionJtis = () => column('SELECT token_jti AS value FROM user_sessions ORDER BY token_jti');

const batchCounts = (table: string) =>
  logs
    .filter((line) => line.msg === 'cleanup batch deleted' && line.table === table)
    .map((line) => ({ level: line.level, count: line.count }));

/** Advisory locks anyone holds in this test file's database. */
async function advisoryLocks(): Promise<number> {
  const { rows } = await t.db.pool.query<{ count: number }>(
    `SELECT count(*)::int AS count
       FROM pg_locks
      WHERE locktype = 'advisory'
        AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
  );
  return rows[0]!.count;
}

describe('cleanupExpiredSessions', () => {
  it('removes expired sessions and keeps unexpired ones', async () => {
    await insertSessions('expired', 3, '-1 hour');
    await insertSessions('live', 2, '1 hour');

    assert.equal(await service().cleanupExpiredSessions(), 3);
    assert.deepEqual(await sessionJtis(), ['live-1', 'live-2']);
  });

  it('removes every row, in several batches, when there are more rows than a batch', async () => {
    await insertSessions('expired', 10, '-1 minute');
    await insertSessions('live', 1, '1 minute');

    assert.equal(await service({ batchSize: 4 }).cleanupExpiredSessions(), 10);
    assert.deepEqual(await sessionJtis(), ['live-1']);
    assert.deepEqual(batchCounts('user_sessions'), [
      { level: DEBUG, count: 4 },
      { level: DEBUG, count: 4 },
      { level: DEBUG, count: 2 },
    ]);
  });

  it('stops after one empty batch when the rows fill the last batch exactly', async () => {
    await insertSessions('expired', 8, '-1 minute');

    assert.equal(await service({ batchSize: 4 }).cleanupExpiredSessions(), 8);
    assert.deepEqual(
      batchCounts('user_sessions').map((batch) => batch.count),
      [4, 4, 0],
    );
  });
});

describe('cleanupOldAuditLogs', () => {
  it('removes audit rows older than the given number of days and keeps newer ones', async () => {
    await insertAuditLog('old.a', '100 days');
    await insertAuditLog('old.b', '31 days');
    await insertAuditLog('recent.a', '29 days');
    await insertAuditLog('recent.b', '0 days');

    assert.equal(await service({ batchSize: 1 }).cleanupOldAuditLogs(30), 2);
    const actions = await column('SELECT action AS value FROM audit_logs ORDER BY action');
    assert.deepEqual(actions, ['recent.a', 'recent.b']);
    assert.deepEqual(
      batchCounts('audit_logs').map((batch) => batch.count),
      [1, 1, 0],
    );
  });

  it('uses retentionDays when no number of days is given', async () => {
    await insertAuditLog('past.retention', '91 days');
    await insertAuditLog('within.retention', '89 days');

    assert.equal(await service({ retentionDays: 90 }).cleanupOldAuditLogs(), 1);
    assert.deepEqual(await column('SELECT action AS value FROM audit_logs'), ['within.retention']);
  });

  it('refuses a number of days that is not a positive whole number', async () => {
    await assert.rejects(service().cleanupOldAuditLogs(0), InvalidInputError);
    await assert.rejects(service().cleanupOldAuditLogs(1.5), InvalidInputError);
  });
});

describe('cleanupStaleThrottles', () => {
  it('removes throttle rows whose window closed and keeps open windows', async () => {
    await insertThrottle('ip:192.0.2.1', '16 minutes');
    await insertThrottle('account:alice', '15 minutes 1 second');
    await insertThrottle('account:bob', '14 minutes');

    assert.equal(await service({ throttleWindowSeconds: 900 }).cleanupStaleThrottles(), 2);
    assert.deepEqual(await column('SELECT key AS value FROM login_throttles'), ['account:bob']);
  });
});

describe('CleanupService options', () => {
  it('refuses a batch size that is not a positive whole number', () => {
    assert.throws(() => service({ batchSize: 0 }), InvalidInputError);
  });
});

describe('runDailyCleanup', () => {
  it('removes all three kinds of rows and logs what it removed', async () => {
    await insertSessions('expired', 2, '-1 hour');
    await insertAuditLog('old.entry', '100 days');
    await insertThrottle('ip:192.0.2.9', '1 hour');

    const report = await service({ batchSize: 1 }).runDailyCleanup();

    assert.ok(!('skipped' in report));
    assert.deepEqual(
      { ...report, durationMs: 0 },
      { expiredSessions: 2, oldAuditLogs: 1, staleThrottles: 1, durationMs: 0 },
    );
    const finished = logs.find((line) => line.msg === 'daily cleanup finished');
    assert.equal(finished?.level, INFO);
    assert.equal(finished?.expiredSessions, 2);
    assert.equal(finished?.oldAuditLogs, 1);
    assert.equal(finished?.staleThrottles, 1);
    assert.equal(finished?.retentionDays, 90);
    assert.deepEqual(
      batchCounts('user_sessions').map((batch) => batch.count),
      [1, 1, 0],
    );
  });

  it('gives back its lock and its client after the run', async () => {
    await service().runDailyCleanup();

    assert.equal(await advisoryLocks(), 0);
    assert.equal(t.db.pool.idleCount, t.db.pool.totalCount);
  });

  it('gives back its lock and its client when a batch fails, and rethrows', async () => {
    await t.db.pool.query('ALTER TABLE login_throttles RENAME TO login_throttles_away');
    try {
      await assert.rejects(service().runDailyCleanup(), /login_throttles/);
    } finally {
      await t.db.pool.query('ALTER TABLE login_throttles_away RENAME TO login_throttles');
    }

    assert.equal(await advisoryLocks(), 0);
    assert.equal(t.db.pool.idleCount, t.db.pool.totalCount);
  });

  it(
    'skips, says why and touches nothing while another process holds the cleanup lock',
    { skip: onPostgres ? false : ONLY_ON_POSTGRES },
    async () => {
      await insertSessions('expired', 1, '-1 hour');
      const otherProcess = new pg.Client({ connectionString: t.url });
      await otherProcess.connect();
      try {
        await otherProcess.query('SELECT pg_advisory_lock($1)', [CLEANUP_LOCK_KEY]);

        assert.deepEqual(await service().runDailyCleanup(), { skipped: true });
        const skipped = logs.find((line) => line.msg === 'daily cleanup skipped');
        assert.equal(skipped?.level, INFO);
        assert.equal(skipped?.reason, 'another process holds the cleanup lock');
        assert.deepEqual(await sessionJtis(), ['expired-1']);
        assert.deepEqual(batchCounts('user_sessions'), []);
        assert.equal(t.db.pool.idleCount, t.db.pool.totalCount);
      } finally {
        await otherProcess.end();
      }

      const report = await service().runDailyCleanup();
      assert.ok(!('skipped' in report));
      assert.equal(report.expiredSessions, 1);
    },
  );
});
