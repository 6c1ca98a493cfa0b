import { randomBytes } from 'node:crypto';

import pg from 'pg';

import { DatabaseService } from '../../src/db/database.js';
import { startEmbeddedDatabase } from '../../src/db/embedded.js';
import { migrate } from '../../src/db/migrator.js';

export interface TestDatabase {
  /** Connection URL of a database that exists only for this test file. */
  readonly url: string;
  readonly kind: 'postgres' | 'pglite';
  /** A connected service on that database, migrated. */
  readonly db: DatabaseService;
  /** Disconnects and destroys the database. */
  drop(): Promise<void>;
}

export const onPostgres = process.env.TEST_DATABASE_URL !== undefined && process.env.TEST_DATABASE_URL !== '';

const testPool = { min: 0, max: 10, connectionTimeoutMs: 10_000, idleTimeoutMs: 10_000 };

/**
 * A fresh, migrated database for one test file: a new database on TEST_DATABASE_URL's server when
 * it is set, otherwise a new in-memory PGlite. Nothing is shared with any other test file.
 */
export async function createTestDatabase(options: { migrated?: boolean } = {}): Promise<TestDatabase> {
  const empty = await (onPostgres ? createPostgresDatabase() : createPgliteDatabase());
  const db = new DatabaseService({ url: empty.url, pool: testPool, preparedStatements: onPostgres });
  if (options.migrated !== false) await migrate(db.pool);
  await db.connect();
  return {
    url: empty.url,
    kind: empty.kind,
    db,
    async drop() {
      await db.disconnect();
      await empty.destroy();
    },
  };
}

/** An empty database and a way to destroy it. */
export interface EmptyDatabase {
  readonly url: string;
  readonly kind: 'postgres' | 'pglite';
  destroy(): Promise<void>;
}

export async function createEmptyDatabase(): Promise<EmptyDatabase> {
  return onPostgres ? createPostgresDatabase() : createPgliteDatabase();
}

async function createPostgresDatabase(): Promise<EmptyDatabase> {
  const adminUrl = process.env.TEST_DATABASE_URL as string;
  const name = `infinity_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  await admin.end();

  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    kind: 'postgres',
    async destroy() {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await client.end();
    },
  };
}

async function createPgliteDatabase(): Promise<EmptyDatabase> {
  const embedded = await startEmbeddedDatabase(undefined);
  return { url: embedded.url, kind: 'pglite', destroy: () => embedded.stop() };
}
