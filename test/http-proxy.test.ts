import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { PASSWORD, startApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { captureLogs, type LogLine } from './helpers/logs.js';

/*
 * Which address is stored for a client, through a real socket from 127.0.0.1. One database for
 * the file; each TRUST_PROXY setting gets its own app, closed after its tests.
 */

let database: TestDatabase;
before(async () => {
  database = await createTestDatabase();
});
after(async () => {
  await database.drop();
});

let userCount = 0;

/** Signs a fresh user in with the given headers; returns the stored session and login audit row. */
async function signInThrough(app: TestApp, headers: Record<string, string>) {
  userCount += 1;
  const username = `user${userCount}`;
  await app.register(username);
  const login = await app.request('POST', '/auth/login', { body: { username, password: PASSWORD }, headers });
  assert.equal(login.status, 200, login.text);
  const sessions = await app.request('GET', '/auth/sessions', { token: login.body.accessToken });
  const [row] = await app.auditRows(`request_data->>'requestId' = $1`, [login.headers.get('x-request-id')]);
  return { sessionIp: sessions.body.sessions[0].ipAddress as string | null, auditIp: row?.ipAddress };
}

const WARN = 40;

/** The app's warnings that name TRUST_PROXY. */
function trustProxyWarnings(logs: LogLine[]): LogLine[] {
  return logs.filter((line) => line.level === WARN && line.variable === 'TRUST_PROXY');
}

function withTrustProxy(
  value: string | undefined,
  tests: (app: () => TestApp, logs: LogLine[]) => void,
): void {
  describe(`TRUST_PROXY=${value ?? '(unset)'}`, () => {
    const { logger, lines } = captureLogs('info');
    let app: TestApp;
    before(async () => {
      app = await startApp({ database, logger, env: value === undefined ? {} : { TRUST_PROXY: value } });
    });
    after(async () => {
      await app.close();
    });
    tests(() => app, lines);
  });
}

withTrustProxy(undefined, (app, logs) => {
  it('ignores X-Forwarded-For and stores the socket address, 127.0.0.1', async () => {
    const stored = await signInThrough(app(), { 'x-forwarded-for': '203.0.113.9' });

    assert.deepEqual(stored, { sessionIp: '127.0.0.1', auditIp: '127.0.0.1' });
  });

  it('warns about nothing', () => {
    assert.deepEqual(trustProxyWarnings(logs), []);
  });
});

withTrustProxy('false', (app) => {
  it('ignores X-Forwarded-For', async () => {
    const stored = await signInThrough(app(), { 'x-forwarded-for': '203.0.113.9' });

    assert.deepEqual(stored, { sessionIp: '127.0.0.1', auditIp: '127.0.0.1' });
  });
});

withTrustProxy('true', (app, logs) => {
  it('warns once at start-up, naming TRUST_PROXY, that every X-Forwarded-For hop is trusted', () => {
    const warnings = trustProxyWarnings(logs);

    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!.msg, /TRUST_PROXY=true/);
    assert.match(warnings[0]!.msg, /only through the proxy/);
  });

  it('stores the forwarded address in the session and the audit row', async () => {
    const stored = await signInThrough(app(), { 'x-forwarded-for': '203.0.113.9' });

    assert.deepEqual(stored, { sessionIp: '203.0.113.9', auditIp: '203.0.113.9' });
  });

  it('takes the client, the first address, of a chain', async () => {
    const stored = await signInThrough(app(), { 'x-forwarded-for': '203.0.113.10, 10.0.0.1' });

    assert.deepEqual(stored, { sessionIp: '203.0.113.10', auditIp: '203.0.113.10' });
  });

  it('stores an IPv6 client address', async () => {
    const stored = await signInThrough(app(), { 'x-forwarded-for': '2001:db8::7' });

    assert.deepEqual(stored, { sessionIp: '2001:db8::7', auditIp: '2001:db8::7' });
  });

  it('takes the address from a forwarded value with a port, as some proxies send it', async () => {
    assert.deepEqual(await signInThrough(app(), { 'x-forwarded-for': '203.0.113.9:4711' }), {
      sessionIp: '203.0.113.9',
      auditIp: '203.0.113.9',
    });
    assert.deepEqual(await signInThrough(app(), { 'x-forwarded-for': '[2001:db8::8]:443' }), {
      sessionIp: '2001:db8::8',
      auditIp: '2001:db8::8',
    });
  });

  it('stores no address, and still signs in, when the forwarded value is not an address', async () => {
    const stored = await signInThrough(app(), { 'x-forwarded-for': 'not-an-address' });

    assert.deepEqual(stored, { sessionIp: null, auditIp: null });
  });

  it('uses the socket address when no X-Forwarded-For is sent', async () => {
    const stored = await signInThrough(app(), {});

    assert.deepEqual(stored, { sessionIp: '127.0.0.1', auditIp: '127.0.0.1' });
  });
});

withTrustProxy('127.0.0.1', (app, logs) => {
  it('does not warn: only the named proxy is trusted', () => {
    assert.deepEqual(trustProxyWarnings(logs), []);
  });

  it('stores the address the trusted proxy forwarded', async () => {
    const stored = await signInThrough(app(), { 'x-forwarded-for': '198.51.100.20' });

    assert.deepEqual(stored, { sessionIp: '198.51.100.20', auditIp: '198.51.100.20' });
  });

  it('ignores what the client wrote before the address the proxy added', async () => {
    const stored = await signInThrough(app(), { 'x-forwarded-for': '192.0.2.66, 198.51.100.21' });

    assert.deepEqual(stored, { sessionIp: '198.51.100.21', auditIp: '198.51.100.21' });
  });
});

withTrustProxy('10.0.0.0/8', (app) => {
  it('ignores X-Forwarded-For from a peer outside the trusted range', async () => {
    const stored = await signInThrough(app(), { 'x-forwarded-for': '198.51.100.23' });

    assert.deepEqual(stored, { sessionIp: '127.0.0.1', auditIp: '127.0.0.1' });
  });
});
