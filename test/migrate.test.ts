import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';

import pg from 'pg';

import { migrate, migrationStatus, readMigrations } from '../src/db/migrator.js';
import { createEmptyDatabase, type EmptyDatabase } from './helpers/database.js';

let empty: EmptyDatabase;
let pool: pg.Pool;
before(async () => {
  empty = await createEmptyDatabase();
  pool = new pg.Pool({ connectionString: empty.url, max: 4 });
});
after(async () => {
  await pool.end();
  await empty.destroy();
});

it('applies every migration once and records it as Prisma does', async () => {
  const files = await readMigrations();
  assert.deepEqual(await migrate(pool), files.map((f) => f.name));
  assert.deepEqual(await migrate(pool), []);
  const { rows } = await pool.query('SELECT migration_name, checksum, applied_steps_count, finished_at FROM _prisma_migrations');
  assert.equal(rows.length, files.length);
  assert.equal(rows[0].checksum, files[0]?.checksum);
  assert.equal(rows[0].applied_steps_count, 1);
  const status = await migrationStatus(pool);
  assert.deepEqual(status.pending, []);
});
