import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { errorCode, PASSWORD, startApp, type TestApp } from './helpers/app.js';

let t: TestApp;
before(async () => {
  t = await startApp();
});
after(async () => {
  await t.close();
});

const USER_KEYS = ['createdAt', 'email', 'id', 'isActive', 'updatedAt', 'username'];

describe('POST /auth/register', () => {
  it('creates an account and answers 201 with the user, never its password hash', async () => {
    const response = await t.request('POST', '/auth/register', {
      body: { username: 'dana', password: PASSWORD, email: 'Dana@Example.com' },
    });

    assert.equal(response.status, 201);
    assert.deepEqual(Object.keys(response.body.user).sort(), USER_KEYS);
    assert.equal(response.body.user.username, 'dana');
    assert.equal(response.body.user.email, 'dana@example.com');
    assert.equal(response.body.user.isActive, true);
    assert.doesNotMatch(response.text, /argon2|passwordHash/i);
  });

  it('stores "Ａｌｉｃｅ" as "alice" and refuses "ALICE" as the same name', async () => {
    const created = await t.request('POST', '/auth/register', {
      body: { username: 'Ａｌｉｃｅ', password: PASSWORD },
    });
    const again = await t.request('POST', '/auth/register', {
      body: { username: 'ALICE', password: PASSWORD },
    });

    assert.equal(created.status, 201);
    assert.equal(created.body.user.username, 'alice');
    assert.equal(again.status, 409);
    assert.equal(errorCode(again), 'USERNAME_TAKEN');
  });

  it('refuses an email already in use whatever its case, with 409 EMAIL_TAKEN', async () => {
    await t.register('erin', { email: 'erin@example.com' });

    const response = await t.request('POST', '/auth/register', {
      body: { username: 'erin2', password: PASSWORD, email: 'ERIN@example.COM' },
    });

    assert.equal(response.status, 409);
    assert.deepEqual(response.body, {
      error: { code: 'EMAIL_TAKEN', message: 'This email address is already in use.' },
    });
  });

  it('refuses a 14-character password and accepts one of exactly 15', async () => {
    const short = await t.request('POST', '/auth/register', {
      body: { username: 'fay', password: 'quiet harbour!' },
    });
    const exact = await t.request('POST', '/auth/register', {
      body: { username: 'fay', password: 'quiet harbour!!' },
    });

    assert.equal(short.status, 400);
    assert.deepEqual(short.body.error, {
      code: 'VALIDATION_FAILED',
      message: 'The request is not valid.',
      details: [{ field: 'body.password', message: 'must be at least 15 characters' }],
    });
    assert.equal(exact.status, 201);
  });

  it('counts characters after NFKC: 15 full-width letters are 15 characters', async () => {
    const response = await t.request('POST', '/auth/register', {
      body: { username: 'gil', password: 'ｑｕｉｅｔ－ｈａｒｂｏｕｒ－７' },
    });

    assert.equal(response.status, 201);
    const signedIn = await t.login('gil', 'quiet-harbour-7');
    assert.equal(signedIn.user.username, 'gil');
  });

  it('refuses a password of 257 characters', async () => {
    const response = await t.request('POST', '/auth/register', {
      body: { username: 'hal', password: 'y'.repeat(257) },
    });

    assert.equal(response.status, 400);
    assert.deepEqual(response.body.error.details, [
      { field: 'body.password', message: 'must be at most 256 characters' },
    ]);
  });

  const invalidBodies: [string, unknown, string][] = [
    ['a missing password', { username: 'ivy' }, 'body.password'],
    ['a missing username', { password: PASSWORD }, 'body.username'],
    ['a two-character username', { username: 'iv', password: PASSWORD }, 'body.username'],
    ['a 33-character username', { username: 'i'.repeat(33), password: PASSWORD }, 'body.username'],
    ['a username starting with a dot', { username: '.ivy', password: PASSWORD }, 'body.username'],
    ['a username with a space', { username: 'i vy', password: PASSWORD }, 'body.username'],
    ['an email without @', { username: 'ivy', password: PASSWORD, email: 'ivy.example.com' }, 'body.email'],
    ['an unknown field', { username: 'ivy', password: PASSWORD, role: 'admin' }, 'body.role'],
  ];
  for (const [what, body, field] of invalidBodies) {
    it(`refuses ${what} with 400 VALIDATION_FAILED naming ${field}`, async () => {
      const response = await t.request('POST', '/auth/register', { body });

      assert.equal(response.status, 400);
      assert.equal(errorCode(response), 'VALIDATION_FAILED');
      assert.equal(response.body.error.details[0].field, field);
    });
  }
});

