import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import {
  type AuditRow,
  PASSWORD,
  type RequestOptions,
  type Response,
  startApp,
  type TestApp,
} from './helpers/app.js';

/*
 * Every audited request leaves exactly one row, found here by the request id the response carries
 * in x-request-id. Flushing is left to the tests, so nothing is written behind their back.
 */

const AGENT = 'audit-probe/1.0';

let t: TestApp;
let admin: string;
const issuedTokens: string[] = [];
before(async () => {
  t = await startApp({ env: { AUDIT_FLUSH_INTERVAL_MS: '60000' } });
  admin = (await t.signUp('admin')).token;
  issuedTokens.push(admin);
});
after(async () => {
  await t.close();
});

async function call(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
  const response = await t.request(method, path, {
    ...options,
    headers: { 'user-agent': AGENT, ...options.headers },
  });
  if (typeof response.body?.accessToken === 'string') issuedTokens.push(response.body.accessToken);
  return response;
}

/** The one audit row of a request. */
async function rowOf(response: Response): Promise<AuditRow> {
  const requestId = response.headers.get('x-request-id');
  assert.ok(requestId, 'the response names its request');
  const rows = await t.auditRows(`request_data->>'requestId' = $1`, [requestId]);
  assert.equal(rows.length, 1, `exactly one audit row for ${requestId}`);
  return rows[0]!;
}

async function noRowOf(response: Response): Promise<void> {
  const rows = await t.auditRows(`request_data->>'requestId' = $1`, [response.headers.get('x-request-id')]);
  assert.deepEqual(rows, []);
}

/** The columns every row must get right, checked in one go. */
function assertRow(row: AuditRow, expected: Partial<AuditRow>): void {
  const actual = Object.fromEntries(Object.keys(expected).map((key) => [key, row[key as keyof AuditRow]]));
  assert.deepEqual(actual, expected);
}

const common = { ipAddress: '127.0.0.1', userAgent: AGENT };

describe('registration', () => {
  it('writes one auth.register row naming the new user, with the password redacted', async () => {
    const response = await call('POST', '/auth/register', { body: { username: 'ada', password: PASSWORD } });
    const { id } = response.body.user;

    const row = await rowOf(response);

    assertRow(row, {
      ...common,
      action: 'auth.register',
      userId: id,
      resource: 'user',
      resourceId: String(id),
      responseStatus: 201,
    });
    assert.deepEqual(row.requestData.body, { username: 'ada', password: '[REDACTED]' });
    assert.equal(row.requestData.method, 'POST');
    assert.equal(row.requestData.path, '/auth/register');
    assert.ok(!row.requestText!.includes(PASSWORD));
  });

  it('writes auth.register_failed with the reason for a taken name, and for invalid input', async () => {
    const taken = await call('POST', '/auth/register', { body: { username: 'ADA', password: PASSWORD } });
    const invalid = await call('POST', '/auth/register', { body: { username: 'ada', password: 'short' } });

    const takenRow = await rowOf(taken);
    const invalidRow = await rowOf(invalid);

    assertRow(takenRow, {
      ...common,
      action: 'auth.register_failed',
      userId: null,
      resource: 'user',
      responseStatus: 409,
    });
    assert.deepEqual(takenRow.requestData.details, { reason: 'USERNAME_TAKEN' });
    assertRow(invalidRow, { ...common, action: 'auth.register_failed', userId: null, responseStatus: 400 });
    assert.equal(invalidRow.requestData.body.password, '[REDACTED]');
  });
});

