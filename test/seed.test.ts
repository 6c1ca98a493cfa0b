import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';

import { PASSWORD_PROBLEMS, verifyPassword } from '../src/auth/passwords.js';
import { ConfigError } from '../src/errors.js';
import { seed, type SeedOptions } from '../src/seed.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { captureLogs } from './helpers/logs.js';

const WARN = 40;
const ADMIN_PASSWORD = 'a long admin passphrase for tests';
const TEST_PASSWORD = 'a long testuser passphrase for tests';

let t: TestDatabase;
const { logger, lines: logs } = captureLogs('debug');

before(async () => {
  t = await createTestDatabase();
});
after(async () => {
  await t.drop();
});
beforeEach(async () => {
  await t.db.pool.query('DELETE FROM users');
  logs.length = 0;
});

function options(
  isProduction: boolean,
  passwords: { adminPassword?: string; testPassword?: string } = {},
  contextWords?: string[],
): SeedOptions {
  return {
    isProduction,
    seed: { adminPassword: passwords.adminPassword, testPassword: passwords.testPassword },
    ...(contextWords && { passwords: { blocklistFile: undefined, contextWords } }),
  };
}

interface UserRow {
  username: string;
  password_hash: string;
  created_at: Date;
  updated_at: Date;
}

async function users(): Promise<UserRow[]> {
  const { rows } = await t.db.pool.query<UserRow>(
    `SELECT username, password_hash, created_at, updated_at
       FROM users
      ORDER BY username`,
  );
  return rows;
}

async function hashOf(username: string): Promise<string> {
  const row = (await users()).find((user) => user.username === username);
  assert.ok(row, `${username} exists`);
  return row.password_hash;
}

describe('seed outside production', () => {
  it('creates admin and testuser with argon2id hashes of the configured passwords', async () => {
    const passwords = { adminPassword: ADMIN_PASSWORD, testPassword: TEST_PASSWORD };
    const result = await seed(t.db, options(false, passwords), logger);

    assert.deepEqual(result, { created: ['admin', 'testuser'], generatedPasswords: {} });
    const adminHash = await hashOf('admin');
    assert.match(adminHash, /^\$argon2id\$/);
    assert.equal(await verifyPassword(adminHash, ADMIN_PASSWORD), true);
    assert.equal(await verifyPassword(adminHash, TEST_PASSWORD), false);
    assert.equal(await verifyPassword(await hashOf('testuser'), TEST_PASSWORD), true);
  });

  it('changes nothing when run a second time: same rows, same hashes', async () => {
    await seed(t.db, options(false), logger);
    const first = await users();

    const again = await seed(t.db, options(false, { adminPassword: ADMIN_PASSWORD }), logger);

    assert.deepEqual(again, { created: [], generatedPasswords: {} });
    assert.deepEqual(await users(), first);
    assert.equal(first.length, 2);
  });

  it('generates url-safe passwords of 20+ characters that verify, and never logs them', async () => {
    const result = await seed(t.db, options(false), logger);

    const { admin, testuser } = result.generatedPasswords;
    assert.ok(admin !== undefined && testuser !== undefined);
    assert.match(admin, /^[A-Za-z0-9_-]{20,}$/);
    assert.match(testuser, /^[A-Za-z0-9_-]{20,}$/);
    assert.notEqual(admin, testuser);
    assert.equal(await verifyPassword(await hashOf('admin'), admin), true);
    assert.equal(await verifyPassword(await hashOf('testuser'), testuser), true);
    const logged = JSON.stringify(logs);
    assert.equal(logged.includes(admin) || logged.includes(testuser), false);
    const created = logs.filter((line) => line.msg === 'seed user created');
    assert.deepEqual(
      created.map((line) => [line.username, line.passwordSource]),
      [
        ['admin', 'generated'],
        ['testuser', 'generated'],
      ],
    );
  });

  it('accepts a weak configured password with a warning that names the variable', async () => {
    const result = await seed(t.db, options(false, { adminPassword: 'changeme' }), logger);

    assert.deepEqual(result.created, ['admin', 'testuser']);
    assert.equal(await verifyPassword(await hashOf('admin'), 'changeme'), true);
    const warning = logs.find((line) => line.level === WARN);
    assert.equal(warning?.variable, 'SEED_ADMIN_PASSWORD');
    assert.equal(warning?.problem, 'is shorter than the password policy allows');
    assert.equal(JSON.stringify(logs).includes('changeme'), false);
  });

  it('creates each user once when two seeds run at the same time', async () => {
    const passwords = { adminPassword: ADMIN_PASSWORD, testPassword: TEST_PASSWORD };
    const results = await Promise.all([
      seed(t.db, options(false, passwords), logger),
      seed(t.db, options(false, passwords), logger),
    ]);

    assert.deepEqual(results.flatMap((result) => result.created).sort(), ['admin', 'testuser']);
    assert.deepEqual(
      (await users()).map((user) => user.username),
      ['admin', 'testuser'],
    );
  });
});

describe('seed in production', () => {
  it('creates only the admin, with SEED_ADMIN_PASSWORD', async () => {
    const result = await seed(t.db, options(true, { adminPassword: ADMIN_PASSWORD }), logger);

    assert.deepEqual(result, { created: ['admin'], generatedPasswords: {} });
    assert.deepEqual(
      (await users()).map((user) => user.username),
      ['admin'],
    );
    assert.equal(await verifyPassword(await hashOf('admin'), ADMIN_PASSWORD), true);
  });

  it('refuses to create the admin when SEED_ADMIN_PASSWORD is unset', async () => {
    await assert.rejects(seed(t.db, options(true), logger), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(error.variable, 'SEED_ADMIN_PASSWORD');
      assert.match(error.message, /^SEED_ADMIN_PASSWORD: is required in production/);
      return true;
    });
    assert.deepEqual(await users(), []);
  });

  it('refuses a password shorter than the password policy', async () => {
    await assert.rejects(seed(t.db, options(true, { adminPassword: 'fourteen chars' }), logger), {
      name: 'ConfigError',
      message: 'SEED_ADMIN_PASSWORD: is shorter than the password policy allows',
    });
    assert.deepEqual(await users(), []);
  });

  it('refuses a well-known default password whatever its case', async () => {
    for (const adminPassword of ['admin', 'Password123!', 'CHANGEME', 'Correct Horse Battery Staple']) {
      await assert.rejects(
        seed(t.db, options(true, { adminPassword }), logger),
        (error: unknown) => error instanceof ConfigError && error.variable === 'SEED_ADMIN_PASSWORD',
        adminPassword,
      );
    }
    await assert.rejects(
      seed(t.db, options(true, { adminPassword: 'CORRECT horse battery STAPLE' }), logger),
      {
        message: 'SEED_ADMIN_PASSWORD: is a well-known default password',
      },
    );
    assert.deepEqual(await users(), []);
  });

  it("holds the password to the configured policy: the service's name does not count", async () => {
    const adminPassword = 'Acme-Cloud-admin-2026';

    await assert.rejects(seed(t.db, options(true, { adminPassword }, ['acme-cloud']), logger), {
      message: `SEED_ADMIN_PASSWORD: ${PASSWORD_PROBLEMS.context}`,
    });
    assert.deepEqual(await users(), []);
  });

  it('leaves an existing admin alone and needs no password then', async () => {
    await t.db.users.create({ username: 'admin', passwordHash: 'an existing hash' });

    const result = await seed(t.db, options(true), logger);

    assert.deepEqual(result, { created: [], generatedPasswords: {} });
    assert.equal(await hashOf('admin'), 'an existing hash');
  });
});
