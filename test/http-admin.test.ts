import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { errorCode, PASSWORD, startApp, type TestApp } from './helpers/app.js';

// Audit rows are flushed only when a test asks, so the trail does not move under a keyset walk.
let t: TestApp;
let admin: string;
let member: { token: string; user: { id: number } };
before(async () => {
  t = await startApp({ env: { AUDIT_FLUSH_INTERVAL_MS: '60000', ADMIN_USERNAMES: 'root, Admin' } });
  admin = (await t.signUp('admin')).token;
  member = await t.signUp('member');
});
after(async () => {
  await t.close();
});

const asAdmin = (method: string, path: string, body?: unknown) =>
  t.request(method, path, { token: admin, ...(body !== undefined && { body }) });

describe('admin routes refuse', () => {
  const routes: [string, string, unknown?][] = [
    ['GET', '/admin/users'],
    ['PATCH', '/admin/users/1', { isActive: false }],
    ['DELETE', '/admin/users/1'],
    ['GET', '/admin/users/1/sessions'],
    ['GET', '/admin/audit-logs'],
  ];
  for (const [method, path, body] of routes) {
    it(`${method} ${path} to a signed-in non-admin with 403 FORBIDDEN, and without a token with 401`, async () => {
      const forbidden = await t.request(method, path, { token: member.token, body });
      const anonymous = await t.request(method, path, { body });

      assert.equal(forbidden.status, 403);
      assert.deepEqual(forbidden.body, {
        error: { code: 'FORBIDDEN', message: 'You are not allowed to do this.' },
      });
      assert.equal(anonymous.status, 401);
      assert.equal(errorCode(anonymous), 'UNAUTHORIZED');
    });
  }

  it('checks the caller before the input: invalid input from a non-admin is still 401 or 403', async () => {
    const anonymous = await t.request('GET', '/admin/users?limit=101');
    const forbidden = await t.request('GET', '/admin/users?limit=101', { token: member.token });
    const patch = await t.request('PATCH', '/admin/users/abc', {
      token: member.token,
      body: { role: 'admin' },
    });

    assert.deepEqual(
      [anonymous, forbidden, patch].map((response) => [response.status, errorCode(response)]),
      [
        [401, 'UNAUTHORIZED'],
        [403, 'FORBIDDEN'],
        [403, 'FORBIDDEN'],
      ],
    );
  });

  it('leaves the user a refused PATCH named untouched', async () => {
    const after = await t.request('GET', '/auth/me', { token: member.token });

    assert.equal(after.status, 200);
    assert.equal(after.body.user.isActive, true);
  });
});

describe('GET /admin/users', () => {
  before(async () => {
    for (const username of ['sam', 'samuel', 'tom']) {
      await t.register(username, {
        email: `${username}@${username === 'tom' ? 'sample.org' : 'example.com'}`,
      });
    }
  });

  it('finds users by username or email, case-insensitively, with the total', async () => {
    const response = await asAdmin('GET', '/admin/users?search=SAM');

    assert.equal(response.status, 200);
    assert.deepEqual(
      response.body.users.map((u: any) => u.username),
      ['tom', 'samuel', 'sam'],
    );
    assert.equal(response.body.total, 3);
    assert.equal(response.body.page, 1);
    assert.equal(response.body.limit, 20);
    assert.doesNotMatch(response.text, /passwordHash|argon2/);
  });

  it('pages newest first without overlap, with the total on every page', async () => {
    const pages = [];
    for (const page of [1, 2, 3])
      pages.push((await asAdmin('GET', `/admin/users?limit=2&page=${page}`)).body);

    const names = pages.flatMap((page) => page.users.map((u: any) => u.username));
    assert.deepEqual(names, ['tom', 'samuel', 'sam', 'member', 'admin']);
    assert.deepEqual(
      pages.map((page) => [page.total, page.page, page.limit, page.users.length]),
      [
        [5, 1, 2, 2],
        [5, 2, 2, 2],
        [5, 3, 2, 1],
      ],
    );
  });

  const badQueries: [string, string][] = [
    ['limit=101', 'querystring.limit'],
    ['limit=0', 'querystring.limit'],
    ['page=0', 'querystring.page'],
    ['page=-1', 'querystring.page'],
    ['page=abc', 'querystring.page'],
    ['limit=1.5', 'querystring.limit'],
    ['sort=username', 'querystring.sort'],
    [`search=${'x'.repeat(256)}`, 'querystring.search'],
    ['search=%00', 'querystring.search'],
  ];
  for (const [query, field] of badQueries) {
    it(`refuses ?${query.slice(0, 20)} with 400 VALIDATION_FAILED naming ${field}`, async () => {
      const response = await asAdmin('GET', `/admin/users?${query}`);

      assert.equal(response.status, 400);
      assert.equal(errorCode(response), 'VALIDATION_FAILED');
      assert.equal(response.body.error.details[0].field, field);
    });
  }

  it('accepts limit=100, the largest page', async () => {
    const response = await asAdmin('GET', '/admin/users?limit=100');

    assert.equal(response.status, 200);
    assert.equal(response.body.limit, 100);
    assert.equal(response.body.users.length, response.body.total);
  });
});

