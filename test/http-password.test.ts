import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { hashPassword } from '../src/auth/passwords.js';
import { errorCode, PASSWORD, type Response, startApp, type TestApp } from './helpers/app.js';

/*
 * Password change (POST /auth/password), the password policy at registration, and the
 * registration throttle. The app counts at most 3 login attempts per account, so the throttle
 * shared by login and password change shows after three wrong current passwords.
 */

const NEW_PASSWORD = 'a lantern by the northern gate';
const WRONG = 'certainly not the password';

let t: TestApp;
before(async () => {
  t = await startApp({ env: { LOGIN_MAX_PER_ACCOUNT: '3' } });
});
after(async () => {
  await t.close();
});

function change(token: string, body: Record<string, unknown>) {
  return t.request('POST', '/auth/password', { token, body });
}

function assertRefusedField(response: Response, field: string, message: RegExp): void {
  assert.equal(response.status, 400, response.text);
  assert.equal(errorCode(response), 'VALIDATION_FAILED');
  assert.equal(response.body.error.details[0].field, field);
  assert.match(response.body.error.details[0].message, message);
}

describe('POST /auth/password', () => {
  it('sets the new password, ends every other session and keeps the caller signed in', async () => {
    const first = await t.signUp('pia');
    const second = await t.login('pia');
    const third = await t.login('pia');

    const response = await change(first.token, { currentPassword: PASSWORD, newPassword: NEW_PASSWORD });

    assert.equal(response.status, 200, response.text);
    assert.deepEqual(response.body, { revoked: 2 });
    assert.equal((await t.request('GET', '/auth/me', { token: first.token })).status, 200);
    assert.equal((await t.request('GET', '/auth/me', { token: second.token })).status, 401);
    assert.equal((await t.request('GET', '/auth/me', { token: third.token })).status, 401);
    const oldLogin = await t.request('POST', '/auth/login', {
      body: { username: 'pia', password: PASSWORD },
    });
    assert.equal(oldLogin.status, 401);
    assert.equal((await t.login('pia', NEW_PASSWORD)).user.id, first.user.id);
  });

  it('writes auth.password_change with the count and neither password', async () => {
    const signedIn = await t.signUp('quinn');

    await change(signedIn.token, { currentPassword: PASSWORD, newPassword: NEW_PASSWORD });

    const [row] = await t.auditRows(`action = 'auth.password_change' AND user_id = $1`, [signedIn.user.id]);
    assert.ok(row, 'an auth.password_change row');
    assert.equal(row.resource, 'user');
    assert.equal(row.resourceId, String(signedIn.user.id));
    assert.equal(row.responseStatus, 200);
    assert.deepEqual(row.requestData.body, { currentPassword: '[REDACTED]', newPassword: '[REDACTED]' });
    assert.deepEqual(row.requestData.details, { revoked: 0 });
    assert.ok(!row.requestText?.includes(PASSWORD) && !row.requestText?.includes(NEW_PASSWORD));
  });

  it('lets one of two racing changes win: the other gets 403 and its session ends', async () => {
    const first = await t.signUp('olga');
    const second = await t.login('olga');
    const passwords = ['a lantern by the northern gate', 'the river runs under the bridge'];

    const responses = await Promise.all([
      change(first.token, { currentPassword: PASSWORD, newPassword: passwords[0] }),
      change(second.token, { currentPassword: PASSWORD, newPassword: passwords[1] }),
    ]);

    assert.deepEqual(responses.map((response) => response.status).sort(), [200, 403]);
    const won = responses[0]!.status === 200 ? 0 : 1;
    const winner = [first, second][won]!;
    const loser = [first, second][1 - won]!;
    assert.equal(errorCode(responses[1 - won]!), 'CURRENT_PASSWORD_INCORRECT');
    assert.equal((await t.request('GET', '/auth/me', { token: winner.token })).status, 200);
    assert.equal((await t.request('GET', '/auth/me', { token: loser.token })).status, 401);
    assert.equal((await t.login('olga', passwords[won])).user.id, first.user.id);
    const lost = await t.request('POST', '/auth/login', {
      body: { username: 'olga', password: passwords[1 - won] },
    });
    assert.equal(lost.status, 401);
  });

  it('answers 403 CURRENT_PASSWORD_INCORRECT for a wrong current password and changes nothing', async () => {
    const signedIn = await t.signUp('rae');

    const response = await change(signedIn.token, { currentPassword: WRONG, newPassword: NEW_PASSWORD });

    assert.equal(response.status, 403, response.text);
    assert.equal(errorCode(response), 'CURRENT_PASSWORD_INCORRECT');
    assert.equal((await t.request('GET', '/auth/me', { token: signedIn.token })).status, 200);
    assert.equal((await t.login('rae', PASSWORD)).user.username, 'rae');
    const [row] = await t.auditRows(`action = 'auth.password_change_failed' AND user_id = $1`, [
      signedIn.user.id,
    ]);
    assert.deepEqual(row?.requestData.details, { reason: 'wrong_password' });
    assert.equal(row?.responseStatus, 403);
  });

  it('shares the login throttle: the 4th guess is 429 even with the right password', async () => {
    const signedIn = await t.signUp('sol');
    const statuses = [];
    for (let i = 0; i < 3; i += 1) {
      statuses.push(
        (await change(signedIn.token, { currentPassword: WRONG, newPassword: NEW_PASSWORD })).status,
      );
    }

    const fourth = await change(signedIn.token, { currentPassword: PASSWORD, newPassword: NEW_PASSWORD });
    const login = await t.request('POST', '/auth/login', { body: { username: 'sol', password: PASSWORD } });

    assert.deepEqual(statuses, [403, 403, 403]);
    assert.equal(fourth.status, 429, fourth.text);
    assert.equal(errorCode(fourth), 'RATE_LIMITED');
    assert.match(fourth.headers.get('retry-after') ?? '', /^[1-9]\d*$/);
    assert.equal(login.status, 429, 'the account is throttled for login too');
  });

  it('checks the new password against the whole policy and keeps the old one on refusal', async () => {
    const signedIn = await t.signUp('tove', { email: 'tove.lind@example.com' });
    const cases: [string, RegExp][] = [
      ['too short', /at least 15 characters/],
      ['1qaz2wsx3edc4rfv', /commonly used/],
      ['tove.lind-1234567', /besides the username, email/],
      ['ToveTove-1234567', /besides the username, email/],
      ['xyxyxyxyxyxyxyxyxy', /^is too repetitive or sequential, like aaaa…, abcabc… or 12345…$/],
      ['iloveyouiloveyou', /too repetitive or sequential/],
      ['qwertyuiopasdfghjkl', /too repetitive or sequential/],
      ['t\u200bove.lind-12345678', /besides the username, email/],
    ];

    for (const [newPassword, message] of cases) {
      const response = await change(signedIn.token, { currentPassword: PASSWORD, newPassword });
      assertRefusedField(response, 'body.newPassword', message);
    }
    assert.equal((await t.login('tove', PASSWORD)).user.username, 'tove');
  });

  it('needs a signed-in caller and a strict body', async () => {
    const signedIn = await t.signUp('uma');
    const anonymous = await t.request('POST', '/auth/password', {
      body: { currentPassword: PASSWORD, newPassword: NEW_PASSWORD },
    });
    const missing = await change(signedIn.token, { newPassword: NEW_PASSWORD });
    const extra = await change(signedIn.token, {
      currentPassword: PASSWORD,
      newPassword: NEW_PASSWORD,
      userId: 1,
    });

    assert.equal(anonymous.status, 401);
    assert.equal(errorCode(anonymous), 'UNAUTHORIZED');
    assert.equal(missing.status, 400);
    assert.equal(extra.status, 400);
    assert.equal((await t.login('uma', PASSWORD)).user.username, 'uma');
  });
});

