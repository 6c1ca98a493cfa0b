import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import {
  PrismaSessionCheck,
  type SessionCheck,
  SessionRepository,
  SqlSessionCheck,
} from '../src/db/repositories/sessions.js';
import { UserNotFoundError } from '../src/errors.js';
import { createTestDatabase, onPostgres, type TestDatabase } from './helpers/database.js';
import { isInvalid, noDatabase, unique } from './helpers/fixtures.js';

let t: TestDatabase;
before(async () => {
  t = await createTestDatabase();
});
after(async () => {
  await t.drop();
});

const HOUR = 3_600_000;

async function createUser() {
  return t.db.users.create({ username: unique('u'), passwordHash: 'secret-hash' });
}

/** A session of userId that expires expiresInMs from now (negative: already expired). */
async function createSession(userId: number, expiresInMs: number) {
  return t.db.sessions.createSession(userId, unique('jti-'), new Date(Date.now() + expiresInMs));
}

describe('SessionRepository.createSession', () => {
  it('stores a session with its address and user agent, and returns it', async () => {
    const user = await createUser();
    const expiresAt = new Date(Date.now() + HOUR);
    const jti = unique('jti-');

    const session = await t.db.sessions.createSession(user.id, jti, expiresAt, '203.0.113.9', 'curl/8.5');

    assert.equal(typeof session.id, 'number');
    assert.deepEqual(
      { ...session, id: 0, createdAt: null },
      {
        id: 0,
        userId: user.id,
        tokenJti: jti,
        expiresAt,
        ipAddress: '203.0.113.9',
        userAgent: 'curl/8.5',
        createdAt: null,
      },
    );
    assert.ok(Math.abs(session.createdAt.getTime() - Date.now()) < 60_000);
  });

  it('stores no address or user agent when none is given', async () => {
    const session = await createSession((await createUser()).id, HOUR);
    assert.equal(session.ipAddress, null);
    assert.equal(session.userAgent, null);
  });

  it('keeps a user agent with NUL in it, the NUL replaced by U+FFFD', async () => {
    const user = await createUser();
    const later = new Date(Date.now() + HOUR);
    const session = await t.db.sessions.createSession(user.id, unique('j'), later, null, 'a\u0000b');
    assert.equal(session.userAgent, 'a\uFFFDb');
  });

  it('raises UserNotFoundError for an unknown user and stores nothing', async () => {
    const jti = unique('orphan-');
    const error = await t.db.sessions
      .createSession(1_999_999_999, jti, new Date(Date.now() + HOUR))
      .catch((e: unknown) => e);
    assert.ok(error instanceof UserNotFoundError, String(error));
    assert.deepEqual(error.details, { id: 1_999_999_999 });
    assert.equal(await t.db.sessions.findSessionByJti(jti), null);
  });

  it('refuses a jti that already names a session and leaves that session alone', async () => {
    const [owner, intruder] = [await createUser(), await createUser()];
    const original = await createSession(owner.id, HOUR);

    await assert.rejects(
      t.db.sessions.createSession(intruder.id, original.tokenJti, new Date(Date.now() + 2 * HOUR)),
      isInvalid('tokenJti'),
    );
    const kept = await t.db.sessions.findSessionByJti(original.tokenJti);
    assert.equal(kept?.userId, owner.id);
    assert.deepEqual(kept?.expiresAt, original.expiresAt);
  });
});

