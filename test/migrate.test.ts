import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import pg from 'pg';

import {
  DEFAULT_MIGRATIONS_DIR,
  migrate,
  MigrationError,
  migrationStatus,
  readMigrations,
} from '../src/db/migrator.js';
import { createEmptyDatabase, type EmptyDatabase, onPostgres } from './helpers/database.js';

/*
 * One empty database for the whole file; the tests run in order and each builds on what the
 * previous ones applied. Variations of the migrations folder live in temporary copies.
 */

/** Prisma Migrate's advisory lock key, which the runner must share. */
const PRISMA_LOCK_KEY = 72707369;

let empty: EmptyDatabase;
let pool: pg.Pool;
let scratch: string;
before(async () => {
  empty = await createEmptyDatabase();
  pool = new pg.Pool({ connectionString: empty.url, max: 4 });
  scratch = await mkdtemp(join(tmpdir(), 'infinity-migrations-'));
});
after(async () => {
  await pool.end();
  await empty.destroy();
  await rm(scratch, { recursive: true, force: true });
});

interface HistoryRow {
  id: string;
  migration_name: string;
  checksum: string;
  started_at: Date;
  finished_at: Date | null;
  logs: string | null;
  rolled_back_at: Date | null;
  applied_steps_count: number;
}

async function history(): Promise<HistoryRow[]> {
  const { rows } = await pool.query<HistoryRow>('SELECT * FROM _prisma_migrations ORDER BY migration_name');
  return rows;
}

/** A copy of the real migrations folder plus extra migrations, in a fresh temporary folder. */
async function migrationsWith(extra: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(scratch, 'dir-'));
  await cp(DEFAULT_MIGRATIONS_DIR, dir, { recursive: true });
  for (const [name, sql] of Object.entries(extra)) {
    await mkdir(join(dir, name));
    await writeFile(join(dir, name, 'migration.sql'), sql);
  }
  return dir;
}

async function tableExists(name: string): Promise<boolean> {
  const { rows } = await pool.query<{ present: boolean }>('SELECT to_regclass($1) IS NOT NULL AS present', [
    name,
  ]);
  return rows[0]?.present ?? false;
}

async function advisoryLocksHeld(): Promise<number> {
  const { rows } = await pool.query<{ count: number }>(`
    SELECT count(*)::int AS count
      FROM pg_locks
     WHERE locktype = 'advisory'
       AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`);
  return rows[0]?.count ?? -1;
}

