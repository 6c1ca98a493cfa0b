import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import pg from 'pg';

import { main } from '../src/cli.js';
import { readMigrations } from '../src/db/migrator.js';
import { createEmptyDatabase, type EmptyDatabase } from './helpers/database.js';
import { unusedPort } from './helpers/fixtures.js';

/**
 * The command line as a user meets it: a child process with only the environment given here, its
 * output and its exit status. Where the process boundary adds nothing, `main` runs in this process
 * with the same environment, which saves a Node start per case.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = ['--import', 'tsx', 'src/cli.ts'];
const BIN = ['bin/infinity-server.js'];
const CHILD_TIMEOUT_MS = 60_000;

interface CliRun {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function run(entry: string[], args: string[], env: Record<string, string>): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...entry, ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', NODE_ENV: 'test', LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

const cli = (args: string[], env: Record<string, string>) => run(CLI, args, env);

async function inProcess(args: string[], env: Record<string, string>): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const status = await main(args, {
    env: { NODE_ENV: 'test', LOG_LEVEL: 'silent', ...env },
    out: (line) => (stdout += `${line}\n`),
    err: (line) => (stderr += `${line}\n`),
  });
  return { status, stdout, stderr };
}

let database: EmptyDatabase;
let pool: pg.Pool;
let env: Record<string, string>;
let migrationNames: string[];

before(async () => {
  database = await createEmptyDatabase();
  pool = new pg.Pool({ connectionString: database.url, max: 2 });
  env = { DATABASE_URL: database.url };
  migrationNames = (await readMigrations()).map((file) => file.name);
});
after(async () => {
  await pool.end();
  await database.destroy();
});

// These steps share one database and run in order, as an operator would type them.
describe('on a fresh database, step by step', () => {
  it('status lists every migration as pending and exits 1', async () => {
    const result = await cli(['status'], env);

    assert.equal(result.status, 1);
    assert.match(result.stdout, /^applied: none$/m);
    assert.match(result.stdout, new RegExp(`^pending: ${migrationNames.length}$`, 'm'));
    for (const name of migrationNames) assert.match(result.stdout, new RegExp(`^  ${name}$`, 'm'));
    assert.match(result.stdout, /^not up to date/m);
  });

  it('seed refuses an unmigrated database and points to migrate', async () => {
    const result = await inProcess(['seed'], env);

    assert.equal(result.status, 1);
    assert.match(result.stderr, /the database is not migrated .*run `infinity-server migrate` first/);
  });

  it('migrate applies the pending migrations, and a second run says nothing to migrate', async () => {
    const first = await cli(['migrate'], env);
    assert.equal(first.status, 0, first.stderr);
    const applied = migrationNames.map((name) => `applied ${name}\n`).join('');
    const count = migrationNames.length;
    assert.equal(first.stdout, `${applied}${count} migration${count === 1 ? '' : 's'} applied\n`);

    const second = await cli(['migrate'], env);
    assert.equal(second.status, 0, second.stderr);
    assert.equal(second.stdout, 'nothing to migrate: the database is up to date\n');
  });

  it('migrate and status run in production without JWT_SECRET, which only the server needs', async () => {
    const production = { ...env, NODE_ENV: 'production', DB_SSL: 'off' };

    const migrated = await inProcess(['migrate'], production);
    const status = await inProcess(['status'], production);

    assert.equal(migrated.status, 0, migrated.stderr);
    assert.equal(migrated.stdout, 'nothing to migrate: the database is up to date\n');
    assert.equal(status.status, 0, status.stderr);
    assert.match(status.stdout, /^up to date$/m);
  });

  it('status, run through the bin, lists the applied migrations and exits 0', async () => {
    const result = await run(BIN, ['status'], env);

    assert.equal(result.status, 0, result.stderr);
    assert.equal(
      result.stdout,
      'database: postgres\n' +
        `applied: ${migrationNames.length}\n` +
        migrationNames.map((name) => `  ${name}\n`).join('') +
        'pending: none\nmodified since applied: none\nfailed: none\nup to date\n',
    );
  });

  it('seed creates admin and testuser once and prints their generated passwords', async () => {
    const first = await inProcess(['seed'], env);
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stdout, /^created admin, testuser$/m);
    assert.match(first.stdout, /^generated password for admin: [A-Za-z0-9_-]{20,}$/m);
    assert.match(first.stdout, /^generated password for testuser: [A-Za-z0-9_-]{20,}$/m);
    const { rows } = await pool.query<{ username: string; password_hash: string }>(
      'SELECT username, password_hash FROM users ORDER BY username',
    );
    assert.deepEqual(
      rows.map((row) => [row.username, row.password_hash.startsWith('$argon2id$')]),
      [
        ['admin', true],
        ['testuser', true],
      ],
    );

    const second = await inProcess(['seed'], env);
    assert.equal(second.status, 0, second.stderr);
    assert.equal(second.stdout, 'nothing to seed: the users already exist\n');
  });

  it('cleanup prints how many rows it removed', async () => {
    await pool.query(
      `INSERT INTO user_sessions (user_id, token_jti, expires_at)
       SELECT id, 'cli-expired', now() - interval '1 hour' FROM users WHERE username = 'admin'`,
    );
    await pool.query(
      `INSERT INTO audit_logs (action, created_at) VALUES ('old', now() - interval '91 days')`,
    );

    const result = await inProcess(['cleanup'], env);

    assert.equal(result.status, 0, result.stderr);
    assert.match(
      result.stdout,
      /^removed 1 expired session, 1 audit log row older than 90 days and 0 stale login throttles in \d+ ms\n$/,
    );
  });
});

describe('failures', { concurrency: true }, () => {
  it('a malformed DB_POOL_MAX exits 1 with a message naming the variable', async () => {
    const result = await cli(['migrate'], { ...env, DB_POOL_MAX: 'abc' });

    assert.equal(result.status, 1);
    assert.equal(result.stdout, '');
    assert.equal(
      result.stderr,
      'infinity-server migrate: configuration error: DB_POOL_MAX: must be a whole number\n',
    );
  });

  it('an unreachable database exits 1 and says it cannot connect', async () => {
    const port = await unusedPort();
    const unreachable = `postgresql://postgres@127.0.0.1:${port}/none`;
    const result = await cli(['status'], { DATABASE_URL: unreachable });

    assert.equal(result.status, 1);
    assert.equal(result.stdout, '');
    assert.match(
      result.stderr,
      new RegExp(`^infinity-server status: cannot connect to the database at 127\\.0\\.0\\.1:${port}/none: `),
    );
    assert.match(result.stderr, /ECONNREFUSED/);
  });

  it('an unknown command prints the usage and exits 2, even one named like an object key', async () => {
    for (const name of ['migrat', 'toString', '__proto__']) {
      const result = await inProcess([name], env);

      assert.equal(result.status, 2);
      assert.ok(result.stderr.startsWith(`unknown command: ${name}\nusage: infinity-server <command>`));
    }
  });
});

describe('without DATABASE_URL', () => {
  it('cleanup migrates the embedded database first, then runs', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'infinity-cli-'));
    try {
      const result = await inProcess(['cleanup'], { EMBEDDED_DATA_DIR: dataDir });

      assert.equal(result.status, 0, result.stderr);
      assert.match(result.stdout, /^removed 0 expired sessions, 0 audit log rows older than 90 days/);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
