import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import type pg from 'pg';

/**
 * An offline runner for Prisma Migrate's folder format. It records every migration in
 * `_prisma_migrations` exactly as Prisma does (same table, checksum and advisory lock key), so
 * `prisma migrate deploy` stays usable wherever Prisma's native engine is installed.
 */

export const DEFAULT_MIGRATIONS_DIR = fileURLToPath(new URL('../../prisma/migrations', import.meta.url));

/** Prisma Migrate's own advisory lock key: two runners, ours or Prisma's, never overlap. */
const MIGRATION_LOCK_KEY = 72707369;

const CREATE_HISTORY_TABLE = `
  CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                  VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"            VARCHAR(64) NOT NULL,
    "finished_at"         TIMESTAMPTZ,
    "migration_name"      VARCHAR(255) NOT NULL,
    "logs"                TEXT,
    "rolled_back_at"      TIMESTAMPTZ,
    "started_at"          TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count" INTEGER NOT NULL DEFAULT 0
  )`;

export interface MigrationFile {
  readonly name: string;
  readonly sql: string;
  readonly checksum: string;
}

export interface MigrationStatus {
  readonly applied: string[];
  readonly pending: string[];
  /** Applied migrations whose file changed since (checksum differs). */
  readonly modified: string[];
  /** Rows Prisma left unfinished after a failure; they block further migrations. */
  readonly failed: string[];
}

export class MigrationError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MigrationError';
  }
}

/** Reads `<dir>/<timestamp>_<name>/migration.sql`, ordered by folder name as Prisma orders them. */
export async function readMigrations(dir = DEFAULT_MIGRATIONS_DIR): Promise<MigrationFile[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const names = entries
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();

  return Promise.all(
    names.map(async (name) => {
      const sql = await readFile(join(dir, name, 'migration.sql'), 'utf8');
      return { name, sql, checksum: sha256(sql) };
    }),
  );
}

/**
 * Applies every pending migration, each in its own transaction together with its history row.
 * Holds Prisma's advisory lock for the whole run, so a concurrent runner waits and then finds
 * nothing left to do. Returns the names it applied, in order.
 */
export async function migrate(pool: pg.Pool, dir = DEFAULT_MIGRATIONS_DIR): Promise<string[]> {
  const files = await readMigrations(dir);
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    await client.query(CREATE_HISTORY_TABLE);
    const status = await statusWith(client, files);
    if (status.failed.length > 0) {
      throw new MigrationError(`a failed migration blocks the way: ${status.failed.join(', ')}`);
    }
    const pending = files.filter((file) => status.pending.includes(file.name));
    for (const file of pending) await applyOne(client, file);
    return pending.map((file) => file.name);
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    client.release();
  }
}

/** Compares the migrations folder with `_prisma_migrations`; creates nothing. */
export async function migrationStatus(pool: pg.Pool, dir = DEFAULT_MIGRATIONS_DIR): Promise<MigrationStatus> {
  const files = await readMigrations(dir);
  const client = await pool.connect();
  try {
    return await statusWith(client, files);
  } finally {
    client.release();
  }
}

async function statusWith(client: pg.PoolClient, files: MigrationFile[]): Promise<MigrationStatus> {
  const { rows: exists } = await client.query<{ present: boolean }>(
    `SELECT to_regclass('"_prisma_migrations"') IS NOT NULL AS present`,
  );
  const { rows } = exists[0]?.present
    ? await client.query<{ migration_name: string; checksum: string; finished_at: Date | null }>(
        `SELECT migration_name, checksum, finished_at
           FROM "_prisma_migrations"
          WHERE rolled_back_at IS NULL`,
      )
    : { rows: [] };

  const finished = new Map(rows.filter((row) => row.finished_at).map((row) => [row.migration_name, row]));
  return {
    applied: files.filter((file) => finished.has(file.name)).map((file) => file.name),
    pending: files.filter((file) => !rows.some((row) => row.migration_name === file.name)).map((f) => f.name),
    modified: files
      .filter((file) => {
        const row = finished.get(file.name);
        return row !== undefined && !matchesChecksum(file.sql, row.checksum);
      })
      .map((file) => file.name),
    failed: rows.filter((row) => row.finished_at === null).map((row) => row.migration_name),
  };
}

/**
 * Whether a migration file is still the one recorded, as Prisma decides it: a checkout that only
 * turned LF into CRLF (or back) is the same migration.
 */
function matchesChecksum(sql: string, checksum: string): boolean {
  const variants = [sql, sql.replaceAll('\r\n', '\n'), sql.replaceAll('\r\n', '\n').replaceAll('\n', '\r\n')];
  return variants.some((variant) => sha256(variant) === checksum);
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

async function applyOne(client: pg.PoolClient, file: MigrationFile): Promise<void> {
  try {
    await client.query('BEGIN');
    await client.query(file.sql);
    await client.query(
      `INSERT INTO "_prisma_migrations"
         (id, checksum, migration_name, started_at, finished_at, applied_steps_count)
       VALUES ($1, $2, $3, now(), clock_timestamp(), 1)`,
      [randomUUID(), file.checksum, file.name],
    );
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    const reason = error instanceof Error ? error.message : String(error);
    throw new MigrationError(`migration ${file.name} failed and was rolled back: ${reason}`, {
      cause: error,
    });
  }
}
