import assert from 'node:assert/strict';
import { createServer, type Server, type Socket, connect } from 'node:net';
import { after, before, describe, it } from 'node:test';

import type { FastifyInstance } from 'fastify';

import { DatabaseService } from '../src/db/database.js';
import { buildApp } from '../src/http/app.js';
import { TokenService } from '../src/http/tokens.js';
import { PASSWORD, type Response, send, startApp, type TestApp, testConfig } from './helpers/app.js';
import { createTestDatabase, onPostgres, type TestDatabase } from './helpers/database.js';
import { unusedPort } from './helpers/fixtures.js';

/*
 * GET /health, and what every route answers while the database cannot be reached: 503, never
 * another 5xx. The unreachable database is a pool aimed at a loopback port nothing listens on, or
 * a TCP relay this file starts in front of the real test database and then shuts.
 */

let database: TestDatabase;
before(async () => {
  database = await createTestDatabase();
});
after(async () => {
  await database.drop();
});

const quickPool = { min: 0, max: 4, connectionTimeoutMs: 2_000, idleTimeoutMs: 1_000 };

function assertUnavailable(response: Response): void {
  assert.equal(response.status, 503, response.text);
  assert.deepEqual(response.body, {
    error: { code: 'SERVICE_UNAVAILABLE', message: 'The service is temporarily unavailable.' },
  });
}

describe('with the database up', () => {
  let t: TestApp;
  before(async () => {
    t = await startApp({ database });
  });
  after(async () => {
    await t.close();
  });

  it('GET /health answers 200 {status: "ok", database: "up"}', async () => {
    const response = await t.request('GET', '/health');

    assert.equal(response.status, 200);
    assert.deepEqual(response.body, { status: 'ok', database: 'up' });
  });

  it('serves the OpenAPI document, which lists every route', async () => {
    const response = await t.request('GET', '/docs/json');

    assert.equal(response.status, 200);
    assert.deepEqual(Object.keys(response.body.paths).sort(), [
      '/admin/audit-logs',
      '/admin/users',
      '/admin/users/{id}',
      '/admin/users/{id}/sessions',
      '/auth/login',
      '/auth/logout',
      '/auth/logout-all',
      '/auth/me',
      '/auth/password',
      '/auth/register',
      '/auth/sessions',
      '/auth/sessions/{id}',
      '/health',
    ]);
  });
});

describe('with a database that never answered', () => {
  let db: DatabaseService;
  let app: FastifyInstance;
  let url: string;
  before(async () => {
    db = new DatabaseService({
      url: `postgresql://postgres@127.0.0.1:${await unusedPort()}/gone`,
      pool: quickPool,
    });
    app = await buildApp({ config: testConfig({ AUDIT_FLUSH_INTERVAL_MS: '60000' }), db });
    url = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  after(async () => {
    await app.close();
    await db.disconnect();
  });

  it('GET /health answers 503 {status: "unavailable", database: "down"}', async () => {
    const response = await send(url, 'GET', '/health');

    assert.equal(response.status, 503);
    assert.deepEqual(response.body, { status: 'unavailable', database: 'down' });
  });

  it('login and registration answer 503 SERVICE_UNAVAILABLE', async () => {
    assertUnavailable(
      await send(url, 'POST', '/auth/login', { body: { username: 'amy', password: PASSWORD } }),
    );
    assertUnavailable(
      await send(url, 'POST', '/auth/register', { body: { username: 'amy', password: PASSWORD } }),
    );
  });

  it('a signed-in route answers 503, not 401, for a well-signed token it cannot check', async () => {
    const { token } = await new TokenService(testConfig().jwt.secret as string, 3600).issue(1);

    assertUnavailable(await send(url, 'GET', '/auth/me', { token }));
    assertUnavailable(await send(url, 'GET', '/admin/users', { token }));
  });

  it('still refuses bad input and unknown routes with their 4xx, which need no database', async () => {
    const invalid = await send(url, 'POST', '/auth/login', { body: { username: 'amy' } });
    const unknown = await send(url, 'GET', '/nowhere');
    const anonymous = await send(url, 'GET', '/auth/me');

    assert.deepEqual([invalid.status, unknown.status, anonymous.status], [400, 404, 401]);
  });
});

/** A TCP relay to the database that can be shut, cutting every connection, and opened again. */
class Relay {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  /** A TCP address, or the path of a Unix socket (the embedded PGlite listens on one). */
  constructor(private readonly target: { host: string; port: number } | { path: string }) {}

  async open(): Promise<void> {
    const server = createServer((client) => {
      const upstream =
        'path' in this.target ? connect(this.target.path) : connect(this.target.port, this.target.host);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }

  async shut(): Promise<void> {
    const closed = new Promise((resolve) => this.server?.close(resolve));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }
}

describe('with a database that goes away and comes back', () => {
  let relay: Relay;
  let db: DatabaseService;
  let app: FastifyInstance;
  let url: string;
  before(async () => {
    const target = new URL(database.url);
    const socketDir = target.searchParams.get('host');
    relay = new Relay(
      socketDir
        ? { path: `${socketDir}/.s.PGSQL.5432` }
        : { host: target.hostname, port: Number(target.port || 5432) },
    );
    await relay.open();
    target.searchParams.delete('host');
    target.host = `127.0.0.1:${relay.port}`;
    db = new DatabaseService({ url: target.toString(), pool: quickPool, preparedStatements: onPostgres });
    await db.connect();
    app = await buildApp({ config: testConfig(), db });
    url = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  after(async () => {
    await app.close();
    await db.disconnect();
    await relay.shut();
  });

  it('answers 200, then 503 while the database is unreachable, then 200 again', async () => {
    const up = await send(url, 'GET', '/health');
    await relay.shut();
    const down = await send(url, 'GET', '/health');
    const login = await send(url, 'POST', '/auth/login', { body: { username: 'amy', password: PASSWORD } });
    await relay.open();
    const back = await send(url, 'GET', '/health');

    assert.deepEqual([up.status, down.status, back.status], [200, 503, 200]);
    assert.deepEqual(down.body, { status: 'unavailable', database: 'down' });
    assertUnavailable(login);
  });
});