describe('SessionRepository.createLoginSession', () => {
  const login = (userId: number, passwordHash = 'secret-hash') => ({
    userId,
    passwordHash,
    tokenJti: unique('jti-'),
    expiresAt: new Date(Date.now() + HOUR),
    ipAddress: '2001:db8::7',
    userAgent: 'curl/8.5',
  });

  it('stores the session of an active user whose hash is still the one verified', async () => {
    const user = await createUser();
    const input = login(user.id);

    const session = await t.db.sessions.createLoginSession(input);

    assert.ok(session);
    assert.deepEqual(
      { ...session, id: 0, createdAt: null },
      {
        id: 0,
        userId: user.id,
        tokenJti: input.tokenJti,
        expiresAt: input.expiresAt,
        ipAddress: '2001:db8::7',
        userAgent: 'curl/8.5',
        createdAt: null,
      },
    );
    assert.deepEqual(
      await t.db.sessions.findSessionByJti(input.tokenJti).then((found) => found?.id),
      session.id,
    );
  });

  it('stores nothing and answers null once the hash has changed, the user is inactive or gone', async () => {
    const changed = await createUser();
    await t.db.users.update(changed.id, { passwordHash: 'another hash' });
    const inactive = await createUser();
    await t.db.users.update(inactive.id, { isActive: false });

    assert.equal(await t.db.sessions.createLoginSession(login(changed.id)), null);
    assert.equal(await t.db.sessions.createLoginSession(login(inactive.id)), null);
    assert.equal(await t.db.sessions.createLoginSession(login(1_999_999_999)), null);
    const { rows } = await t.db.pool.query(
      'SELECT count(*)::int AS n FROM user_sessions WHERE user_id = ANY($1)',
      [[changed.id, inactive.id]],
    );
    assert.equal(rows[0].n, 0);
  });

  // PGlite serves every connection from one backend, so a second connection cannot wait on a lock.
  it('waits for a password change in flight and then stores nothing', { skip: !onPostgres }, async () => {
    const user = await createUser();
    const changer = await t.db.pool.connect();
    try {
      await changer.query('BEGIN');
      await changer.query(`UPDATE users SET password_hash = 'changed' WHERE id = $1`, [user.id]);
      let settled = false;
      const pending = t.db.sessions.createLoginSession(login(user.id)).finally(() => {
        settled = true;
      });
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(settled, false, 'the login waits for the change to commit');
      await changer.query(`DELETE FROM user_sessions WHERE user_id = $1`, [user.id]);
      await changer.query('COMMIT');

      assert.equal(await pending, null);
      assert.equal((await t.db.sessions.findActiveUserSessions(user.id)).length, 0);
    } finally {
      changer.release();
    }
  });
});

describe('SessionRepository.findSessionByJti', () => {
  it('returns the session with its user, without the hash, expired or not', async () => {
    const user = await createUser();
    for (const expiresIn of [HOUR, -HOUR]) {
      const session = await createSession(user.id, expiresIn);
      const found = await t.db.sessions.findSessionByJti(session.tokenJti);
      assert.deepEqual(found, { ...session, user });
      assert.equal('passwordHash' in (found?.user ?? {}), false);
    }
  });

  it('answers null for a jti no session has', async () => {
    assert.equal(await t.db.sessions.findSessionByJti(unique('none-')), null);
  });
});

describe('SessionRepository.deleteSession', () => {
  it('deletes a session once, then answers false without error', async () => {
    const session = await createSession((await createUser()).id, HOUR);
    assert.equal(await t.db.sessions.deleteSession(session.tokenJti), true);
    assert.equal(await t.db.sessions.findSessionByJti(session.tokenJti), null);
    assert.equal(await t.db.sessions.deleteSession(session.tokenJti), false);
  });
});

describe('SessionRepository.deleteExpiredSessions', () => {
  it('deletes only expired sessions and counts them', async () => {
    await t.db.sessions.deleteExpiredSessions();
    const user = await createUser();
    const expired = [await createSession(user.id, -1000), await createSession(user.id, -24 * HOUR)];
    const live = await createSession(user.id, HOUR);

    assert.equal(await t.db.sessions.deleteExpiredSessions(), 2);

    for (const session of expired) assert.equal(await t.db.sessions.findSessionByJti(session.tokenJti), null);
    assert.equal((await t.db.sessions.findSessionByJti(live.tokenJti))?.id, live.id);
    assert.equal(await t.db.sessions.deleteExpiredSessions(), 0);
  });
});

