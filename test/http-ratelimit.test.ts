import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { PASSWORD, type Response, startApp, type TestApp } from './helpers/app.js';

/*
 * Login throttling with LOGIN_MAX_PER_ACCOUNT=3 in a 900-second window. Each test uses its own
 * account names, so their counts never meet; the per-address test varies the address through
 * X-Forwarded-For on an app that trusts it.
 */

const WINDOW_SECONDS = 900;
const limits = { LOGIN_MAX_PER_ACCOUNT: '3', LOGIN_RATE_WINDOW_SECONDS: String(WINDOW_SECONDS) };

let t: TestApp;
before(async () => {
  t = await startApp({ env: limits });
  for (const username of ['amy', 'bo1', 'cal', 'dot', 'ed1', 'fay']) await t.register(username);
  await t.register('gil', { email: 'gil@example.com' });
});
after(async () => {
  await t.close();
});

function attempt(app: TestApp, username: string, password: string, headers: Record<string, string> = {}) {
  return app.request('POST', '/auth/login', { body: { username, password }, headers });
}

const WRONG = 'certainly not the password';

function assertRateLimited(response: Response): void {
  assert.equal(response.status, 429, response.text);
  assert.equal(response.body.error.code, 'RATE_LIMITED');
  assert.equal(response.body.error.message, 'Too many attempts. Try again later.');
  const retryAfter = response.headers.get('retry-after');
  assert.match(retryAfter ?? '', /^\d+$/, 'Retry-After is a number of seconds');
  assert.ok(Number(retryAfter) > 0 && Number(retryAfter) <= WINDOW_SECONDS, `Retry-After: ${retryAfter}`);
  assert.equal(response.body.error.details.retryAfterSeconds, Number(retryAfter));
  assert.equal(response.body.accessToken, undefined);
}

describe('per account', () => {
  it('refuses the 4th attempt with 429 and Retry-After, even with the right password', async () => {
    const statuses = [];
    for (let i = 0; i < 3; i += 1) statuses.push((await attempt(t, 'amy', WRONG)).status);

    const fourth = await attempt(t, 'amy', PASSWORD);

    assert.deepEqual(statuses, [401, 401, 401]);
    assertRateLimited(fourth);
  });

  it('counts the account whatever its spelling: AMY and ａｍｙ are amy', async () => {
    assertRateLimited(await attempt(t, 'AMY', PASSWORD));
    assertRateLimited(await attempt(t, 'ａｍｙ', PASSWORD));
  });

  it('counts one account once, whether it is named by username or by email', async () => {
    const statuses = [
      (await attempt(t, 'gil', WRONG)).status,
      (await attempt(t, 'GIL@example.com', WRONG)).status,
      (await attempt(t, 'gil', WRONG)).status,
    ];

    const fourth = await attempt(t, 'gil@example.com', PASSWORD);

    assert.deepEqual(statuses, [401, 401, 401]);
    assertRateLimited(fourth);
  });

  it('limits an unknown account exactly like a real one', async () => {
    const statuses = [];
    for (let i = 0; i < 3; i += 1) statuses.push((await attempt(t, 'ghost', WRONG)).status);

    const fourth = await attempt(t, 'ghost', PASSWORD);

    assert.deepEqual(statuses, [401, 401, 401]);
    assertRateLimited(fourth);
  });

  it('leaves other accounts alone', async () => {
    const response = await attempt(t, 'bo1', PASSWORD);

    assert.equal(response.status, 200);
  });

  it("resets the account's count on a successful login", async () => {
    const before = [(await attempt(t, 'cal', WRONG)).status, (await attempt(t, 'cal', WRONG)).status];
    const success = await attempt(t, 'cal', PASSWORD);

    const after = [];
    for (let i = 0; i < 3; i += 1) after.push((await attempt(t, 'cal', WRONG)).status);
    const fourth = await attempt(t, 'cal', WRONG);

    assert.deepEqual(before, [401, 401]);
    assert.equal(success.status, 200);
    assert.deepEqual(after, [401, 401, 401], 'three fresh attempts after the reset');
    assertRateLimited(fourth);
  });

  it('lets no more than 3 of 8 parallel guesses through', async () => {
    const responses = await Promise.all(Array.from({ length: 8 }, () => attempt(t, 'dot', WRONG)));

    const statuses = responses.map((response) => response.status).sort();
    assert.deepEqual(statuses, [401, 401, 401, 429, 429, 429, 429, 429]);
  });
});