describe('C1 control characters', () => {
  const OLD_STYLE = 'caf\u0085 quiet harbour at dawn';

  it('still let an account whose stored password holds one sign in and change it', async () => {
    const user = await t.database.db.users.create({
      username: 'cleo',
      passwordHash: await hashPassword(OLD_STYLE),
    });

    const signedIn = await t.login('cleo', OLD_STYLE);
    const changed = await change(signedIn.token, { currentPassword: OLD_STYLE, newPassword: NEW_PASSWORD });

    assert.equal(signedIn.user.id, user.id);
    assert.equal(changed.status, 200, changed.text);
  });

  it('are refused in a new password', async () => {
    const signedIn = await t.signUp('cyd');
    const response = await change(signedIn.token, { currentPassword: PASSWORD, newPassword: OLD_STYLE });

    assert.equal(response.status, 400);
    assert.equal(response.body.error.details[0].field, 'body.newPassword');
  });
});

describe('audit rows of password routes', () => {
  it('keep no value sent under a misspelt name', async () => {
    const signedIn = await t.signUp('dora');
    const changed = await change(signedIn.token, {
      currentPassword: PASSWORD,
      newPaswsord: 'misspelt new phrase',
    });
    const registered = await t.request('POST', '/auth/register', {
      body: { username: 'dorian', pasword: 'misspelt registration phrase', email: 'dorian@example.com' },
    });

    assert.equal(changed.status, 400);
    assert.equal(registered.status, 400);
    const rows = await t.auditRows(`request_data->>'requestId' = ANY($1)`, [
      [changed.headers.get('x-request-id'), registered.headers.get('x-request-id')],
    ]);
    assert.equal(rows.length, 2);
    for (const row of rows) assert.doesNotMatch(row.requestText!, /misspelt/);
    const registerRow = rows.find((row) => row.action === 'auth.register_failed');
    assert.deepEqual(registerRow?.requestData.body, {
      username: 'dorian',
      pasword: '[not recorded]',
      email: 'dorian@example.com',
    });
  });
});