describe('login', () => {
  let bea: { id: number };
  let cy: { id: number };
  before(async () => {
    bea = await t.register('bea');
    cy = await t.register('cy1');
    await t.database.db.users.update(cy.id, { isActive: false });
  });

  it('writes auth.login with the user and the new session', async () => {
    const response = await call('POST', '/auth/login', { body: { username: 'bea', password: PASSWORD } });
    const sessions = await t.request('GET', '/auth/sessions', { token: response.body.accessToken });

    const row = await rowOf(response);

    assertRow(row, {
      ...common,
      action: 'auth.login',
      userId: bea.id,
      resource: 'session',
      resourceId: String(sessions.body.sessions[0].id),
      responseStatus: 200,
    });
    assert.equal(row.requestData.body.password, '[REDACTED]');
    assert.ok(!row.requestText!.includes(response.body.accessToken), 'the issued token is not recorded');
  });

  const failures: [string, () => { username: string; userId: number | null }, string][] = [
    ['a wrong password', () => ({ username: 'bea', userId: bea.id }), 'wrong_password'],
    ['an unknown user', () => ({ username: 'nobody', userId: null }), 'unknown_user'],
    ['an inactive user', () => ({ username: 'cy1', userId: cy.id }), 'inactive'],
  ];
  for (const [what, who, reason] of failures) {
    it(`writes auth.login_failed with reason ${reason} for ${what}`, async () => {
      const { username, userId } = who();
      const password = reason === 'wrong_password' ? 'not the password at all' : PASSWORD;

      const row = await rowOf(await call('POST', '/auth/login', { body: { username, password } }));

      assertRow(row, {
        ...common,
        action: 'auth.login_failed',
        userId,
        resource: 'session',
        responseStatus: 401,
      });
      assert.equal(row.requestData.details.reason, reason);
      assert.equal('loginFingerprint' in row.requestData.details, reason === 'unknown_user');
      assert.ok(!row.requestText!.includes(password));
    });
  }

  it('never keeps the login name as typed: an unknown one leaves only its keyed fingerprint', async () => {
    const typedInName = 'my Secret passphrase, typed in the wrong field';
    const attempts = [
      { username: typedInName, password: PASSWORD },
      { username: typedInName, password: PASSWORD },
      { username: 'Other.Secret@Passphrase.example', password: PASSWORD },
      { username: 'bea', password: 'not the password at all' },
      { username: 'Schema-Refused Passphrase', password: '' },
    ];
    const rows = [];
    for (const body of attempts) rows.push(await rowOf(await call('POST', '/auth/login', { body })));

    for (const row of rows) {
      assert.equal(row.requestData.body.username, '[not recorded]');
      assert.doesNotMatch(row.requestText!, /passphrase|bea/i);
    }
    // Refused input keeps only its shape: no value under any name, in the query string neither.
    const odd = [
      await call('POST', '/auth/login?username=bea&password=Query+Passphrase', {
        body: { username: 'bea', password: PASSWORD },
      }),
      await call('POST', '/auth/login', { body: [{ username: 'bea', password: 'Array Passphrase' }] }),
      await call('POST', '/auth/login', {
        body: { usernme: 'Misspelt Passphrase', login: 'bea', password: 'x' },
      }),
    ];
    const oddRows = [];
    for (const response of odd) oddRows.push(await rowOf(response));
    assert.deepEqual(oddRows[0]!.requestData.query, { username: '[not recorded]', password: '[REDACTED]' });
    assert.equal(oddRows[1]!.requestData.body, '[array]');
    assert.deepEqual(oddRows[2]!.requestData.body, {
      usernme: '[not recorded]',
      login: '[not recorded]',
      password: '[REDACTED]',
    });
    for (const row of oddRows) assert.doesNotMatch(row.requestText!, /passphrase|bea/i);
    const fingerprints = rows.map((row) => row.requestData.details?.loginFingerprint);
    assert.match(fingerprints[0], /^[\w-]{22}$/);
    assert.equal(fingerprints[1], fingerprints[0], 'the same name twice: the same fingerprint');
    assert.notEqual(fingerprints[2], fingerprints[0]);
    assert.equal(fingerprints[3], undefined, 'a known account is named by the row user');
    assert.equal(rows[3]!.userId, bea.id);
    assert.equal(rows[4]!.responseStatus, 400);
    const { rows: keys } = await t.database.db.pool.query<{ key: string }>('SELECT key FROM login_throttles');
    assert.ok(
      keys.some(({ key }) => key.endsWith(fingerprints[0])),
      'throttled by the fingerprint',
    );
    for (const { key } of keys) assert.doesNotMatch(key, /passphrase/i);
  });

  it('writes auth.login_rate_limited for a refused attempt', async () => {
    const limited = await startApp({ database: t.database, env: { LOGIN_MAX_PER_ACCOUNT: '1' } });
    try {
      await limited.request('POST', '/auth/login', { body: { username: 'dee', password: PASSWORD } });
      const refused = await limited.request('POST', '/auth/login', {
        body: { username: 'dee', password: PASSWORD },
        headers: { 'user-agent': AGENT },
      });
      await limited.app.services.audit.flush();

      assert.equal(refused.status, 429);
      assertRow(await rowOf(refused), { ...common, action: 'auth.login_rate_limited', responseStatus: 429 });
    } finally {
      await limited.close();
    }
  });
});