describe('migrate', () => {
  it('reports every migration as pending on an empty database, and creates nothing to say so', async () => {
    const names = (await readMigrations()).map((file) => file.name);

    const status = await migrationStatus(pool);

    assert.deepEqual(status, { applied: [], pending: names, modified: [], failed: [] });
    assert.equal(await tableExists('_prisma_migrations'), false);
  });

  it('applies every migration in folder order and records each as Prisma does', async () => {
    const names = (await readMigrations()).map((file) => file.name);

    assert.deepEqual(await migrate(pool), names);

    const rows = await history();
    assert.deepEqual(
      rows.map((row) => row.migration_name),
      names,
    );
    for (const row of rows) {
      assert.match(row.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.equal(row.applied_steps_count, 1);
      assert.equal(row.logs, null);
      assert.equal(row.rolled_back_at, null);
      assert.ok(row.finished_at instanceof Date && row.finished_at >= row.started_at);
    }
  });

  it('records as checksum the sha256 of the migration file, in lowercase hex', async () => {
    const [first] = await history();
    assert.ok(first);
    const bytes = await readFile(join(DEFAULT_MIGRATIONS_DIR, first.migration_name, 'migration.sql'));

    assert.equal(first.checksum, createHash('sha256').update(bytes).digest('hex'));
  });

  it('does nothing on a second run', async () => {
    const before = await history();

    assert.deepEqual(await migrate(pool), []);
    assert.deepEqual(await history(), before);
  });

  it('lists applied and pending migrations, then applies only the pending ones', async () => {
    const init = (await readMigrations()).map((file) => file.name);
    const dir = await migrationsWith({
      '20990101000000_add_notes': 'CREATE TABLE notes (id INTEGER PRIMARY KEY);',
    });

    assert.deepEqual(await migrationStatus(pool, dir), {
      applied: init,
      pending: ['20990101000000_add_notes'],
      modified: [],
      failed: [],
    });
    assert.deepEqual(await migrate(pool, dir), ['20990101000000_add_notes']);
    assert.deepEqual((await migrationStatus(pool, dir)).applied, [...init, '20990101000000_add_notes']);
  });

  it('shows an applied migration whose file changed as modified, and does not apply it again', async () => {
    const dir = await migrationsWith({
      '20990101000000_add_notes': 'CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);',
    });

    const status = await migrationStatus(pool, dir);

    assert.deepEqual(status.modified, ['20990101000000_add_notes']);
    assert.ok(status.applied.includes('20990101000000_add_notes'));
    assert.deepEqual(await migrate(pool, dir), []);
  });

  it('does not count a checkout with CRLF line endings as a modification, as Prisma does not', async () => {
    const dir = await migrationsWith({
      '20990101000000_add_notes': 'CREATE TABLE notes\r\n  (id INTEGER PRIMARY KEY);',
    });
    // Recorded from an LF copy of the same migration.
    await pool.query('UPDATE _prisma_migrations SET checksum = $1 WHERE migration_name = $2', [
      createHash('sha256').update('CREATE TABLE notes\n  (id INTEGER PRIMARY KEY);').digest('hex'),
      '20990101000000_add_notes',
    ]);

    assert.deepEqual((await migrationStatus(pool, dir)).modified, []);
  });

  it('rolls back a migration that fails, records nothing, stops there and throws MigrationError', async () => {
    const dir = await migrationsWith({
      '20990101000000_add_notes': 'CREATE TABLE notes\n  (id INTEGER PRIMARY KEY);',
      '20990102000000_broken': 'CREATE TABLE half_done (id INTEGER);\nINSERT INTO no_such_table VALUES (1);',
      '20990103000000_after_broken': 'CREATE TABLE after_broken (id INTEGER);',
    });

    const error = await migrate(pool, dir).then(
      () => assert.fail('the broken migration was applied'),
      (reason: unknown) => reason,
    );

    assert.ok(error instanceof MigrationError);
    assert.match(error.message, /20990102000000_broken/);
    assert.equal((error.cause as { code?: string }).code, '42P01'); // undefined_table
    assert.equal(await tableExists('half_done'), false);
    assert.equal(await tableExists('after_broken'), false);
    assert.deepEqual((await migrationStatus(pool, dir)).pending, [
      '20990102000000_broken',
      '20990103000000_after_broken',
    ]);
    assert.equal(await advisoryLocksHeld(), 0);
  });

  it('refuses to run while a migration Prisma left unfinished blocks the way', async () => {
    const dir = await migrationsWith({
      '20990104000000_left_unfinished': 'CREATE TABLE never_run (id INTEGER);',
    });
    await pool.query(
      `INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at, applied_steps_count)
       VALUES (gen_random_uuid()::text, $1, '20990104000000_left_unfinished', now(), 0)`,
      ['0'.repeat(64)],
    );

    assert.deepEqual((await migrationStatus(pool, dir)).failed, ['20990104000000_left_unfinished']);
    await assert.rejects(migrate(pool, dir), (error: unknown) => {
      assert.ok(error instanceof MigrationError);
      assert.match(error.message, /20990104000000_left_unfinished/);
      return true;
    });
    assert.equal(await tableExists('never_run'), false);
  });

  it(
    'lets two runners start together and applies each migration exactly once',
    {
      skip: onPostgres
        ? false
        : 'PGlite is one backend session shared by all connections: its advisory locks make no one wait',
    },
    async () => {
      const race = await createEmptyDatabase();
      const holder = new pg.Client({ connectionString: race.url });
      const first = new pg.Pool({ connectionString: race.url, max: 1 });
      const second = new pg.Pool({ connectionString: race.url, max: 1 });
      try {
        // Hold Prisma's lock so both runners are provably waiting on it when it is let go.
        await holder.connect();
        await holder.query('SELECT pg_advisory_lock($1)', [PRISMA_LOCK_KEY]);
        const runs = Promise.all([migrate(first), migrate(second)]);
        await waitUntil(async () => (await waitingForLock(holder)) === 2);
        await holder.query('SELECT pg_advisory_unlock($1)', [PRISMA_LOCK_KEY]);

        const [a, b] = await runs;

        const names = (await readMigrations()).map((file) => file.name);
        assert.deepEqual([...a, ...b], names);
        assert.ok(a.length === 0 || b.length === 0);
        const { rows } = await holder.query<{ migration_name: string; count: number }>(
          'SELECT migration_name, count(*)::int AS count FROM _prisma_migrations GROUP BY migration_name',
        );
        assert.deepEqual(
          rows.map((row) => [row.migration_name, row.count]),
          names.map((name) => [name, 1]),
        );
      } finally {
        await holder.end();
        await Promise.all([first.end(), second.end()]);
        await race.destroy();
      }
    },
  );
});

async function waitingForLock(client: pg.Client): Promise<number> {
  const { rows } = await client.query<{ count: number }>(
    `SELECT count(*)::int AS count
       FROM pg_locks
      WHERE locktype = 'advisory'
        AND NOT granted
        AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
  );
  return rows[0]?.count ?? 0;
}

async function waitUntil(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