describe('PATCH and DELETE /admin/users/:id', () => {
  it('changes the email and answers with the user', async () => {
    const { id } = await t.register('uma', { email: 'uma@example.com' });

    const response = await asAdmin('PATCH', `/admin/users/${id}`, { email: 'Uma@New.example' });

    assert.equal(response.status, 200);
    assert.equal(response.body.user.email, 'uma@new.example');
    assert.equal(response.body.user.isActive, true);
    const cleared = await asAdmin('PATCH', `/admin/users/${id}`, { email: null });
    assert.equal(cleared.body.user.email, null);
  });

  it('refuses an email another user has with 409 EMAIL_TAKEN', async () => {
    await t.register('vic', { email: 'vic@example.com' });
    const { id } = await t.register('wes', { email: 'wes@example.com' });

    const response = await asAdmin('PATCH', `/admin/users/${id}`, { email: 'VIC@example.com' });

    assert.equal(response.status, 409);
    assert.equal(errorCode(response), 'EMAIL_TAKEN');
    const users = await asAdmin('GET', '/admin/users?search=wes');
    assert.equal(users.body.users[0].email, 'wes@example.com');
  });

  it('answers 404 USER_NOT_FOUND to PATCH and DELETE of a user that does not exist', async () => {
    const patch = await asAdmin('PATCH', '/admin/users/999999', { isActive: false });
    const remove = await asAdmin('DELETE', '/admin/users/999999');

    assert.equal(patch.status, 404);
    assert.equal(errorCode(patch), 'USER_NOT_FOUND');
    assert.equal(remove.status, 404);
    assert.equal(errorCode(remove), 'USER_NOT_FOUND');
  });

  it('refuses an empty PATCH, an unknown field and a non-boolean isActive with 400', async () => {
    const { id } = await t.register('xena');

    for (const body of [{}, { username: 'other' }, { isActive: 'false' }, { email: 'not-an-email' }]) {
      const response = await asAdmin('PATCH', `/admin/users/${id}`, body);
      assert.equal(response.status, 400, JSON.stringify(body));
      assert.equal(errorCode(response), 'VALIDATION_FAILED');
    }
  });

  it('deletes a user: 204, then 404 for a second delete, and the name can be registered again', async () => {
    const { id } = await t.register('yan');

    const first = await asAdmin('DELETE', `/admin/users/${id}`);
    const second = await asAdmin('DELETE', `/admin/users/${id}`);

    assert.equal(first.status, 204);
    assert.equal(first.text, '');
    assert.equal(second.status, 404);
    assert.equal(errorCode(second), 'USER_NOT_FOUND');
    const again = await t.request('POST', '/auth/register', {
      body: { username: 'yan', password: PASSWORD },
    });
    assert.equal(again.status, 201);
    assert.notEqual(again.body.user.id, id);
  });

  it('reactivates a user, who can then sign in again', async () => {
    const { id } = await t.register('zoe');
    await asAdmin('PATCH', `/admin/users/${id}`, { isActive: false });
    const refused = await t.request('POST', '/auth/login', { body: { username: 'zoe', password: PASSWORD } });

    const response = await asAdmin('PATCH', `/admin/users/${id}`, { isActive: true });

    assert.equal(refused.status, 401);
    assert.equal(response.body.user.isActive, true);
    assert.equal((await t.login('zoe')).user.id, id);
  });
});