describe('SessionRepository.deleteUserSessions', () => {
  it("deletes every session of one user, expired or not, and no one else's", async () => {
    const [user, other] = [await createUser(), await createUser()];
    await createSession(user.id, HOUR);
    await createSession(user.id, -HOUR);
    const kept = await createSession(other.id, HOUR);

    assert.equal(await t.db.sessions.deleteUserSessions(user.id), 2);

    assert.deepEqual(await t.db.sessions.findActiveUserSessions(user.id), []);
    assert.equal((await t.db.sessions.findSessionByJti(kept.tokenJti))?.id, kept.id);
    assert.equal(await t.db.sessions.deleteUserSessions(user.id), 0);
  });
});

describe('SessionRepository.deleteOldestUserSessions', () => {
  /** The ids of the user's sessions, expired or not, newest first. */
  async function sessionIds(userId: number): Promise<number[]> {
    const { rows } = await t.db.pool.query<{ id: number }>(
      'SELECT id FROM user_sessions WHERE user_id = $1 ORDER BY created_at DESC, id DESC',
      [userId],
    );
    return rows.map((row) => row.id);
  }

  it("keeps the user's newest sessions, expired ones counted, and deletes the rest of theirs only", async () => {
    const [user, other] = [await createUser(), await createUser()];
    const expired = await createSession(user.id, -HOUR);
    const older = await createSession(user.id, HOUR);
    const newer = await createSession(user.id, HOUR);
    const newest = await createSession(user.id, HOUR);
    const others = await createSession(other.id, HOUR);

    assert.equal(await t.db.sessions.deleteOldestUserSessions(user.id, 2), 2);

    assert.deepEqual(await sessionIds(user.id), [newest.id, newer.id]);
    assert.equal(await t.db.sessions.findSessionByJti(expired.tokenJti), null);
    assert.equal(await t.db.sessions.findSessionByJti(older.tokenJti), null);
    assert.deepEqual(await sessionIds(other.id), [others.id]);
    assert.equal(await t.db.sessions.deleteOldestUserSessions(user.id, 2), 0, 'nothing more to delete');
  });

  it('ranks by creation time first and by id among sessions created at the same instant', async () => {
    const user = await createUser();
    const first = await createSession(user.id, HOUR);
    const second = await createSession(user.id, HOUR);
    const third = await createSession(user.id, HOUR);
    const setCreatedAt = (at: string, where: string, id: number) =>
      t.db.pool.query(`UPDATE user_sessions SET created_at = $1 WHERE ${where} = $2`, [at, id]);
    await setCreatedAt('2026-01-01T00:00:00Z', 'user_id', user.id);
    await setCreatedAt('2026-01-01T00:01:00Z', 'id', first.id);

    assert.equal(await t.db.sessions.deleteOldestUserSessions(user.id, 2), 1);

    assert.deepEqual(await sessionIds(user.id), [first.id, third.id]);
    assert.equal(await t.db.sessions.findSessionByJti(second.tokenJti), null);
  });

  it('deletes nothing from a user with no more sessions than it keeps, nor for an unknown user', async () => {
    const user = await createUser();
    const older = await createSession(user.id, HOUR);
    const newer = await createSession(user.id, HOUR);

    assert.equal(await t.db.sessions.deleteOldestUserSessions(user.id, 2), 0);
    assert.equal(await t.db.sessions.deleteOldestUserSessions(user.id, 10_000), 0);
    assert.equal(await t.db.sessions.deleteOldestUserSessions(2_147_483_647, 1), 0);
    assert.deepEqual(await sessionIds(user.id), [newer.id, older.id]);
  });
});

describe('SessionRepository.findActiveUserSessions', () => {
  it('lists the unexpired sessions of the user, newest first', async () => {
    const [user, other] = [await createUser(), await createUser()];
    const first = await createSession(user.id, HOUR);
    await createSession(user.id, -1000);
    const third = await createSession(user.id, 2 * HOUR);
    await createSession(other.id, HOUR);

    assert.deepEqual(await t.db.sessions.findActiveUserSessions(user.id), [third, first]);
  });

  it('answers an empty list for a user without sessions', async () => {
    assert.deepEqual(await t.db.sessions.findActiveUserSessions((await createUser()).id), []);
  });
});

