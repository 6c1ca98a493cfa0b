import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { SignJWT } from 'jose';

import { TokenService } from '../src/http/tokens.js';
import { errorCode, JWT_SECRET, PASSWORD, startApp, type TestApp } from './helpers/app.js';

let t: TestApp;
let admin: string;
before(async () => {
  t = await startApp();
  admin = (await t.signUp('admin')).token;
});
after(async () => {
  await t.close();
});

const me = (token: string) => t.request('GET', '/auth/me', { token });

/** A session row for a token this test forged, so only the token itself can be what is refused. */
async function storeSession(userId: number, jti: string): Promise<void> {
  await t.database.db.pool.query(
    `INSERT INTO user_sessions (user_id, token_jti, expires_at) VALUES ($1, $2, now() + interval '1 hour')`,
    [userId, jti],
  );
}

function base64url(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

describe('GET /auth/sessions', () => {
  it("lists the caller's sessions newest first and marks the current one", async () => {
    await t.register('ann');
    const laptop = await t.login('ann', undefined, { 'user-agent': 'laptop/1.0' });
    const phone = await t.login('ann', undefined, { 'user-agent': 'phone/2.0' });
    await t.signUp('someone-else');

    const response = await t.request('GET', '/auth/sessions', { token: laptop.token });

    assert.equal(response.status, 200);
    const sessions = response.body.sessions;
    assert.deepEqual(
      sessions.map((s: any) => [s.userAgent, s.current, s.ipAddress]),
      [
        ['phone/2.0', false, '127.0.0.1'],
        ['laptop/1.0', true, '127.0.0.1'],
      ],
    );
    assert.deepEqual(Object.keys(sessions[0]).sort(), [
      'createdAt',
      'current',
      'expiresAt',
      'id',
      'ipAddress',
      'userAgent',
    ]);
    assert.ok(Date.parse(sessions[0].expiresAt) > Date.now());
    const fromPhone = await t.request('GET', '/auth/sessions', { token: phone.token });
    assert.deepEqual(
      fromPhone.body.sessions.map((s: any) => s.current),
      [true, false],
    );
  });
});

describe('DELETE /auth/sessions/:id', () => {
  it('revokes one of my sessions: its token is refused on the very next request', async () => {
    const kept = await t.signUp('ben');
    const doomed = await t.login('ben');
    const listed = await t.request('GET', '/auth/sessions', { token: kept.token });
    const doomedId = listed.body.sessions.find((s: any) => !s.current).id;

    const revoke = await t.request('DELETE', `/auth/sessions/${doomedId}`, { token: kept.token });
    const after = await me(doomed.token);

    assert.equal(revoke.status, 204);
    assert.equal(after.status, 401);
    assert.equal(errorCode(after), 'UNAUTHORIZED');
    assert.equal((await me(kept.token)).status, 200);
    const remaining = await t.request('GET', '/auth/sessions', { token: kept.token });
    assert.equal(remaining.body.sessions.length, 1);
  });

  it("answers 404 SESSION_NOT_FOUND for another user's session and leaves it alive", async () => {
    const owner = await t.signUp('cat');
    const intruder = await t.signUp('dan');
    const ownerSession = (await t.request('GET', '/auth/sessions', { token: owner.token })).body.sessions[0];

    const response = await t.request('DELETE', `/auth/sessions/${ownerSession.id}`, {
      token: intruder.token,
    });

    assert.equal(response.status, 404);
    assert.deepEqual(response.body, { error: { code: 'SESSION_NOT_FOUND', message: 'No such session.' } });
    assert.equal((await me(owner.token)).status, 200);
  });

  it('answers the same 404 for a session that never existed, and 400 for an id that is not a number', async () => {
    const { token } = await t.signUp('eve');

    const missing = await t.request('DELETE', '/auth/sessions/2147483647', { token });
    const notANumber = await t.request('DELETE', '/auth/sessions/abc', { token });

    assert.equal(missing.status, 404);
    assert.equal(errorCode(missing), 'SESSION_NOT_FOUND');
    assert.equal(notANumber.status, 400);
    assert.equal(errorCode(notANumber), 'VALIDATION_FAILED');
  });
});

describe('a token stops working on the very next request after', () => {
  it('logout', async () => {
    const { token } = await t.signUp('fin');
    assert.equal((await me(token)).status, 200);

    assert.equal((await t.request('POST', '/auth/logout', { token })).status, 204);

    assert.equal((await me(token)).status, 401);
    assert.equal((await t.request('POST', '/auth/logout', { token })).status, 401);
  });

  it('logout-all, for every session of the user', async () => {
    const first = await t.signUp('gus');
    const second = await t.login('gus');

    assert.equal((await t.request('POST', '/auth/logout-all', { token: second.token })).status, 200);

    assert.equal((await me(first.token)).status, 401);
    assert.equal((await me(second.token)).status, 401);
  });

  it('an admin deactivates the user', async () => {
    const { token, user } = await t.signUp('hana');
    assert.equal((await me(token)).status, 200);

    const patch = await t.request('PATCH', `/admin/users/${user.id}`, {
      token: admin,
      body: { isActive: false },
    });

    assert.equal(patch.status, 200);
    assert.equal(patch.body.user.isActive, false);
    assert.equal((await me(token)).status, 401);
    const { rows } = await t.database.db.pool.query(
      'SELECT count(*)::int AS n FROM user_sessions WHERE user_id = $1',
      [user.id],
    );
    assert.equal(rows[0].n, 0, 'deactivation ends the sessions, not only hides them');
  });

  it('an admin deletes the user', async () => {
    const { token, user } = await t.signUp('ian');
    assert.equal((await me(token)).status, 200);

    assert.equal((await t.request('DELETE', `/admin/users/${user.id}`, { token: admin })).status, 204);

    assert.equal((await me(token)).status, 401);
  });
});

describe('tokens that are refused with 401 UNAUTHORIZED', () => {
  let user: { id: number };
  before(async () => {
    user = (await t.signUp('jill')).user;
  });

  const refusedWith = async (authorization: string) => {
    const response = await t.request('GET', '/auth/me', { headers: { authorization } });
    assert.equal(response.status, 401, authorization);
    assert.deepEqual(response.body, {
      error: { code: 'UNAUTHORIZED', message: 'Authentication is required.' },
    });
  };

  it('a token signed with another secret, even for a live session', async () => {
    const forged = await new TokenService('another-secret-that-is-also-32-bytes-long', 3600).issue(user.id);
    await storeSession(user.id, forged.claims.jti);

    await refusedWith(`Bearer ${forged.token}`);
  });

  it('a token with alg "none", signed or not', async () => {
    const jti = 'alg-none-session';
    await storeSession(user.id, jti);
    const now = Math.floor(Date.now() / 1000);
    const header = base64url({ alg: 'none', typ: 'JWT' });
    const payload = base64url({ sub: String(user.id), jti, iat: now, exp: now + 3600 });

    await refusedWith(`Bearer ${header}.${payload}.`);
    await refusedWith(`Bearer ${header}.${payload}.c2lnbmF0dXJl`);
  });

  it('an expired token whose session still exists', async () => {
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    const expired = await new TokenService(JWT_SECRET, 3600).issue(user.id, twoHoursAgo);
    await storeSession(user.id, expired.claims.jti);

    await refusedWith(`Bearer ${expired.token}`);
  });

  it("a well-signed token that names another user than its session's", async () => {
    const victim = await t.signUp('kai');
    const jti = 'session-of-kai';
    await storeSession(victim.user.id, jti);
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(String(user.id))
      .setJti(jti)
      .setIssuedAt(now)
      .setExpirationTime(now + 3600)
      .sign(new TextEncoder().encode(JWT_SECRET));

    await refusedWith(`Bearer ${token}`);
  });

  it('a malformed Authorization header', async () => {
    const { token } = await t.login('jill');

    await refusedWith('Bearer');
    await refusedWith('Bearer ');
    await refusedWith(`Basic ${Buffer.from('jill:password').toString('base64')}`);
    await refusedWith(`Token ${token}`);
    await refusedWith(`Bearer ${token} trailing`);
    await refusedWith(`Bearer ${token.split('.').slice(0, 2).join('.')}`);
    await refusedWith('Bearer not-a-jwt');
    await refusedWith(`Bearer ${token.slice(0, -2)}`);
    assert.equal((await me(token)).status, 200, 'the well-formed token itself is fine');
  });
});

describe('MAX_SESSIONS_PER_USER', () => {
  const CAP = 3;
  let capped: TestApp;
  before(async () => {
    capped = await startApp({ env: { MAX_SESSIONS_PER_USER: String(CAP) }, database: t.database });
  });
  after(async () => {
    await capped.close();
  });

  async function storedSessions(userId: number): Promise<number> {
    const { rows } = await t.database.db.pool.query<{ count: number }>(
      'SELECT count(*)::int AS count FROM user_sessions WHERE user_id = $1',
      [userId],
    );
    return rows[0]!.count;
  }

  it('a login past the cap ends the oldest sessions: their tokens are refused, the newest works', async () => {
    const user = await capped.register('cap');
    const tokens: string[] = [];
    for (let i = 0; i < CAP + 2; i += 1) tokens.push((await capped.login('cap')).token);
    const newest = tokens[tokens.length - 1]!;

    assert.equal(await storedSessions(user.id), CAP);
    const listed = await capped.request('GET', '/auth/sessions', { token: newest });
    assert.equal(listed.body.sessions.length, CAP);
    assert.equal(listed.body.sessions[0].current, true);
    for (const [i, token] of tokens.entries()) {
      const response = await capped.request('GET', '/auth/me', { token });
      assert.equal(response.status, i < 2 ? 401 : 200, `token ${i + 1} of ${tokens.length}`);
      if (i < 2) assert.equal(errorCode(response), 'UNAUTHORIZED');
    }
  });

  it('answers the login as ever, and its audit row counts the sessions it ended, when there are any', async () => {
    const user = await capped.register('cop');
    const answers = [];
    for (let i = 0; i < CAP + 1; i += 1) {
      answers.push(
        await capped.request('POST', '/auth/login', { body: { username: 'cop', password: PASSWORD } }),
      );
    }

    for (const answer of answers) {
      assert.equal(answer.status, 200);
      assert.deepEqual(Object.keys(answer.body).sort(), ['accessToken', 'expiresAt', 'tokenType', 'user']);
    }
    const rows = await capped.auditRows(`action = 'auth.login' AND user_id = $1`, [user.id]);
    assert.deepEqual(
      rows.map((row) => row.requestData.details ?? null),
      [null, null, null, { evictedSessions: 1 }],
    );
  });
});