describe('GET /admin/users/:id/sessions', () => {
  it("lists the user's sessions, newest first", async () => {
    const { user } = await t.signUp('abe');
    await t.login('abe', PASSWORD, { 'user-agent': 'second-device' });

    const response = await asAdmin('GET', `/admin/users/${user.id}/sessions`);

    assert.equal(response.status, 200);
    assert.equal(response.body.sessions.length, 2);
    assert.equal(response.body.sessions[0].userAgent, 'second-device');
    assert.equal(response.body.sessions[0].ipAddress, '127.0.0.1');
  });

  it('answers 404 USER_NOT_FOUND for a user that does not exist', async () => {
    const response = await asAdmin('GET', '/admin/users/999999/sessions');

    assert.equal(response.status, 404);
    assert.equal(errorCode(response), 'USER_NOT_FOUND');
  });
});

describe('GET /admin/audit-logs', () => {
  let walker: { id: number };
  before(async () => {
    walker = (await t.signUp('walker')).user;
    for (let i = 0; i < 6; i += 1) {
      await t.request('POST', '/auth/login', {
        body: { username: 'walker', password: `wrong password ${i}!` },
      });
    }
    await t.app.services.audit.flush();
  });

  it('filters by user and action, newest first, ids as strings', async () => {
    const response = await asAdmin('GET', `/admin/audit-logs?userId=${walker.id}&action=auth.login_failed`);

    assert.equal(response.status, 200);
    const { items } = response.body;
    assert.equal(items.length, 6);
    assert.equal(response.body.nextCursor, null);
    for (const item of items) {
      assert.equal(item.userId, walker.id);
      assert.equal(item.action, 'auth.login_failed');
      assert.equal(item.responseStatus, 401);
      assert.equal(typeof item.id, 'string');
    }
    const ids = items.map((item: any) => BigInt(item.id));
    assert.deepEqual(
      ids,
      [...ids].sort((a, b) => (a > b ? -1 : a < b ? 1 : 0)),
    );
  });

  it('filters by resource', async () => {
    const response = await asAdmin('GET', `/admin/audit-logs?userId=${walker.id}&resource=user&limit=100`);

    assert.deepEqual(
      response.body.items.map((item: any) => [item.action, item.resource]),
      [['auth.register', 'user']],
    );
  });

  it('filters by time: from is inclusive, to exclusive', async () => {
    const all = (await asAdmin('GET', `/admin/audit-logs?userId=${walker.id}&limit=100`)).body.items;
    const oldestFirst = [...all].reverse();
    const from = oldestFirst[1].createdAt;
    const to = oldestFirst[4].createdAt;

    const response = await asAdmin(
      'GET',
      `/admin/audit-logs?userId=${walker.id}&from=${from}&to=${to}&limit=100`,
    );

    const expected = all.filter((item: any) => item.createdAt >= from && item.createdAt < to);
    assert.ok(expected.length >= 1);
    assert.deepEqual(
      response.body.items.map((item: any) => item.id),
      expected.map((item: any) => item.id),
    );
  });

  it('walks the whole trail in keyset pages with no duplicate and no gap', async () => {
    await t.app.services.audit.flush();
    const everything = (await asAdmin('GET', '/admin/audit-logs?limit=100')).body;
    assert.equal(everything.nextCursor, null, 'the trail fits one page of 100');

    const walked: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = cursor === null ? '' : `&cursor=${cursor}`;
      const page = await asAdmin('GET', `/admin/audit-logs?limit=3${query}`);
      assert.equal(page.status, 200);
      walked.push(...page.body.items.map((item: any) => item.id));
      cursor = page.body.nextCursor;
      pages += 1;
    } while (cursor !== null && pages < 100);

    assert.equal(new Set(walked).size, walked.length, 'no row twice');
    assert.deepEqual(
      walked,
      everything.items.map((item: any) => item.id),
    );
    assert.equal(pages, Math.ceil(walked.length / 3));
  });

  const badCursors = ['not a cursor', 'Zm9v', Buffer.from('a:0').toString('base64url'), 'x'.repeat(65)];
  for (const cursor of badCursors) {
    it(`refuses the cursor ${JSON.stringify(cursor.slice(0, 12))} with 400`, async () => {
      const response = await asAdmin('GET', `/admin/audit-logs?cursor=${encodeURIComponent(cursor)}`);

      assert.equal(response.status, 400);
      assert.match(errorCode(response) ?? '', /^(INVALID_CURSOR|VALIDATION_FAILED)$/);
    });
  }

  it('refuses a cursor past the 64-bit range with 400 INVALID_CURSOR, not 500', async () => {
    const cursor = Buffer.from('a:9999999999999999999').toString('base64url');

    const response = await asAdmin('GET', `/admin/audit-logs?cursor=${cursor}`);

    assert.equal(response.status, 400);
    assert.equal(errorCode(response), 'INVALID_CURSOR');
  });

  it('refuses a well-formed date the database cannot store with 400 INVALID_INPUT', async () => {
    const response = await asAdmin('GET', '/admin/audit-logs?from=0000-01-01T00:00:00Z');

    assert.equal(response.status, 400);
    assert.deepEqual(response.body.error, {
      code: 'INVALID_INPUT',
      message: 'from: must be between the years 1 and 9999',
      details: { field: 'from' },
    });
  });

  it('refuses limit=101, a malformed date and a malformed action with 400 VALIDATION_FAILED', async () => {
    for (const query of ['limit=101', 'from=yesterday', 'action=Auth.Login', 'userId=0']) {
      const response = await asAdmin('GET', `/admin/audit-logs?${query}`);
      assert.equal(response.status, 400, query);
      assert.equal(errorCode(response), 'VALIDATION_FAILED');
    }
  });
});