describe('sessions', () => {
  it('writes auth.logout naming the session that ended', async () => {
    const { token, user } = await t.signUp('eli');
    const [session] = (await t.request('GET', '/auth/sessions', { token })).body.sessions;

    const row = await rowOf(await call('POST', '/auth/logout', { token }));

    assertRow(row, {
      ...common,
      action: 'auth.logout',
      userId: user.id,
      resource: 'session',
      resourceId: String(session.id),
      responseStatus: 204,
    });
  });

  it('writes auth.logout_all with how many sessions ended', async () => {
    const { token, user } = await t.signUp('flo');
    await t.login('flo');

    const row = await rowOf(await call('POST', '/auth/logout-all', { token }));

    assertRow(row, {
      ...common,
      action: 'auth.logout_all',
      userId: user.id,
      resource: 'session',
      responseStatus: 200,
    });
    assert.deepEqual(row.requestData.details, { revoked: 2 });
  });

  it('writes session.revoke for a revocation, and for a refused one with its 404', async () => {
    const { token, user } = await t.signUp('gia');
    const other = await t.login('gia');
    const stranger = await t.signUp('hob');
    const ids = (await t.request('GET', '/auth/sessions', { token })).body.sessions.map((s: any) => s.id);
    const otherId = ids.find((id: number) => id !== ids[ids.length - 1]);

    const revoked = await rowOf(await call('DELETE', `/auth/sessions/${otherId}`, { token }));
    const refused = await rowOf(await call('DELETE', `/auth/sessions/${ids[1]}`, { token: stranger.token }));

    assertRow(revoked, {
      ...common,
      action: 'session.revoke',
      userId: user.id,
      resourceId: String(otherId),
      responseStatus: 204,
    });
    assertRow(refused, {
      ...common,
      action: 'session.revoke',
      userId: stranger.user.id,
      responseStatus: 404,
    });
    assert.equal((await t.request('GET', '/auth/me', { token: other.token })).status, 401);
  });

  it('writes auth.token_rejected with the reason, without the token or the header', async () => {
    const { token } = await t.signUp('ida');
    await t.request('POST', '/auth/logout', { token });
    const forged = `${token.slice(0, -4)}AAAA`;

    const rows = [
      await rowOf(await call('GET', '/auth/me')),
      await rowOf(await call('GET', '/auth/me', { headers: { authorization: 'Basic aWRhOnNlY3JldA==' } })),
      await rowOf(await call('GET', '/auth/me', { token: forged })),
      await rowOf(await call('GET', '/auth/me', { token })),
    ];

    assert.deepEqual(
      rows.map((row) => [row.action, row.userId, row.responseStatus, row.requestData.details.reason]),
      [
        ['auth.token_rejected', null, 401, 'missing'],
        ['auth.token_rejected', null, 401, 'malformed'],
        ['auth.token_rejected', null, 401, 'invalid_or_expired'],
        ['auth.token_rejected', null, 401, 'session_ended'],
      ],
    );
    for (const row of rows) {
      assertRow(row, common);
      assert.doesNotMatch(row.requestText!, /authorization|bearer|basic|aWRhOnNlY3JldA/i);
      assert.ok(!row.requestText!.includes(token.split('.')[2]!));
    }
  });

  it('writes no row for a request that is not audited: a successful GET /auth/me', async () => {
    const { token } = await t.signUp('jon');

    await noRowOf(await call('GET', '/auth/me', { token }));
  });

  it('writes no row for an unknown path (404) or a method its path does not serve (405)', async () => {
    const { token } = await t.signUp('joy');
    const unknown = await call('POST', '/auth/nowhere', { token, body: { password: PASSWORD } });
    const wrongMethod = await call('PUT', '/auth/login', { body: { username: 'joy', password: PASSWORD } });

    assert.deepEqual([unknown.status, wrongMethod.status], [404, 405]);
    await noRowOf(unknown);
    await noRowOf(wrongMethod);
  });
});