describe('per address', () => {
  const from = (ip: string) => ({ 'x-forwarded-for': ip });
  let proxied: TestApp;
  before(async () => {
    proxied = await startApp({
      database: t.database,
      env: {
        ...limits,
        LOGIN_MAX_PER_ACCOUNT: '100',
        LOGIN_MAX_PER_IP: '3',
        REGISTER_MAX_PER_IP: '1',
        TRUST_PROXY: 'true',
      },
    });
  });
  after(async () => {
    await proxied.close();
  });

  it('refuses the 4th attempt from one address, across accounts, and not from another address', async () => {
    const statuses = [];
    for (const username of ['ip-a', 'ip-b', 'ip-c']) {
      statuses.push((await attempt(proxied, username, WRONG, from('198.51.100.7'))).status);
    }

    const fourth = await attempt(proxied, 'ed1', PASSWORD, from('198.51.100.7'));
    const elsewhere = await attempt(proxied, 'ed1', PASSWORD, from('198.51.100.8'));

    assert.deepEqual(statuses, [401, 401, 401]);
    assertRateLimited(fourth);
    assert.equal(elsewhere.status, 200);
  });

  it('counts every IPv6 address of one /64 as one address, whatever its spelling', async () => {
    const statuses = [];
    for (const [username, ip] of [
      ['v6-a', '2001:db8:7:1::a'],
      ['v6-b', '2001:DB8:7:1:ffff:0:0:b'],
      ['v6-c', '2001:0db8:0007:0001:1234:5678:9abc:def0'],
    ]) {
      statuses.push((await attempt(proxied, username!, WRONG, from(ip!))).status);
    }

    const fourth = await attempt(proxied, 'ed1', PASSWORD, from('2001:db8:7:1::d'));
    const nextPrefix = await attempt(proxied, 'ed1', PASSWORD, from('2001:db8:7:2::a'));

    assert.deepEqual(statuses, [401, 401, 401]);
    assertRateLimited(fourth);
    assert.equal(nextPrefix.status, 200);
  });

  it('counts an IPv4-mapped IPv6 address as its IPv4 address', async () => {
    const statuses = [
      (await attempt(proxied, 'v4-a', WRONG, from('203.0.113.6'))).status,
      (await attempt(proxied, 'v4-b', WRONG, from('::ffff:203.0.113.6'))).status,
      (await attempt(proxied, 'v4-c', WRONG, from('0:0:0:0:0:ffff:cb00:7106'))).status,
    ];

    const fourth = await attempt(proxied, 'ed1', PASSWORD, from('::FFFF:203.0.113.6'));

    assert.deepEqual(statuses, [401, 401, 401]);
    assertRateLimited(fourth);
  });

  it('counts registrations per /64 too', async () => {
    const register = (username: string, ip: string) =>
      proxied.request('POST', '/auth/register', {
        body: { username, password: PASSWORD },
        headers: from(ip),
      });

    const first = await register('v6-reg-a', '2001:db8:8:1::a');
    const second = await register('v6-reg-b', '2001:db8:8:1::b');

    assert.equal(first.status, 201, first.text);
    assert.equal(second.status, 429, second.text);
    assert.equal(second.body.error.code, 'RATE_LIMITED');
  });
});

describe('two instances on one database', () => {
  let second: TestApp;
  before(async () => {
    second = await startApp({ database: t.database, ownPool: true, env: limits });
  });
  after(async () => {
    await second.close();
  });

  it('share the counts: 2 attempts on one and 1 on the other leave no 4th', async () => {
    const statuses = [
      (await attempt(t, 'fay', WRONG)).status,
      (await attempt(second, 'fay', WRONG)).status,
      (await attempt(t, 'fay', WRONG)).status,
    ];

    const onSecond = await attempt(second, 'fay', PASSWORD);
    const onFirst = await attempt(t, 'fay', PASSWORD);

    assert.deepEqual(statuses, [401, 401, 401]);
    assertRateLimited(onSecond);
    assertRateLimited(onFirst);
  });
});
