import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { translateUserWriteError } from '../src/db/prisma-errors.js';
import { UserRepository } from '../src/db/repositories/users.js';
import { EmailTakenError, UsernameTakenError, UserNotFoundError } from '../src/errors.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { isInvalid, noDatabase, unique } from './helpers/fixtures.js';

let t: TestDatabase;
before(async () => {
  t = await createTestDatabase();
});
after(async () => {
  await t.drop();
});

async function createUser(options: { email?: string; active?: boolean } = {}) {
  const user = await t.db.users.create({ username: unique('u'), passwordHash: 'h', email: options.email });
  return options.active === false ? t.db.users.update(user.id, { isActive: false }) : user;
}

async function createSession(userId: number, expiresInMs: number) {
  return t.db.sessions.createSession(userId, unique('jti-'), new Date(Date.now() + expiresInMs));
}

describe('UserRepository.create', () => {
  it('creates a user lowercased and never returns the hash', async () => {
    const user = await t.db.users.create({
      username: 'Alice',
      passwordHash: 'h1',
      email: 'Alice@Example.COM',
    });
    assert.equal(user.username, 'alice');
    assert.equal(user.email, 'alice@example.com');
    assert.equal(user.isActive, true);
    assert.equal('passwordHash' in user, false);
    const found = await t.db.users.findById(user.id);
    assert.deepEqual(found, user);
  });

  it('refuses a second account that differs only in case, also when two requests race', async () => {
    await t.db.users.create({ username: 'hal', passwordHash: 'h' });
    await assert.rejects(t.db.users.create({ username: 'HAL', passwordHash: 'h' }), UsernameTakenError);
    const results = await Promise.allSettled([
      t.db.users.create({ username: 'Bob', passwordHash: 'h' }),
      t.db.users.create({ username: 'bOB', passwordHash: 'h' }),
      t.db.users.create({ username: 'BOB', passwordHash: 'h' }),
    ]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    for (const r of results.filter((r) => r.status === 'rejected')) {
      assert.ok((r as PromiseRejectedResult).reason instanceof UsernameTakenError);
    }
  });

  it('refuses a taken email with EmailTakenError', async () => {
    await createUser({ email: 'ida@example.com' });
    await assert.rejects(
      t.db.users.create({ username: 'carol', passwordHash: 'h', email: 'IDA@example.com' }),
      EmailTakenError,
    );
    assert.equal(await t.db.users.findByUsername('carol'), null);
  });

  it('gives one email to exactly one of several racing requests that spell it differently', async () => {
    const email = `${unique('race')}@example.com`;
    const results = await Promise.allSettled(
      [email, email.toUpperCase(), `${email[0]?.toUpperCase()}${email.slice(1)}`].map((spelling) =>
        t.db.users.create({ username: unique('racer'), passwordHash: 'h', email: spelling }),
      ),
    );

    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    assert.equal(rejected.length, 2);
    for (const r of rejected) assert.ok(r.reason instanceof EmailTakenError, String(r.reason));
    const { rows } = await t.db.pool.query('SELECT count(*)::int AS n FROM users WHERE email = $1', [email]);
    assert.equal(rows[0].n, 1);
  });

  it('keeps the cause of a conflict for the logs', async () => {
    const { username } = await createUser();
    const error = await t.db.users.create({ username, passwordHash: 'h' }).catch((e: unknown) => e);
    assert.ok(error instanceof UsernameTakenError);
    assert.equal(error.statusCode, 409);
    assert.ok(error.cause instanceof Error);
  });

  it('stores no email when none is given, for any number of users', async () => {
    const first = await t.db.users.create({ username: unique('noemail'), passwordHash: 'h' });
    const second = await t.db.users.create({ username: unique('noemail'), passwordHash: 'h', email: null });
    assert.equal(first.email, null);
    assert.equal(second.email, null);
  });

  it('treats full-width letters and the Kelvin sign as the letters they look like', async () => {
    const kate = await t.db.users.create({ username: 'Ｋａｔｅ', passwordHash: 'h' });
    assert.equal(kate.username, 'kate');
    await assert.rejects(t.db.users.create({ username: '\u212Aate', passwordHash: 'h' }), UsernameTakenError);
  });

  it('treats a Greek final sigma as the same letter as σ', async () => {
    const user = await t.db.users.create({ username: 'ΟΔΟΣ', passwordHash: 'h' });
    assert.equal(user.username, 'οδοσ');
    await assert.rejects(t.db.users.create({ username: 'οδος', passwordHash: 'h' }), UsernameTakenError);
    assert.equal((await t.db.users.findByUsername('οδος'))?.id, user.id);
  });

  it('accepts 255 characters and refuses 256, counted after normalisation', async () => {
    const longest = await t.db.users.create({ username: 'l'.repeat(255), passwordHash: 'h' });
    assert.equal(longest.username.length, 255);
    const tooLong = { username: 'm'.repeat(256), passwordHash: 'h' };
    await assert.rejects(t.db.users.create(tooLong), isInvalid('username'));
    // 20 characters that NFKC turns into 360: refused by us, not by the database.
    const growing = { username: '\uFDFA'.repeat(20), passwordHash: 'h' };
    await assert.rejects(t.db.users.create(growing), isInvalid('username'));
  });

  it('refuses a username with "@" and an email without one', async () => {
    const atInName = { username: 'dan@example.com', passwordHash: 'h' };
    await assert.rejects(t.db.users.create(atInName), isInvalid('username'));
    const noAtInEmail = { username: unique('dan'), passwordHash: 'h', email: 'dan' };
    await assert.rejects(t.db.users.create(noAtInEmail), isInvalid('email'));
  });
});

describe('UserRepository lookups', () => {
  it('finds a user by id without its hash, and answers null for an id nobody has', async () => {
    const user = await createUser();
    const found = await t.db.users.findById(user.id);
    assert.deepEqual(found, user);
    assert.equal(found !== null && 'passwordHash' in found, false);
    assert.equal(await t.db.users.findById(2_147_483_647), null);
  });

  it('finds a user by username in any case', async () => {
    const user = await t.db.users.create({ username: 'Dora', passwordHash: 'h' });
    assert.deepEqual(await t.db.users.findByUsername('DORA'), user);
    assert.equal(await t.db.users.findByUsername('dora2'), null);
  });

  it('finds a user by email in any case', async () => {
    const user = await createUser({ email: 'Fay@Example.org' });
    assert.deepEqual(await t.db.users.findByEmail('FAY@example.ORG'), user);
    assert.equal(await t.db.users.findByEmail('nobody@example.org'), null);
  });

  it('gives the hash to findCredentials only, by username or by email', async () => {
    const user = await t.db.users.create({
      username: 'Erin',
      passwordHash: 'argon-erin',
      email: 'erin@ex.net',
    });
    const expected = { ...user, passwordHash: 'argon-erin' };

    assert.deepEqual(await t.db.users.findCredentials('ERIN'), expected);
    assert.deepEqual(await t.db.users.findCredentials('Erin@EX.net'), expected);
    assert.equal(await t.db.users.findCredentials('nobody'), null);
  });

  it('reads a login with "@" as an email only', async () => {
    const user = await t.db.users.create({ username: 'gus', passwordHash: 'h', email: 'gus@example.net' });
    assert.equal((await t.db.users.findCredentials('gus@example.net'))?.id, user.id);
    assert.equal(await t.db.users.findCredentials('gus@'), null);
    assert.equal(await t.db.users.findCredentials('gus@example.net.evil'), null);
  });

  it('still gives the credentials of a deactivated user, marked inactive', async () => {
    const user = await createUser({ active: false });
    assert.deepEqual(await t.db.users.findCredentials(user.username), { ...user, passwordHash: 'h' });
  });
});

describe('UserRepository.update', () => {
  it('changes only the fields given', async () => {
    const user = await createUser({ email: `${unique('upd')}@example.com` });
    const updated = await t.db.users.update(user.id, { isActive: false });
    assert.deepEqual({ ...updated, updatedAt: user.updatedAt }, { ...user, isActive: false });
    assert.equal((await t.db.users.findCredentials(user.username))?.passwordHash, 'h');
  });

  it('changes the password hash, which only findCredentials shows', async () => {
    const user = await createUser();
    const updated = await t.db.users.update(user.id, { passwordHash: 'rehashed' });
    assert.equal('passwordHash' in updated, false);
    assert.equal((await t.db.users.findCredentials(user.username))?.passwordHash, 'rehashed');
  });

  it('lowercases a new username and email, and clears the email with null', async () => {
    const user = await createUser();
    const name = unique('Renamed');
    const renamed = await t.db.users.update(user.id, { username: name, email: `${name}@EXAMPLE.com` });
    assert.equal(renamed.username, name.toLowerCase());
    assert.equal(renamed.email, `${name.toLowerCase()}@example.com`);

    const cleared = await t.db.users.update(user.id, { email: null });
    assert.equal(cleared.email, null);
    assert.equal(cleared.username, name.toLowerCase());
  });

  it('raises UserNotFoundError when updating a missing user', async () => {
    const error = await t.db.users.update(999_999, { isActive: false }).catch((e: unknown) => e);
    assert.ok(error instanceof UserNotFoundError);
    assert.deepEqual(error.details, { id: 999_999 });
  });

  it("refuses another user's name or email, in any case, and changes nothing", async () => {
    const owner = await createUser({ email: `${unique('own')}@example.com` });
    const other = await createUser();

    const { username, email } = owner;
    await assert.rejects(
      t.db.users.update(other.id, { username: username.toUpperCase() }),
      UsernameTakenError,
    );
    await assert.rejects(t.db.users.update(other.id, { email: email?.toUpperCase() }), EmailTakenError);
    assert.deepEqual(await t.db.users.findById(other.id), other);
  });

  it('lets a user keep its own name in another case', async () => {
    const user = await createUser();
    const updated = await t.db.users.update(user.id, { username: user.username.toUpperCase() });
    assert.equal(updated.username, user.username);
  });

  it('gives a new name to exactly one of two racing renames', async () => {
    const [first, second] = [await createUser(), await createUser()];
    const name = unique('wanted');
    const results = await Promise.allSettled([
      t.db.users.update(first.id, { username: name }),
      t.db.users.update(second.id, { username: name.toUpperCase() }),
    ]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    assert.ok(rejected?.reason instanceof UsernameTakenError);
  });

  it('moves updated_at and leaves created_at alone', async () => {
    const { rows } = await t.db.pool.query(
      `INSERT INTO users (username, password_hash, created_at, updated_at)
       VALUES ($1, 'h', '2000-01-01T00:00:00Z', '2000-01-01T00:00:00Z')
       RETURNING id`,
      [unique('old')],
    );
    const updated = await t.db.users.update(rows[0].id, { isActive: false });
    assert.equal(updated.createdAt.toISOString(), '2000-01-01T00:00:00.000Z');
    assert.ok(Math.abs(updated.updatedAt.getTime() - Date.now()) < 60_000, updated.updatedAt.toISOString());
  });
});

describe('UserRepository.changePassword', () => {
  it('replaces the hash and ends every session but the one kept, returning how many ended', async () => {
    const user = await createUser();
    const kept = await createSession(user.id, 3600_000);
    await createSession(user.id, 3600_000);
    await createSession(user.id, -1000);
    const other = await createUser();
    const othersSession = await createSession(other.id, 3600_000);

    const ended = await t.db.users.changePassword(user.id, {
      from: 'h',
      to: 'new hash',
      keepSessionId: kept.id,
    });

    assert.equal(ended, 2);
    assert.equal((await t.db.users.findCredentials(user.username))?.passwordHash, 'new hash');
    const left = await t.db.pool.query('SELECT id FROM user_sessions WHERE user_id = ANY($1) ORDER BY id', [
      [user.id, other.id],
    ]);
    assert.deepEqual(
      left.rows.map((row) => row.id),
      [kept.id, othersSession.id],
    );
  });

  it('ends every session when none is kept', async () => {
    const user = await createUser();
    await createSession(user.id, 3600_000);

    assert.equal(await t.db.users.changePassword(user.id, { from: 'h', to: 'another hash' }), 1);
    assert.equal((await t.db.sessions.findActiveUserSessions(user.id)).length, 0);
  });

  it('changes nothing and answers null when the hash is no longer the one it replaces', async () => {
    const user = await createUser();
    await createSession(user.id, 3600_000);

    assert.equal(await t.db.users.changePassword(user.id, { from: 'stale hash', to: 'x' }), null);
    assert.equal((await t.db.users.findCredentials(user.username))?.passwordHash, 'h');
    assert.equal((await t.db.sessions.findActiveUserSessions(user.id)).length, 1);
  });

  it('lets exactly one of two racing changes from the same hash win', async () => {
    const user = await createUser();

    const results = await Promise.all([
      t.db.users.changePassword(user.id, { from: 'h', to: 'first' }),
      t.db.users.changePassword(user.id, { from: 'h', to: 'second' }),
    ]);

    assert.deepEqual(
      results.map((result) => result === null),
      results[0] === null ? [true, false] : [false, true],
    );
    const winner = results[0] === null ? 'second' : 'first';
    assert.equal((await t.db.users.findCredentials(user.username))?.passwordHash, winner);
  });

  it("answers null for a missing user and ends no one else's sessions", async () => {
    const bystander = await createUser();
    await createSession(bystander.id, 3600_000);

    assert.equal(await t.db.users.changePassword(1_999_999_999, { from: 'h', to: 'x' }), null);
    assert.equal((await t.db.sessions.findActiveUserSessions(bystander.id)).length, 1);
  });
});

describe('UserRepository.delete', () => {
  it('deletes the user and its sessions, and keeps its audit rows without a user', async () => {
    const user = await createUser();
    const session = await createSession(user.id, 3_600_000);
    const audit = await t.db.auditLogs.createAuditLog({ action: 'user.test', userId: user.id });

    assert.deepEqual(await t.db.users.delete(user.id), user);

    assert.equal(await t.db.users.findById(user.id), null);
    assert.equal(await t.db.sessions.findSessionByJti(session.tokenJti), null);
    const kept = await t.db.prisma.auditLog.findUnique({ where: { id: audit.id } });
    assert.deepEqual(kept, { ...audit, userId: null });
  });

  it('raises UserNotFoundError for a user that is already gone', async () => {
    const user = await createUser();
    await t.db.users.delete(user.id);
    await assert.rejects(t.db.users.delete(user.id), UserNotFoundError);
  });
});

describe('UserRepository.findActiveUsers', () => {
  it('lists only active users, newest first, with limit and offset', async () => {
    const a = await createUser();
    await createUser({ active: false });
    const c = await createUser();
    const d = await createUser();

    const names = (users: { username: string }[]) => users.map((u) => u.username);
    assert.deepEqual(
      names(await t.db.users.findActiveUsers(3)),
      [d, c, a].map((u) => u.username),
    );
    assert.deepEqual(
      names(await t.db.users.findActiveUsers(2, 1)),
      [c, a].map((u) => u.username),
    );
  });

  it('lists 50 by default, never with a hash, none inactive', async () => {
    await t.db.pool.query(
      `INSERT INTO users (username, password_hash, is_active)
       SELECT $1 || g, 'h', g % 2 = 0 FROM generate_series(1, 110) AS g`,
      [unique('bulk')],
    );
    const users = await t.db.users.findActiveUsers();
    assert.equal(users.length, 50);
    for (const user of users) {
      assert.equal(user.isActive, true);
      assert.equal('passwordHash' in user, false);
    }
  });
});

describe('UserRepository.findUserWithActiveSessions', () => {
  it('returns the user with only its unexpired sessions, newest first', async () => {
    const user = await createUser();
    const first = await createSession(user.id, 3_600_000);
    await createSession(user.id, -1000);
    const third = await createSession(user.id, 7_200_000);
    await createSession((await createUser()).id, 3_600_000);

    const found = await t.db.users.findUserWithActiveSessions(user.id);
    assert.ok(found);
    assert.equal('passwordHash' in found, false);
    assert.deepEqual(found.sessions, [third, first]);
  });

  it('returns a user without live sessions with an empty list, and null for no user', async () => {
    const user = await createUser();
    await createSession(user.id, -60_000);
    assert.deepEqual(await t.db.users.findUserWithActiveSessions(user.id), { ...user, sessions: [] });
    assert.equal(await t.db.users.findUserWithActiveSessions(2_000_000_000), null);
  });
});

describe('UserRepository.findUsersWithPagination', () => {
  it('pages through matching users newest first, with the total', async () => {
    const tag = unique('page');
    const created = [];
    for (let i = 0; i < 5; i += 1) {
      created.push(await t.db.users.create({ username: `${tag}-${i}`, passwordHash: 'h' }));
    }
    const newestFirst = created.map((u) => u.username).reverse();

    const pages = [];
    for (const page of [1, 2, 3, 4]) pages.push(await t.db.users.findUsersWithPagination(page, 2, tag));
    assert.deepEqual(
      pages.map((p) => p.users.map((u) => u.username)),
      [newestFirst.slice(0, 2), newestFirst.slice(2, 4), newestFirst.slice(4), []],
    );
    assert.deepEqual(
      pages.map((p) => p.total),
      [5, 5, 5, 5],
    );
  });

  it('searches username or email, in any case', async () => {
    const tag = unique('srch');
    const byName = await t.db.users.create({ username: `${tag}-name`, passwordHash: 'h' });
    const byMail = await createUser({ email: `${tag}@mail.example` });

    const result = await t.db.users.findUsersWithPagination(1, 20, tag.toUpperCase());
    assert.deepEqual(
      result.users.map((u) => u.id),
      [byMail.id, byName.id],
    );
    assert.equal(result.total, 2);
    assert.equal(
      result.users.some((u) => 'passwordHash' in u),
      false,
    );
  });

  it('matches % and _ literally in search', async () => {
    await t.db.users.create({ username: 'a_b', passwordHash: 'h' });
    await t.db.users.create({ username: 'axb', passwordHash: 'h' });
    await t.db.users.create({ username: 'per%cent', passwordHash: 'h' });
    const underscore = await t.db.users.findUsersWithPagination(1, 20, 'A_B');
    assert.deepEqual(
      underscore.users.map((u) => u.username),
      ['a_b'],
    );
    assert.equal(underscore.total, 1);
    const percent = await t.db.users.findUsersWithPagination(1, 20, '%');
    assert.deepEqual(
      percent.users.map((u) => u.username),
      ['per%cent'],
    );
  });

  it('matches a backslash literally in search', async () => {
    await t.db.users.create({ username: 'back\\slash', passwordHash: 'h' });
    const result = await t.db.users.findUsersWithPagination(1, 20, '\\');
    assert.deepEqual(
      result.users.map((u) => u.username),
      ['back\\slash'],
    );
  });

  it('lists everyone, 20 to a page, when there is no search or an empty one', async () => {
    const { rows } = await t.db.pool.query('SELECT count(*)::int AS n FROM users');
    const all = await t.db.users.findUsersWithPagination();
    assert.equal(all.total, rows[0].n);
    assert.equal(all.users.length, Math.min(20, rows[0].n));
    assert.deepEqual(await t.db.users.findUsersWithPagination(1, 20, ''), all);
  });
});

describe('UserRepository input checks', () => {
  const users = new UserRepository(noDatabase);
  const cases: [string, string, () => Promise<unknown>][] = [
    ['a NUL in a username', 'username', () => users.create({ username: 'ev\u0000il', passwordHash: 'h' })],
    ['an empty username', 'username', () => users.create({ username: '', passwordHash: 'h' })],
    [
      'a NUL in an email',
      'email',
      () => users.create({ username: 'x', passwordHash: 'h', email: '\u0000@b.c' }),
    ],
    ['a hash over 255', 'passwordHash', () => users.create({ username: 'x', passwordHash: 'h'.repeat(256) })],
    ['a NUL in a lookup', 'username', () => users.findByUsername('a\u0000')],
    ['a NUL in a login', 'login', () => users.findCredentials('a\u0000')],
    [
      'a new hash over 255',
      'passwordHash',
      () => users.changePassword(1, { from: 'h', to: 'h'.repeat(256) }),
    ],
    [
      'a kept session id of 0',
      'keepSessionId',
      () => users.changePassword(1, { from: 'h', to: 'h', keepSessionId: 0 }),
    ],
    ['an id of 0', 'id', () => users.findById(0)],
    ['a negative id', 'id', () => users.delete(-1)],
    ['a fractional id', 'id', () => users.update(1.5, { isActive: true })],
    ['an id past PostgreSQL integer', 'id', () => users.findById(2_147_483_648)],
    ['a NUL in a new username', 'username', () => users.update(1, { username: 'a\u0000' })],
    ['a limit of 0', 'limit', () => users.findActiveUsers(0)],
    ['a limit over 1000', 'limit', () => users.findActiveUsers(1001)],
    ['a negative offset', 'offset', () => users.findActiveUsers(10, -1)],
    ['a page of 0', 'page', () => users.findUsersWithPagination(0)],
    ['a negative page size', 'limit', () => users.findUsersWithPagination(1, -5)],
    ['a NUL in a search', 'search', () => users.findUsersWithPagination(1, 20, '\u0000')],
  ];
  for (const [what, field, call] of cases) {
    it(`refuses ${what} with InvalidInputError before the database`, async () => {
      await assert.rejects(call(), isInvalid(field));
    });
  }
});

describe('database guarantees on users', () => {
  it('refuses an uppercase username written with raw SQL (SQLSTATE 23514)', async () => {
    await assert.rejects(
      t.db.pool.query(`INSERT INTO users(username,password_hash) VALUES ('Admin','x')`),
      (error: { code?: string; constraint?: string }) => {
        assert.equal(error.code, '23514');
        assert.equal(error.constraint, 'users_username_lowercase');
        return true;
      },
    );
    await assert.rejects(
      t.db.pool.query(`INSERT INTO users(username,password_hash,email) VALUES ('admin2','x','A@b.c')`),
      { code: '23514', constraint: 'users_email_lowercase' },
    );
  });

  it('moves updated_at on a raw SQL update, even one that sets it', async () => {
    const name = unique('trigger');
    await t.db.pool.query(
      `INSERT INTO users (username, password_hash, updated_at) VALUES ($1, 'h', '2000-01-01T00:00:00Z')`,
      [name],
    );
    const { rows } = await t.db.pool.query(
      `UPDATE users SET is_active = false, updated_at = '2001-01-01T00:00:00Z' WHERE username = $1
       RETURNING updated_at, now() AS now`,
      [name],
    );
    assert.equal(rows[0].updated_at.getTime(), rows[0].now.getTime());
  });

  it('turns a CHECK refusal that reaches Prisma into InvalidInputError, without the row', async () => {
    const error = await t.db.prisma.user
      .create({ data: { username: 'Mallory', passwordHash: 'secret-hash' } })
      .catch((e: unknown) => e);
    assert.throws(
      () => translateUserWriteError(error),
      (translated: unknown) => {
        assert.ok(isInvalid('username')(translated));
        const shown = JSON.stringify({ ...(translated as object), message: String(translated) });
        assert.doesNotMatch(shown, /secret-hash/);
        return true;
      },
    );
  });

  it('rethrows a failure it does not know, unchanged', () => {
    const unknown = new Error('disk on fire');
    assert.throws(
      () => translateUserWriteError(unknown),
      (thrown: unknown) => thrown === unknown,
    );
  });
});