describe('POST /auth/register and the password policy', () => {
  it('refuses a common password, and one built on the username, naming body.password', async () => {
    const common = await t.request('POST', '/auth/register', {
      body: { username: 'vera', password: '1QAZ2WSX3EDC4RFV' },
    });
    const onName = await t.request('POST', '/auth/register', {
      body: { username: 'vera', password: 'Vera-2026-01-01!' },
    });
    const onEmail = await t.request('POST', '/auth/register', {
      body: { username: 'vera', email: 'vera.holm@example.com', password: 'vera.holm@example' },
    });

    assertRefusedField(common, 'body.password', /commonly used/);
    assertRefusedField(onName, 'body.password', /besides the username/);
    assertRefusedField(onEmail, 'body.password', /besides the username/);
    assert.equal(await t.database.db.users.findByUsername('vera'), null);
    const reasons = (
      await t.auditRows(`action = 'auth.register_failed' AND request_data->'body'->>'username' = 'vera'`)
    ).map((row) => row.requestData.details?.reason);
    assert.deepEqual(reasons, ['password_common', 'password_context', 'password_context']);
  });
});

describe('registration throttle', () => {
  let limited: TestApp;
  before(async () => {
    limited = await startApp({ env: { REGISTER_MAX_PER_IP: '2', REGISTER_RATE_WINDOW_SECONDS: '600' } });
  });
  after(async () => {
    await limited.close();
  });

  it('refuses the 3rd registration from one address with 429 and creates no user', async () => {
    await limited.register('wes');
    await limited.register('xan');

    const third = await limited.request('POST', '/auth/register', {
      body: { username: 'yoko', password: PASSWORD },
    });

    assert.equal(third.status, 429, third.text);
    assert.equal(errorCode(third), 'RATE_LIMITED');
    const retryAfter = Number(third.headers.get('retry-after'));
    assert.ok(retryAfter > 0 && retryAfter <= 600, `Retry-After: ${retryAfter}`);
    assert.equal(await limited.database.db.users.findByUsername('yoko'), null);
    const [row] = await limited.auditRows(`action = 'auth.register_rate_limited'`);
    assert.equal(row?.responseStatus, 429);
    assert.equal(row?.requestData.body.username, 'yoko');
  });

  it('leaves logins alone', async () => {
    assert.equal((await limited.login('wes')).user.username, 'wes');
  });
});