describe('SessionRepository.deleteUserSession', () => {
  it("deletes the caller's own session", async () => {
    const user = await createUser();
    const session = await createSession(user.id, HOUR);
    assert.equal(await t.db.sessions.deleteUserSession(user.id, session.id), true);
    assert.equal(await t.db.sessions.findSessionByJti(session.tokenJti), null);
  });

  it("refuses to delete another user's session, which stays", async () => {
    const [owner, caller] = [await createUser(), await createUser()];
    const session = await createSession(owner.id, HOUR);
    assert.equal(await t.db.sessions.deleteUserSession(caller.id, session.id), false);
    assert.equal((await t.db.sessions.findSessionByJti(session.tokenJti))?.userId, owner.id);
  });

  it('answers false for a session that does not exist', async () => {
    const user = await createUser();
    assert.equal(await t.db.sessions.deleteUserSession(user.id, 2_147_483_647), false);
  });
});

describe('SessionRepository input checks', () => {
  const sessions = new SessionRepository(noDatabase, noDatabase);
  const later = new Date(Date.now() + HOUR);
  const cases: [string, string, () => Promise<unknown>][] = [
    ['an address that is not an IP', 'ipAddress', () => sessions.createSession(1, 'j', later, 'localhost')],
    ['an IPv4 address out of range', 'ipAddress', () => sessions.createSession(1, 'j', later, '256.1.1.1')],
    ['an address with a mask', 'ipAddress', () => sessions.createSession(1, 'j', later, '10.0.0.0/8')],
    ['an IPv6 address with a zone', 'ipAddress', () => sessions.createSession(1, 'j', later, 'fe80::1%eth0')],
    ['an empty jti', 'tokenJti', () => sessions.createSession(1, '', later)],
    ['a jti over 255 characters', 'tokenJti', () => sessions.createSession(1, 'j'.repeat(256), later)],
    ['a jti with NUL', 'tokenJti', () => sessions.createSession(1, 'j\u0000', later)],
    ['an invalid expiry', 'expiresAt', () => sessions.createSession(1, 'j', new Date(Number.NaN))],
    ['an expiry after 9999', 'expiresAt', () => sessions.createSession(1, 'j', new Date('+010000-01-01'))],
    ['a user id of 0', 'userId', () => sessions.createSession(0, 'j', later)],
    ['a user id past PostgreSQL integer', 'userId', () => sessions.deleteUserSessions(2 ** 31)],
    ['a session id past PostgreSQL integer', 'sessionId', () => sessions.deleteUserSession(1, 2 ** 31)],
    ['a fractional user id', 'userId', () => sessions.findActiveUserSessions(1.5)],
    ['a NUL in a looked-up jti', 'tokenJti', () => sessions.findSessionByJti('\u0000')],
    ['an over-long jti to delete', 'tokenJti', () => sessions.deleteSession('j'.repeat(256))],
    ['keeping no session', 'keep', () => sessions.deleteOldestUserSessions(1, 0)],
    ['keeping more than 10,000 sessions', 'keep', () => sessions.deleteOldestUserSessions(1, 10_001)],
    ['a fractional number of sessions to keep', 'keep', () => sessions.deleteOldestUserSessions(1, 1.5)],
    ['a user id of 0 to prune', 'userId', () => sessions.deleteOldestUserSessions(0, 5)],
    [
      'a login session without a hash',
      'passwordHash',
      () => sessions.createLoginSession({ userId: 1, passwordHash: '', tokenJti: 'j', expiresAt: later }),
    ],
    [
      'a login session from a bad address',
      'ipAddress',
      () =>
        sessions.createLoginSession({
          userId: 1,
          passwordHash: 'h',
          tokenJti: 'j',
          expiresAt: later,
          ipAddress: 'localhost',
        }),
    ],
  ];
  for (const [what, field, call] of cases) {
    it(`refuses ${what} with InvalidInputError before the database`, async () => {
      await assert.rejects(call(), isInvalid(field));
    });
  }
});

