import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import type { FastifyRequest } from 'fastify';

import { ERROR_CODES } from '../src/errors.js';
import { MAX_NORMALIZED_USERNAME, normalizeUsername } from '../src/http/routes/auth.js';
import { PASSWORD, type RequestOptions, type Response, startApp, type TestApp } from './helpers/app.js';

/*
 * Hostile and clumsy input. Whatever arrives, the answer is a 4xx with the error body
 * { error: { code, message, details? } }, a registered code whose status is the one sent, and no
 * stack trace. BODY_LIMIT is small so an oversized body is cheap to send.
 */

const BODY_LIMIT = 4096;

let t: TestApp;
let token: string;
before(async () => {
  t = await startApp({ env: { BODY_LIMIT: String(BODY_LIMIT) } });
  token = (await t.signUp('holder')).token;
});
after(async () => {
  await t.close();
});

/** Asserts the error contract and returns the response for further checks. */
function assertRefusal(response: Response, status: number, code: string): void {
  assert.equal(response.status, status, response.text);
  assert.ok(response.status < 500, 'never a 5xx');
  assert.deepEqual(Object.keys(response.body), ['error']);
  const keys = Object.keys(response.body.error).sort();
  assert.ok(['code,message', 'code,details,message'].includes(keys.join(',')), `error keys: ${keys}`);
  assert.equal(response.body.error.code, code);
  assert.equal(ERROR_CODES[code as keyof typeof ERROR_CODES].status, status);
  assert.equal(typeof response.body.error.message, 'string');
  assert.doesNotMatch(response.text, /stack|\bat .+\(.*:\d+:\d+\)|node_modules|\/src\//);
  assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
}

const json = (raw: string, contentType = 'application/json'): RequestOptions => ({
  raw,
  headers: { 'content-type': contentType },
});

interface Case {
  what: string;
  options: RequestOptions;
  status: number;
  code: string;
  /** The field the first detail names, for validation failures. */
  field?: string;
}

/** A JSON body the schema refuses, naming field. */
const invalid = (what: string, body: unknown, field?: string): Case => ({
  what,
  options: { body },
  status: 400,
  code: 'VALIDATION_FAILED',
  ...(field !== undefined && { field }),
});

/** A raw body, sent with a content type, refused with status and code. */
const raw = (what: string, options: RequestOptions, status: number, code: string): Case => ({
  what,
  options,
  status,
  code,
});

const valid = { username: 'newcomer', password: PASSWORD };
const withPassword = (password: string) => ({ ...valid, password });
/** A valid registration as raw JSON, with one more member written out as is. */
const jsonWith = (member: string) => json(`{"username":"newcomer","password":"${PASSWORD}",${member}}`);

const registerCases: Case[] = [
  // wrong types
  invalid('a numeric username', { ...valid, username: 123 }, 'body.username'),
  invalid('a boolean password', { ...valid, password: true }, 'body.password'),
  invalid('a password given as an array', { ...valid, password: [PASSWORD] }, 'body.password'),
  invalid('an email given as an object', { ...valid, email: { address: 'a@b.c' } }, 'body.email'),
  invalid('a null email', { ...valid, email: null }, 'body.email'),
  invalid('a body that is an array', [valid]),
  raw('a body that is a string', json('"newcomer"'), 400, 'VALIDATION_FAILED'),
  raw('a body that is null', json('null'), 400, 'VALIDATION_FAILED'),
  raw('a body that is a number', json('1e400'), 400, 'VALIDATION_FAILED'),
  // missing and unknown fields
  invalid('an empty object', {}, 'body.username'),
  invalid('an unknown field', { ...valid, isAdmin: true }, 'body.isAdmin'),
  // prototype poisoning is refused by the JSON parser itself
  raw('a __proto__ key', jsonWith('"__proto__":{"isAdmin":true}'), 400, 'INVALID_JSON'),
  raw('a constructor.prototype key', jsonWith('"constructor":{"prototype":{"x":1}}'), 400, 'INVALID_JSON'),
  // over-long strings
  invalid('a 1,000-character username', { ...valid, username: 'u'.repeat(1000) }, 'body.username'),
  invalid('a 1,025-character password', withPassword('p'.repeat(1025)), 'body.password'),
  invalid('a 300-character email', { ...valid, email: `${'e'.repeat(290)}@example.com` }, 'body.email'),
  // control characters
  invalid('a NUL in the username', { ...valid, username: 'new\u0000comer' }, 'body.username'),
  invalid('a NUL in the password', withPassword(`${PASSWORD}\u0000`), 'body.password'),
  invalid('a bell in the password', withPassword(`${PASSWORD}\u0007`), 'body.password'),
  invalid('a DEL in the password', withPassword(`${PASSWORD}\u007f`), 'body.password'),
  invalid('a C1 control (NEL) in the password', withPassword(`${PASSWORD}\u0085`), 'body.password'),
  invalid('a C1 control in the password', withPassword(`abc${'\u0080'.repeat(13)}`), 'body.password'),
  invalid('a newline in the email', { ...valid, email: 'new\ncomer@example.com' }, 'body.email'),
  {
    ...raw(
      'a lone surrogate in the username',
      jsonWith('"username":"new\\ud800comer"'),
      400,
      'VALIDATION_FAILED',
    ),
    field: 'body.username',
  },
  // malformed JSON and other media
  raw('truncated JSON', json('{"username":"newcomer",'), 400, 'INVALID_JSON'),
  raw('JSON with single quotes', json("{'username':'newcomer'}"), 400, 'INVALID_JSON'),
  raw('an empty JSON body', json(''), 400, 'INVALID_JSON'),
  raw('a text/plain body', json(JSON.stringify(valid), 'text/plain'), 415, 'UNSUPPORTED_MEDIA_TYPE'),
  raw(
    'a form-encoded body',
    json('username=a', 'application/x-www-form-urlencoded'),
    415,
    'UNSUPPORTED_MEDIA_TYPE',
  ),
  raw(
    'an application/jsonx body',
    json(JSON.stringify(valid), 'application/jsonx'),
    415,
    'UNSUPPORTED_MEDIA_TYPE',
  ),
  raw('a body with no content type', { raw: JSON.stringify(valid) }, 415, 'UNSUPPORTED_MEDIA_TYPE'),
  raw('a body over BODY_LIMIT', { body: withPassword('x'.repeat(BODY_LIMIT)) }, 413, 'PAYLOAD_TOO_LARGE'),
];

const login = (username: unknown, password: unknown = PASSWORD) => ({ username, password });

const loginCases: Case[] = [
  invalid('a numeric password', login('holder', 42), 'body.password'),
  invalid('an object as username', login({ $ne: null }), 'body.username'),
  invalid('a missing username', { password: PASSWORD }, 'body.username'),
  invalid('an unknown field', { ...login('holder'), remember: true }, 'body.remember'),
  invalid('a 255-character login', login('l'.repeat(255)), 'body.username'),
  invalid('a login that NFKC stretches past 254', login('\ufdfa'.repeat(20)), 'body.username'),
  invalid('an escape character in the login', login('hold\u001ber'), 'body.username'),
  raw('malformed JSON', json('{"username"'), 400, 'INVALID_JSON'),
  raw('text/plain', json('holder', 'text/plain'), 415, 'UNSUPPORTED_MEDIA_TYPE'),
  raw('a body over BODY_LIMIT', { body: login('holder', 'p'.repeat(BODY_LIMIT)) }, 413, 'PAYLOAD_TOO_LARGE'),
];

for (const [path, cases] of [
  ['/auth/register', registerCases],
  ['/auth/login', loginCases],
] as const) {
  describe(`POST ${path} refuses`, () => {
    for (const { what, options, status, code, field } of cases) {
      it(`${what} with ${status} ${code}`, async () => {
        const response = await t.request('POST', path, options);

        assertRefusal(response, status, code);
        if (field !== undefined) assert.equal(response.body.error.details[0].field, field);
      });
    }
  });
}

describe('nothing bad input sends in is stored', () => {
  it('created no account from any refused registration', async () => {
    const { rows } = await t.database.db.pool.query<{ username: string }>('SELECT username FROM users');

    assert.deepEqual(
      rows.map((row) => row.username),
      ['holder'],
    );
  });

  it('still takes a valid registration afterwards', async () => {
    const response = await t.request('POST', '/auth/register', { body: valid });

    assert.equal(response.status, 201);
    assert.equal(response.body.user.username, 'newcomer');
  });
});

describe('oversized bodies', () => {
  it('refuses a chunked body over BODY_LIMIT with 413, without a Content-Length to go by', async () => {
    const chunk = new TextEncoder().encode(`{"username":"holder","password":"${'p'.repeat(BODY_LIMIT)}"}`);
    const stream = new ReadableStream({
      start(controller) {
        controller.enqueue(chunk);
        controller.close();
      },
    });

    const response = await fetch(`${t.url}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    const text = await response.text();

    assert.equal(response.status, 413);
    assert.equal(JSON.parse(text).error.code, 'PAYLOAD_TOO_LARGE');
  });
});

describe('unknown fields with hostile names', () => {
  it('names an over-long unknown field cut to 100 characters, and withholds it from the audit row', async () => {
    const name = '\ufdfa'.repeat(300);
    const response = await t.request('POST', '/auth/register', {
      body: { username: 'mallory', password: PASSWORD, [name]: 1 },
    });

    assertRefusal(response, 400, 'VALIDATION_FAILED');
    assert.equal(response.body.error.details[0].field, `body.${name.slice(0, 100)}…`);
    const [row] = await t.auditRows(`request_data->>'requestId' = $1`, [
      response.headers.get('x-request-id'),
    ]);
    assert.equal(row?.requestData.body[`${name.slice(0, 256)}…[cut]`], '[REDACTED]');
  });
});

describe('usernames too long to be worth normalising', () => {
  // U+FDFA becomes 18 characters under NFKC: 1,100 of them are 19,800 once normalised.
  const huge = '\ufdfa'.repeat(MAX_NORMALIZED_USERNAME + 76);

  for (const path of ['/auth/register', '/auth/login']) {
    it(`${path} refuses one as sent, without normalising it, with 400 VALIDATION_FAILED`, async () => {
      const response = await t.request('POST', path, { body: { username: huge, password: PASSWORD } });

      assertRefusal(response, 400, 'VALIDATION_FAILED');
      assert.equal(response.body.error.details[0].field, 'body.username');
      const [row] = await t.auditRows(`request_data->>'requestId' = $1`, [
        response.headers.get('x-request-id'),
      ]);
      assert.ok(row, 'the request wrote its audit row');
      // Registration records the name as sent (cut); login never records the name it was given.
      const recorded = path === '/auth/login' ? '[not recorded]' : `${huge.slice(0, 256)}…[cut]`;
      assert.equal(row.requestData.body.username, recorded);
    });
  }

  it('normalises up to MAX_NORMALIZED_USERNAME UTF-16 units, and leaves one more as it is', async () => {
    const atBound = { body: { username: 'Ａ'.repeat(MAX_NORMALIZED_USERNAME) } };
    const past = { body: { username: 'Ａ'.repeat(MAX_NORMALIZED_USERNAME + 1) } };

    await normalizeUsername(atBound as unknown as FastifyRequest);
    await normalizeUsername(past as unknown as FastifyRequest);

    assert.equal(atBound.body.username, 'a'.repeat(MAX_NORMALIZED_USERNAME));
    assert.equal(past.body.username, 'Ａ'.repeat(MAX_NORMALIZED_USERNAME + 1));
  });
});

describe('routes, methods and parameters', () => {
  it('answers a path no route knows with 404 ROUTE_NOT_FOUND and no Allow header, whatever the method', async () => {
    for (const [method, path] of [
      ['GET', '/nowhere'],
      ['POST', '/auth/nowhere'],
      ['GET', '/auth/me/'],
      ['GET', '/Auth/me'],
      ['GET', '/auth/sessions/'], // :id matches a non-empty segment only
      ['PUT', '/admin/users//sessions'],
      ['GET', '/admin/users/5/sessions/6'],
      // GET has a route here (@fastify/static's wildcard), which finds no such file.
      ['GET', '/docs/static/missing.css'],
    ] as const) {
      const response = await t.request(method, path, { token });

      assertRefusal(response, 404, 'ROUTE_NOT_FOUND');
      assert.equal(response.headers.get('allow'), null, `${method} ${path}`);
    }
  });

  it('answers a known path called with a method it does not serve with 405 and the methods it does', async () => {
    for (const [method, path, allow] of [
      ['PUT', '/auth/login', 'POST'],
      ['GET', '/auth/login', 'POST'],
      ['OPTIONS', '/auth/login', 'POST'],
      ['GET', '/auth/logout', 'POST'],
      ['DELETE', '/auth/register', 'POST'],
      ['PUT', '/auth/me', 'GET, HEAD'],
      ['POST', '/auth/sessions', 'GET, HEAD'],
      ['GET', '/auth/sessions/7', 'DELETE'],
      ['POST', '/admin/users', 'GET, HEAD'],
      ['PUT', '/admin/users/5', 'DELETE, PATCH'],
      ['POST', '/admin/users/5/sessions', 'GET, HEAD'],
      ['DELETE', '/health', 'GET, HEAD'],
      ['POST', '/docs/json', 'GET, HEAD'],
      ['POST', '/docs/', 'GET, HEAD'], // a route onRoute is not told about, beside '/docs'
      // As the router sees it: the query string aside, the path percent-decoded.
      ['GET', '/auth/logi%6E?next=%2F', 'POST'],
    ] as const) {
      const response = await t.request(method, path);

      assertRefusal(response, 405, 'METHOD_NOT_ALLOWED');
      assert.equal(response.headers.get('allow'), allow, `${method} ${path}`);
    }
  });

  it('answers 405 before it checks the caller: the method is wrong whoever asks', async () => {
    const signedIn = await t.request('POST', '/admin/users/5/sessions', { token });
    const anonymous = await t.request('POST', '/admin/users/5/sessions');

    assert.deepEqual([signedIn.status, anonymous.status], [405, 405]);
  });

  it('answers HEAD on a path without a GET route with 405, the Allow header and no body', async () => {
    const response = await t.request('HEAD', '/auth/login');

    assert.equal(response.status, 405);
    assert.equal(response.headers.get('allow'), 'POST');
    assert.equal(response.text, '');
  });

  it('serves HEAD wherever it serves GET, as the Allow header says', async () => {
    assert.equal((await t.request('HEAD', '/auth/me', { token })).status, 200);
    assert.equal((await t.request('HEAD', '/health')).status, 200);
  });

  it('checks the caller before the input: a bad session id without a token is 401', async () => {
    assertRefusal(await t.request('DELETE', '/auth/sessions/abc'), 401, 'UNAUTHORIZED');
  });

  it('refuses a session id that is not a positive 32-bit integer with 400', async () => {
    for (const id of ['abc', '0', '-1', '1.5', '2147483648', '99999999999999999999']) {
      const response = await t.request('DELETE', `/auth/sessions/${id}`, { token });
      assertRefusal(response, 400, 'VALIDATION_FAILED');
      assert.equal(response.body.error.details[0].field, 'params.id', id);
    }
  });

  it('answers a malformed percent-encoding in the path with the error body, 400 VALIDATION_FAILED', async () => {
    assertRefusal(await t.request('DELETE', '/auth/sessions/%E0%A4%A', { token }), 400, 'VALIDATION_FAILED');
    assertRefusal(await t.request('GET', '/nowhere/%zz'), 400, 'VALIDATION_FAILED');
  });

  it('answers a path parameter over 100 characters with the error body, 400 VALIDATION_FAILED', async () => {
    const response = await t.request('DELETE', `/auth/sessions/${'1'.repeat(101)}`, { token });

    assertRefusal(response, 400, 'VALIDATION_FAILED');
  });

  it('refuses an empty JSON body on a route that takes none', async () => {
    const response = await t.request('POST', '/auth/logout', { token, ...json('') });

    assertRefusal(response, 400, 'INVALID_JSON');
    assert.equal((await t.request('GET', '/auth/me', { token })).status, 200, 'the session is untouched');
  });
});