describe('ADMIN_USERNAMES', () => {
  it('reserves every listed name: registering one is 409 USERNAME_TAKEN, even with no account yet', async () => {
    const unused = await t.request('POST', '/auth/register', {
      body: { username: 'ROOT', password: PASSWORD },
    });
    const taken = await t.request('POST', '/auth/register', {
      body: { username: 'Ａｄｍｉｎ', password: PASSWORD },
    });

    assert.equal(unused.status, 409);
    assert.equal(errorCode(unused), 'USERNAME_TAKEN');
    assert.equal(taken.status, 409);
    const { rows } = await t.database.db.pool.query(
      `SELECT count(*)::int AS n FROM users WHERE username = 'root'`,
    );
    assert.equal(rows[0].n, 0);
  });

  it('keeps an admin from deactivating or deleting their own account: 409 SELF_LOCKOUT', async () => {
    const me = (await asAdmin('GET', '/auth/me')).body.user.id;

    const deactivate = await asAdmin('PATCH', `/admin/users/${me}`, { isActive: false });
    const remove = await asAdmin('DELETE', `/admin/users/${me}`);

    assert.deepEqual([deactivate.status, remove.status], [409, 409]);
    assert.deepEqual([errorCode(deactivate), errorCode(remove)], ['SELF_LOCKOUT', 'SELF_LOCKOUT']);
    assert.equal((await asAdmin('GET', '/auth/me')).status, 200);
  });

  it('is read case-insensitively: "Admin" in the list makes "admin" an admin', async () => {
    const response = await asAdmin('GET', '/admin/users?limit=1');

    assert.equal(response.status, 200);
  });
});
