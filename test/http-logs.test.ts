import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';

import { PASSWORD, startApp, type TestApp } from './helpers/app.js';
import { captureLogs } from './helpers/logs.js';

/*
 * The service's own log lines, captured with the project's logger options (redaction included)
 * at the most verbose level, after a session's worth of requests that carry secrets.
 */

const INFO = 30;
const ERROR = 50;

const { logger, lines } = captureLogs('trace');
let t: TestApp;
let token: string;

before(async () => {
  t = await startApp({ logger });
  await t.register('logan', { password: PASSWORD });
  token = (await t.login('logan')).token;
  await t.request('GET', '/auth/me', { headers: { authorization: `Bearer ${token}` } });
  await t.request('GET', `/auth/me?access_token=${token}&page=2`);
  // 405 and 404 log their URL themselves.
  await t.request('GET', '/auth/login?password=query-secret-405');
  await t.request('GET', '/nowhere?token=query-secret-404');
  await t.request('POST', '/auth/login', {
    body: { username: 'logan', password: 'a wrong password, also secret' },
  });
  await t.request('POST', '/auth/register', { body: { username: 'x', password: 'short secret' } });
  await t.request('POST', '/auth/logout', {
    headers: { authorization: `Bearer ${token}`, cookie: 'sid=cookie-secret' },
  });
});
after(async () => {
  await t.close();
});

it('never writes a password, a token, a cookie or a password hash to the log', async () => {
  const { rows } = await t.database.db.pool.query('SELECT password_hash FROM users');
  const text = JSON.stringify(lines);

  const secrets = [
    PASSWORD,
    'a wrong password, also secret',
    'short secret',
    token,
    'cookie-secret',
    'query-secret-405',
    'query-secret-404',
  ];
  for (const secret of secrets) {
    assert.equal(text.includes(secret), false, `a log line holds ${secret.slice(0, 12)}…`);
  }
  for (const row of rows) assert.equal(text.includes(row.password_hash), false, 'a log line holds a hash');
  assert.ok(lines.length > 10, 'the requests were logged');
  const urls = lines.map((line) => (line.req as { url?: string } | undefined)?.url).filter(Boolean);
  assert.ok(urls.includes('/auth/me?access_token=%5BREDACTED%5D&page=2'), 'the query was logged, redacted');
  const notFound = lines.filter(
    (line) => line.msg === 'route not found' || line.msg === 'method not allowed',
  );
  assert.deepEqual(notFound.map((line) => line.url).sort(), [
    '/auth/login?password=%5BREDACTED%5D',
    '/nowhere?token=%5BREDACTED%5D',
  ]);
});

it('logs refused requests at info with their code and request id, and no 5xx happened', () => {
  const refused = lines.filter((line) => line.msg === 'request refused');

  assert.deepEqual(refused.map((line) => [line.level, line.code]).sort(), [
    [INFO, 'INVALID_CREDENTIALS'],
    [INFO, 'UNAUTHORIZED'],
    [INFO, 'VALIDATION_FAILED'],
  ]);
  for (const line of refused) assert.match(String(line.reqId), /^[0-9a-f-]{36}$/);
  assert.equal(lines.filter((line) => line.level >= ERROR).length, 0);
});

it('logs the size of the password blocklist once, at start-up', () => {
  const loaded = lines.filter((line) => line.msg === 'password blocklist loaded');

  assert.equal(loaded.length, 1);
  assert.equal(loaded[0]?.level, INFO);
  assert.equal(loaded[0]?.blocklistSize, t.app.services.passwords.blocklistSize);
  assert.ok(Number(loaded[0]?.blocklistSize) > 0, 'the built-in list is in force');
});