describe('admin actions', () => {
  let target: { id: number };
  let member: { token: string; user: { id: number } };
  before(async () => {
    target = await t.register('kit');
    member = await t.signUp('lou');
  });

  it('writes admin.user.list with the query', async () => {
    const row = await rowOf(await call('GET', '/admin/users?search=ki&limit=5', { token: admin }));

    assertRow(row, { ...common, action: 'admin.user.list', resource: 'user', responseStatus: 200 });
    assert.deepEqual(row.requestData.query, { search: 'ki', limit: 5, page: 1 });
  });

  it('writes admin.user.sessions naming the user', async () => {
    const row = await rowOf(await call('GET', `/admin/users/${target.id}/sessions`, { token: admin }));

    assertRow(row, {
      action: 'admin.user.sessions',
      resource: 'user',
      resourceId: String(target.id),
      responseStatus: 200,
    });
  });

  it('writes admin.user.update with how many sessions a deactivation ended', async () => {
    await t.login('kit');

    const response = await call('PATCH', `/admin/users/${target.id}`, {
      token: admin,
      body: { isActive: false },
    });
    const row = await rowOf(response);

    assertRow(row, {
      ...common,
      action: 'admin.user.update',
      resource: 'user',
      resourceId: String(target.id),
      responseStatus: 200,
    });
    assert.deepEqual(row.requestData.body, { isActive: false });
    assert.deepEqual(row.requestData.details, { revoked: 1 });
  });

  it('writes admin.user.update with 404 for a user that does not exist', async () => {
    const row = await rowOf(
      await call('PATCH', '/admin/users/999999', { token: admin, body: { isActive: true } }),
    );

    assertRow(row, { action: 'admin.user.update', resourceId: '999999', responseStatus: 404 });
  });

  it('writes admin.user.delete, and the row survives the user it names', async () => {
    const doomed = await t.register('max');

    const row = await rowOf(await call('DELETE', `/admin/users/${doomed.id}`, { token: admin }));

    assertRow(row, {
      ...common,
      action: 'admin.user.delete',
      resource: 'user',
      resourceId: String(doomed.id),
      responseStatus: 204,
    });
  });

  it("keeps the deleted user's own earlier rows, still unflushed when it went, with a null user", async () => {
    const register = await call('POST', '/auth/register', { body: { username: 'ned', password: PASSWORD } });
    const { id } = register.body.user;
    await call('DELETE', `/admin/users/${id}`, { token: admin });

    const row = await rowOf(register);

    assertRow(row, { action: 'auth.register', userId: null, resourceId: String(id), responseStatus: 201 });
  });

  it('writes admin.audit.query with its filters', async () => {
    const row = await rowOf(
      await call('GET', '/admin/audit-logs?action=auth.login&limit=2', { token: admin }),
    );

    assertRow(row, { ...common, action: 'admin.audit.query', resource: 'audit_log', responseStatus: 200 });
    assert.deepEqual(row.requestData.query, { action: 'auth.login', limit: 2 });
  });

  it('writes auth.forbidden naming the non-admin who tried', async () => {
    const row = await rowOf(await call('DELETE', `/admin/users/${target.id}`, { token: member.token }));

    assertRow(row, { ...common, action: 'auth.forbidden', userId: member.user.id, responseStatus: 403 });
    assert.deepEqual(row.requestData.params, { id: String(target.id) });
  });

  it('writes auth.forbidden, not an anonymous admin action, when a non-admin sends invalid input', async () => {
    const row = await rowOf(await call('GET', '/admin/users?limit=101', { token: member.token }));

    assertRow(row, { action: 'auth.forbidden', userId: member.user.id, responseStatus: 403 });
    assert.deepEqual(row.requestData.query, { limit: '101' });
  });
});