describe('session checks', () => {
  const checks: [string, () => SessionCheck][] = [
    ['SqlSessionCheck', () => new SqlSessionCheck(t.db.pool, { preparedStatements: onPostgres })],
    ['PrismaSessionCheck', () => new PrismaSessionCheck(t.db.prisma)],
  ];

  it('uses the SQL check on the hot path', () => {
    assert.ok(t.db.sessions.check instanceof SqlSessionCheck);
  });

  for (const [name, make] of checks) {
    describe(name, () => {
      it('finds a live session of an active user', async () => {
        const user = await createUser();
        const session = await createSession(user.id, HOUR);
        assert.deepEqual(await make().findActiveSession(session.tokenJti), {
          sessionId: session.id,
          userId: user.id,
          username: user.username,
          expiresAt: session.expiresAt,
          user,
        });
      });

      it('finds a session a minute from expiry, and none expired a second ago', async () => {
        const user = await createUser();
        const soon = await createSession(user.id, 60_000);
        const gone = await createSession(user.id, -1000);
        assert.equal((await make().findActiveSession(soon.tokenJti))?.sessionId, soon.id);
        assert.equal(await make().findActiveSession(gone.tokenJti), null);
      });

      it('finds nothing while the user is inactive, and finds it again once reactivated', async () => {
        const user = await createUser();
        const session = await createSession(user.id, HOUR);
        await t.db.users.update(user.id, { isActive: false });
        assert.equal(await make().findActiveSession(session.tokenJti), null);
        await t.db.users.update(user.id, { isActive: true });
        assert.equal((await make().findActiveSession(session.tokenJti))?.sessionId, session.id);
      });

      it('finds nothing for an unknown jti, a deleted session or a deleted user', async () => {
        const user = await createUser();
        const revoked = await createSession(user.id, HOUR);
        const orphaned = await createSession(user.id, HOUR);
        await t.db.sessions.deleteSession(revoked.tokenJti);
        assert.equal(await make().findActiveSession(unique('unknown-')), null);
        assert.equal(await make().findActiveSession(revoked.tokenJti), null);

        await t.db.users.delete(user.id);
        assert.equal(await make().findActiveSession(orphaned.tokenJti), null);
      });

      it('answers null, without a query, for a jti no session can have', async () => {
        const offline =
          name === 'SqlSessionCheck' ? new SqlSessionCheck(noDatabase) : new PrismaSessionCheck(noDatabase);
        for (const jti of ['', 'j'.repeat(256), 'j\u0000ti']) {
          assert.equal(await offline.findActiveSession(jti), null);
        }
      });

      it('answers many concurrent checks on many connections', async () => {
        const user = await createUser();
        const session = await createSession(user.id, HOUR);
        const check = make();
        const twelve = Array.from({ length: 12 }, () => session.tokenJti);
        const answers = await Promise.all(twelve.map((jti) => check.findActiveSession(jti)));
        assert.deepEqual(
          answers.map((answer) => answer?.sessionId),
          twelve.map(() => session.id),
        );
      });
    });
  }

  it('gives the same answer from both checks in every case', async () => {
    const [active, inactive] = [await createUser(), await createUser()];
    const jtis = [
      (await createSession(active.id, HOUR)).tokenJti,
      (await createSession(active.id, -HOUR)).tokenJti,
      (await createSession(inactive.id, HOUR)).tokenJti,
      unique('unknown-'),
    ];
    await t.db.users.update(inactive.id, { isActive: false });

    const sql = new SqlSessionCheck(t.db.pool, { preparedStatements: onPostgres });
    const prisma = new PrismaSessionCheck(t.db.prisma);
    const fromSql = await Promise.all(jtis.map((jti) => sql.findActiveSession(jti)));
    const fromPrisma = await Promise.all(jtis.map((jti) => prisma.findActiveSession(jti)));
    assert.deepEqual(fromSql, fromPrisma);
    assert.deepEqual(
      fromSql.map((answer) => answer !== null),
      [true, false, false, false],
    );
  });
});
