import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { Agent, type IncomingMessage, request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';

import { JWT_SECRET, PASSWORD, readAuditRows, send } from './helpers/app.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';

/*
 * The real entry point (src/main.ts) as a child process on this file's database, with the audit
 * flush timer set to a minute so only the shutdown can write the rows. SIGTERM must finish what
 * is in flight, flush every audit row and exit 0.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const EXIT_TIMEOUT_MS = 60_000;

let database: TestDatabase;
before(async () => {
  database = await createTestDatabase();
});
after(async () => {
  await database.drop();
});

interface Server {
  readonly child: ChildProcess;
  /** The address the child printed once listening: it binds a port of its own choosing. */
  readonly url: string;
  readonly port: number;
  /** Everything the child wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves once the output contains text. */
  waitFor(text: string): Promise<void>;
  /** Resolves with the exit code; fails the test if the child has not exited in time. */
  exited(): Promise<number | null>;
}

async function startServer(extraEnv: Record<string, string> = {}): Promise<Server> {
  // PORT=0: a port chosen by the test and handed over would be free only until the child, a
  // second or more later, binds it; a test file running alongside can take it in between.
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      HOST: '127.0.0.1',
      PORT: '0',
      DATABASE_URL: database.url,
      JWT_SECRET,
      SEED_ADMIN_PASSWORD: 'shutdown test admin password',
      SEED_TEST_PASSWORD: 'shutdown test user password',
      CLEANUP_ENABLED: 'false',
      AUDIT_FLUSH_INTERVAL_MS: '60000',
      DB_POOL_MIN: '1',
      DOCS_ENABLED: 'false',
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });

  let output = '';
  const waiters: { text: string; resolve: () => void }[] = [];
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
    for (const waiter of waiters.filter((w) => output.includes(w.text))) {
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve();
    }
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exit = once(child, 'exit').then(([code]) => code as number | null);

  let port = 0;
  const server: Server = {
    child,
    get port() {
      return port;
    },
    get url() {
      return `http://127.0.0.1:${port}`;
    },
    output: () => output,
    waitFor(text) {
      if (output.includes(text)) return Promise.resolve();
      const seen = new Promise<void>((resolve) => waiters.push({ text, resolve }));
      const died = exit.then(() => {
        throw new Error(`server exited before printing "${text}":\n${output}`);
      });
      return Promise.race([seen, died]);
    },
    async exited() {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          child.kill('SIGKILL');
          reject(new Error(`server did not exit within ${EXIT_TIMEOUT_MS} ms:\n${output}`));
        }, EXIT_TIMEOUT_MS);
      });
      try {
        return await Promise.race([exit, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
  };
  await server.waitFor('is listening on');
  await server.waitFor('(database: '); // the rest of the line that names the address
  const listening = /is listening on http:\/\/127\.0\.0\.1:(\d+) /.exec(output);
  assert.ok(listening, `no address in:\n${output}`);
  port = Number(listening[1]);
  return server;
}

async function countRows(): Promise<Record<string, number>> {
  const rows = await readAuditRows(database.db);
  const counts: Record<string, number> = {};
  for (const row of rows) counts[row.action] = (counts[row.action] ?? 0) + 1;
  return counts;
}

describe('SIGTERM', () => {
  let server: Server | undefined;
  after(() => {
    // Only if a test failed half-way: the child is ours, ended by its own handle.
    if (server && server.child.exitCode === null) server.child.kill('SIGKILL');
  });

  it('loses no audit row: every answered request has its row once the process exits 0', async () => {
    server = await startServer();
    const base = server.url;
    const failedLogins = Array.from({ length: 6 }, (_, i) =>
      send(base, 'POST', '/auth/login', { body: { username: `ghost${i}`, password: PASSWORD } }),
    );
    const registrations = Array.from({ length: 3 }, (_, i) =>
      send(base, 'POST', '/auth/register', { body: { username: `early${i}`, password: PASSWORD } }),
    );
    const responses = await Promise.all([...failedLogins, ...registrations]);
    assert.deepEqual(
      responses.map((response) => response.status),
      [401, 401, 401, 401, 401, 401, 201, 201, 201],
    );
    assert.deepEqual(await countRows(), {}, 'nothing flushed before the signal');

    server.child.kill('SIGTERM');
    const code = await server.exited();

    assert.equal(code, 0, server.output());
    assert.deepEqual(await countRows(), { 'auth.login_failed': 6, 'auth.register': 3 });
    assert.match(server.output(), /shutdown complete/);
  });

  it('finishes a request already in flight when the signal arrives, and writes its row', async () => {
    const before = await readAuditRows(database.db);
    server = await startServer();
    const body = JSON.stringify({ username: 'late-comer', password: PASSWORD });
    // A client that would keep the connection open for as long as the server lets it.
    const agent = new Agent({ keepAlive: true, timeout: 0 });

    // Expect: 100-continue lets the test know the server holds the request before it signals.
    const request = httpRequest(`${server.url}/auth/register`, {
      agent,
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        expect: '100-continue',
      },
    });
    const response = once(request, 'response');
    await once(request, 'continue');
    server.child.kill('SIGTERM');
    await server.waitFor('shutting down');
    request.end(body);

    const [incoming] = (await response) as [IncomingMessage];
    let text = '';
    for await (const chunk of incoming) text += chunk;
    const code = await server.exited();
    agent.destroy();

    assert.equal(incoming.statusCode, 201, text);
    assert.equal(incoming.headers.connection, 'close', 'a response sent while closing ends its connection');
    assert.equal(JSON.parse(text).user.username, 'late-comer');
    assert.equal(code, 0, server.output());
    const added = (await readAuditRows(database.db)).slice(before.length);
    assert.deepEqual(
      added.map((row) => [row.action, row.responseStatus, row.requestData.requestId]),
      [['auth.register', 201, incoming.headers['x-request-id']]],
    );
  });

  it('refuses a new connection once it has exited, and the account it created exists', async () => {
    const refused = await send(server!.url, 'GET', '/health').then(
      () => 'answered',
      (error: Error & { cause?: { code?: string } }) => error.cause?.code ?? error.message,
    );
    const user = await database.db.users.findByUsername('late-comer');

    assert.equal(refused, 'ECONNREFUSED');
    assert.equal(user?.username, 'late-comer');
  });
});

describe('SIGTERM with a client that never finishes its request', () => {
  it('closes that connection after SHUTDOWN_TIMEOUT_MS and exits 0, instead of waiting for it', async () => {
    const server = await startServer({ SHUTDOWN_TIMEOUT_MS: '300' });
    const socket = connect(server.port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write(
      'POST /auth/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
        'Content-Length: 100\r\n\r\n{"user',
    );
    socket.on('error', () => undefined); // a reset is one way for the server to end it
    socket.resume(); // read whatever the server answers, so its end of the stream can arrive
    const closed = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), EXIT_TIMEOUT_MS);
      socket.on('close', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });

    server.child.kill('SIGTERM');
    const code = await server.exited();

    assert.equal(code, 0, server.output());
    assert.match(server.output(), /shutdown complete/);
    assert.equal(await closed, true, 'the stalled connection was closed');
  });
});