describe('secrets in request data', () => {
  const SECRETS = {
    password: 'first-secret-value-1',
    newPassword: 'second-secret-value-2',
    token: 'third-secret-value-3',
    apiKey: 'fourth-secret-value-4',
    refresh_token: 'fifth-secret-value-5',
  };

  function assertNoSecret(row: AuditRow): void {
    for (const secret of Object.values(SECRETS)) {
      assert.ok(!row.requestText!.includes(secret), `${secret} leaked into ${row.requestText}`);
    }
  }

  it('are redacted at any depth in a refused admin PATCH, whose row still exists', async () => {
    const body = {
      email: 'oz@example.com',
      newPassword: SECRETS.newPassword,
      nested: { a: { b: [{ token: SECRETS.token }, { deeper: [{ 'X-Api-Key': SECRETS.apiKey }] }] } },
      refresh_token: SECRETS.refresh_token,
    };

    const response = await call('PATCH', '/admin/users/1', { token: admin, body });
    const row = await rowOf(response);

    assert.equal(response.status, 400);
    assertRow(row, { action: 'admin.user.update', responseStatus: 400 });
    assertNoSecret(row);
    assert.deepEqual(row.requestData.body.nested, {
      a: { b: [{ token: '[REDACTED]' }, { deeper: [{ 'X-Api-Key': '[REDACTED]' }] }] },
    });
    assert.equal(row.requestData.body.newPassword, '[REDACTED]');
  });

  it('keep only username and email of a refused registration, whatever else it sent', async () => {
    const body = {
      username: 'oz1',
      password: SECRETS.password,
      newPassword: SECRETS.newPassword,
      nested: { a: { b: [{ token: SECRETS.token }] } },
    };

    const response = await call('POST', '/auth/register', { body });
    const row = await rowOf(response);

    assert.equal(response.status, 400);
    assertRow(row, { action: 'auth.register_failed', responseStatus: 400 });
    assertNoSecret(row);
    assert.deepEqual(row.requestData.body, {
      username: 'oz1',
      password: '[REDACTED]',
      newPassword: '[REDACTED]',
      nested: '[not recorded]',
    });
  });

  it('are redacted in a refused login, a refused admin PATCH and a refused query string', async () => {
    const login = await call('POST', '/auth/login', {
      body: { username: 'oz1', password: SECRETS.password, extra: { token: SECRETS.token } },
    });
    const patch = await call('PATCH', '/admin/users/1', {
      token: admin,
      body: { email: 'x@example.com', newPassword: SECRETS.newPassword },
    });
    const query = await call(
      'GET',
      `/admin/users?apiKey=${SECRETS.apiKey}&refresh_token=${SECRETS.refresh_token}`,
      {
        token: admin,
      },
    );

    for (const response of [login, patch, query]) {
      assert.equal(response.status, 400);
      const row = await rowOf(response);
      assert.equal(row.responseStatus, 400);
      assertNoSecret(row);
    }
  });

  it('never holds an Authorization header or an issued token, in any row written so far', async () => {
    const rows = await t.auditRows();

    assert.ok(rows.length > 40, `${rows.length} rows`);
    for (const row of rows) {
      assert.doesNotMatch(row.requestText ?? '', /authorization|bearer/i);
      for (const token of issuedTokens) assert.ok(!(row.requestText ?? '').includes(token.split('.')[2]!));
    }
  });

  it('keeps a row whose login name holds a lone surrogate, which jsonb cannot store as sent', async () => {
    const response = await call('POST', '/auth/login', {
      raw: `{"username":"oz\\ud800","password":"${SECRETS.password}"}`,
      headers: { 'content-type': 'application/json' },
    });

    const row = await rowOf(response);

    assert.equal(response.status, 401);
    assertRow(row, { action: 'auth.login_failed', responseStatus: 401 });
    assertNoSecret(row);
  });
});