describe('POST /auth/login', () => {
  before(async () => {
    await t.register('joy', { email: 'joy@example.com' });
    await t.register('kim');
    await t.database.db.users.update((await t.register('lee')).id, { isActive: false });
  });

  it('answers 200 with a bearer token, its expiry and the user', async () => {
    const before = Date.now();
    const response = await t.request('POST', '/auth/login', {
      body: { username: 'joy', password: PASSWORD },
    });

    assert.equal(response.status, 200);
    assert.equal(response.body.tokenType, 'Bearer');
    assert.match(response.body.accessToken, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    const after = Date.now();
    // exp is whole seconds, counted from the second the server issued the token in.
    const expiresAt = Date.parse(response.body.expiresAt);
    assert.equal(expiresAt % 1000, 0);
    const earliest = Math.floor(before / 1000) * 1000 + 3600_000;
    assert.ok(
      expiresAt >= earliest && expiresAt <= after + 3600_000,
      `expires ${expiresAt}, issued ${before}..${after}`,
    );
    assert.deepEqual(Object.keys(response.body.user).sort(), USER_KEYS);
    assert.equal(response.body.user.username, 'joy');
  });

  it('accepts the email, in any case, in place of the username', async () => {
    const signedIn = await t.login('JOY@example.com');

    assert.equal(signedIn.user.username, 'joy');
  });

  it('accepts the username in another case or width', async () => {
    const signedIn = await t.login('ＫＩＭ');

    assert.equal(signedIn.user.username, 'kim');
  });

  it('answers the same 401 body for an unknown user, an inactive user and a wrong password', async () => {
    const unknown = await t.request('POST', '/auth/login', {
      body: { username: 'nobody', password: PASSWORD },
    });
    const inactive = await t.request('POST', '/auth/login', {
      body: { username: 'lee', password: PASSWORD },
    });
    const wrong = await t.request('POST', '/auth/login', {
      body: { username: 'kim', password: `${PASSWORD}!` },
    });

    const expected = {
      error: { code: 'INVALID_CREDENTIALS', message: 'The username or password is incorrect.' },
    };
    for (const response of [unknown, inactive, wrong]) {
      assert.equal(response.status, 401);
      assert.deepEqual(response.body, expected);
      assert.equal(response.text, unknown.text);
    }
  });

  it('compares the whole password: 200 characters differing only in the last one fail', async () => {
    const start = 'a quiet harbour at dawn, '.repeat(8).slice(0, 199);
    const password = `${start}a`;
    await t.register('max', { password });

    const wrong = await t.request('POST', '/auth/login', {
      body: { username: 'max', password: `${start}b` },
    });
    const right = await t.request('POST', '/auth/login', { body: { username: 'max', password } });

    assert.equal(wrong.status, 401);
    assert.equal(errorCode(wrong), 'INVALID_CREDENTIALS');
    assert.equal(right.status, 200);
  });

  it('refuses a body without a password with 400, not 401', async () => {
    const response = await t.request('POST', '/auth/login', { body: { username: 'kim' } });

    assert.equal(response.status, 400);
    assert.deepEqual(response.body.error.details, [
      { field: 'body.password', message: "must have required property 'password'" },
    ]);
  });
});

describe('GET /auth/me, POST /auth/logout, POST /auth/logout-all', () => {
  it('returns the signed-in user', async () => {
    const { token, user } = await t.signUp('nia', { email: 'nia@example.com' });

    const response = await t.request('GET', '/auth/me', { token });

    assert.equal(response.status, 200);
    assert.deepEqual(response.body, { user });
  });

  it('answers 401 UNAUTHORIZED without a token', async () => {
    const response = await t.request('GET', '/auth/me');

    assert.equal(response.status, 401);
    assert.deepEqual(response.body, {
      error: { code: 'UNAUTHORIZED', message: 'Authentication is required.' },
    });
  });

  it('ends only the current session on logout', async () => {
    const first = await t.signUp('oli');
    const second = await t.login('oli');

    const logout = await t.request('POST', '/auth/logout', { token: first.token });
    const firstAfter = await t.request('GET', '/auth/me', { token: first.token });
    const secondAfter = await t.request('GET', '/auth/me', { token: second.token });

    assert.equal(logout.status, 204);
    assert.equal(logout.text, '');
    assert.equal(firstAfter.status, 401);
    assert.equal(secondAfter.status, 200);
  });

  it('ends every session on logout-all and says how many', async () => {
    const sessions = [await t.signUp('pat'), await t.login('pat'), await t.login('pat')];
    const other = await t.signUp('quin');

    const response = await t.request('POST', '/auth/logout-all', { token: sessions[0]!.token });

    assert.equal(response.status, 200);
    assert.deepEqual(response.body, { revoked: 3 });
    for (const { token } of sessions) {
      assert.equal((await t.request('GET', '/auth/me', { token })).status, 401);
    }
    assert.equal((await t.request('GET', '/auth/me', { token: other.token })).status, 200);
  });
});
