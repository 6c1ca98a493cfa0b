import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, connect as connectTcp, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';

import pg from 'pg';

import { loadConfig } from '../src/config.js';
import { DatabaseService } from '../src/db/database.js';
import { createPool } from '../src/db/pool.js';
import { createEmptyDatabase, type EmptyDatabase, onPostgres } from './helpers/database.js';

/*
 * Each pool setting is taken from the environment through loadConfig, handed to DatabaseService and
 * observed on the pg.Pool it builds. The database is empty: the pool needs nothing but a server.
 * The last test drops that database, so it stays last.
 */

let empty: EmptyDatabase;
let destroyed = false;
const services: DatabaseService[] = [];
before(async () => {
  empty = await createEmptyDatabase();
});
afterEach(async () => {
  await Promise.all(services.splice(0).map((service) => service.disconnect().catch(() => undefined)));
});
after(async () => {
  if (!destroyed) await empty.destroy();
});

/** A DatabaseService on the test database whose pool settings come from `env`, closed after the test. */
function serviceFrom(env: NodeJS.ProcessEnv, url = empty.url): DatabaseService {
  const service = new DatabaseService({ url, pool: loadConfig(env).pool });
  services.push(service);
  return service;
}

/** Connections the server holds to the test database, counted from a connection of its own. */
async function serverConnections(): Promise<number> {
  const client = new pg.Client({ connectionString: empty.url });
  await client.connect();
  try {
    const { rows } = await client.query<{ count: number }>(`
      SELECT count(*)::int AS count
        FROM pg_stat_activity
       WHERE datname = current_database() AND pid <> pg_backend_pid()`);
    return rows[0]?.count ?? -1;
  } finally {
    await client.end();
  }
}

describe('DB_POOL_MIN', () => {
  it('opens that many connections on connect() and keeps them however long they stay idle', async () => {
    const db = serviceFrom({ DB_POOL_MIN: '3', DB_POOL_MAX: '5', DB_POOL_IDLE_TIMEOUT: '20' });

    await db.connect();
    assert.equal(db.pool.totalCount, 3);
    await sleep(200); // ten idle timeouts

    assert.equal(db.pool.totalCount, 3);
    assert.equal(db.pool.idleCount, 3);
    if (onPostgres) assert.equal(await serverConnections(), 3);
  });

  it('hands every connection back when one of them cannot be opened, so the pool can still close', async () => {
    const gate = await startGatekeeper(new URL(empty.url), 2);
    try {
      const db = serviceFrom({ DB_POOL_MIN: '3', DB_POOL_MAX: '5' }, gate.url);

      await assert.rejects(db.connect());

      assert.equal(db.pool.idleCount, db.pool.totalCount); // nothing left checked out
      await settlesWithin(db.disconnect(), 5000);
      assert.equal(db.pool.totalCount, 0);
    } finally {
      await gate.close();
    }
  });
});

describe('DB_POOL_MAX', () => {
  it('never opens more than that many connections: one request more waits for a free one', async () => {
    const db = serviceFrom({ DB_POOL_MIN: '0', DB_POOL_MAX: '2' });
    // Clients held by hand rather than measured from overlapping queries: the embedded database
    // runs one statement at a time, so how much two sleeping queries overlap is down to timing.
    const first = await db.pool.connect();
    const second = await db.pool.connect();
    let thirdArrived = false;
    const third = db.pool.connect().then((client) => {
      thirdArrived = true;
      return client;
    });
    await new Promise((resolve) => setTimeout(resolve, 50));

    assert.equal(db.pool.totalCount, 2);
    assert.equal(db.pool.waitingCount, 1);
    assert.equal(thirdArrived, false);
    if (onPostgres) assert.equal(await serverConnections(), 2);

    first.release();
    const reused = await third;
    assert.equal(db.pool.totalCount, 2, 'the waiting request got the released connection');
    assert.equal(db.pool.waitingCount, 0);
    assert.equal((await reused.query('SELECT 1 AS one')).rows[0].one, 1);
    reused.release();
    second.release();
  });
});

describe('DB_POOL_TIMEOUT', () => {
  it('makes a request for a connection give up when none frees up in time', async () => {
    const db = serviceFrom({ DB_POOL_MIN: '0', DB_POOL_MAX: '1', DB_POOL_TIMEOUT: '100' });
    const held = await holdOne(db.pool);
    try {
      await assert.rejects(db.pool.connect(), /timeout exceeded when trying to connect/);
    } finally {
      held.release();
    }
  });

  it('is what decides how long a request waits: a long one still waits after a short one gave up', async () => {
    const short = serviceFrom({ DB_POOL_MIN: '0', DB_POOL_MAX: '1', DB_POOL_TIMEOUT: '100' });
    const long = serviceFrom({ DB_POOL_MIN: '0', DB_POOL_MAX: '1', DB_POOL_TIMEOUT: '60000' });
    const heldShort = await holdOne(short.pool);
    const heldLong = await long.pool.connect();
    let longSettled = false;
    const waiting = long.pool.connect().finally(() => {
      longSettled = true;
    });

    await assert.rejects(short.pool.connect(), /timeout exceeded/);
    assert.equal(longSettled, false);
    heldLong.release();
    (await waiting).release();
    heldShort.release();
  });
});

describe('DB_POOL_IDLE_TIMEOUT', () => {
  it('closes connections left idle that long when DB_POOL_MIN is 0', async () => {
    const db = serviceFrom({ DB_POOL_MIN: '0', DB_POOL_MAX: '3', DB_POOL_IDLE_TIMEOUT: '50' });
    const clients = await Promise.all([1, 2, 3].map(() => db.pool.connect()));
    for (const client of clients) client.release();
    assert.equal(db.pool.totalCount, 3);

    await waitUntil(() => db.pool.totalCount === 0);

    assert.equal(db.pool.totalCount, 0);
  });
});

describe('createPool with TLS', () => {
  // The refusal comes as soon as the server answers; the timeout only stops a hang, so it leaves
  // room for a slow connection on a loaded machine.
  const settings = { min: 0, max: 1, connectionTimeoutMs: 10_000, idleTimeoutMs: 1000 };
  const remote = 'postgresql://app@db.example.internal:5432/app?sslmode=disable&application_name=api';
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'infinity-tls-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('in verify mode, checks the certificate and drops the sslmode that would switch it off', async () => {
    const pool = createPool({ url: remote, pool: settings, ssl: { mode: 'verify', caFile: undefined } });
    try {
      assert.deepEqual(pool.options.ssl, { rejectUnauthorized: true, ca: undefined });
      assert.equal(
        pool.options.connectionString,
        'postgresql://app@db.example.internal:5432/app?application_name=api',
      );
    } finally {
      await pool.end();
    }
  });

  it('in verify mode with a CA file, trusts exactly that file', async () => {
    const caFile = join(dir, 'ca.pem');
    const pem = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';
    await writeFile(caFile, pem);

    const pool = createPool({ url: remote, pool: settings, ssl: { mode: 'verify', caFile } });
    try {
      assert.deepEqual(pool.options.ssl, { rejectUnauthorized: true, ca: pem });
    } finally {
      await pool.end();
    }
  });

  it('in verify mode, refuses a server that offers no TLS, whatever the URL says', async () => {
    const url = new URL(empty.url);
    url.searchParams.set('sslmode', 'disable');
    const ssl = { mode: 'verify', caFile: undefined } as const;
    const pool = createPool({ url: url.toString(), pool: settings, ssl });
    try {
      await assert.rejects(pool.query('SELECT 1'), /does not support SSL/);
    } finally {
      await pool.end();
    }
  });

  it('with TLS off, passes the URL through and sets no TLS options', async () => {
    const pool = createPool({ url: remote, pool: settings, ssl: { mode: 'off', caFile: undefined } });
    try {
      assert.equal(pool.options.ssl, undefined);
      assert.equal(pool.options.connectionString, remote);
    } finally {
      await pool.end();
    }
  });
});

describe('DatabaseService.healthCheck', () => {
  it('answers false, without throwing, while a server accepts connections but never answers', async () => {
    const silent = await startSilentServer();
    try {
      const db = serviceFrom({ DB_POOL_MIN: '0', DB_POOL_TIMEOUT: '100' }, silent.url);

      assert.equal(await db.healthCheck(), false);
    } finally {
      await silent.close();
    }
  });

  it('answers false within its own time limit while the query cannot even get a connection', async () => {
    const db = serviceFrom({ DB_POOL_MIN: '0', DB_POOL_MAX: '1', DB_POOL_TIMEOUT: '600000' });
    const held = await db.pool.connect();
    try {
      assert.equal(await db.healthCheck(200), false);
    } finally {
      held.release();
      await db.disconnect();
    }
  });

  // Destroys the test database, so it stays the last test of the file.
  it('answers true while the database is up, and false, without throwing, once it is gone', async () => {
    // Connecting to a database that is gone fails at once; the timeout only bounds the first connect.
    const db = serviceFrom({ DB_POOL_MIN: '1', DB_POOL_TIMEOUT: '10000' });
    await db.connect();
    assert.equal(await db.healthCheck(), true);

    destroyed = true;
    await empty.destroy();

    assert.equal(await db.healthCheck(), false);
    assert.equal(await db.healthCheck(), false);
  });
});

// ---------------------------------------------------------------------------------------------

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Checks out a connection of `pool` for a test to hold. pg-pool bounds opening a new connection by
 * the same connectionTimeoutMillis (DB_POOL_TIMEOUT) as waiting for a free one, and on a loaded
 * machine opening one can take longer than the 100 ms these tests set. Opening is not what they
 * time, so the bound is lifted while this one opens and put back before the test goes on.
 */
async function holdOne(pool: pg.Pool): Promise<pg.PoolClient> {
  const timeout = pool.options.connectionTimeoutMillis;
  assert.equal(timeout, 100, 'DB_POOL_TIMEOUT reached the pool');
  pool.options.connectionTimeoutMillis = 0; // no bound
  try {
    return await pool.connect();
  } finally {
    pool.options.connectionTimeoutMillis = timeout;
  }
}

async function waitUntil(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(10);
  }
}

/** Fails instead of hanging when `promise` has not settled within `ms` (a hang guard, not a timing). */
async function settlesWithin<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still pending after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, guard]);
  } finally {
    clearTimeout(timer);
  }
}

interface LocalServer {
  readonly url: string;
  close(): Promise<void>;
}

/** Serves `handle` on a free port of 127.0.0.1, in place of the database in `template`. */
async function listen(template: URL, handle: (socket: Socket) => void): Promise<LocalServer> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    handle(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const url = new URL(template);
  url.hostname = '127.0.0.1';
  url.port = String(typeof address === 'object' && address ? address.port : 0);
  return {
    url: url.toString(),
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A proxy to the test database that lets `allowed` connections through and hangs up on the rest. */
function startGatekeeper(target: URL, allowed: number): Promise<LocalServer> {
  let accepted = 0;
  return listen(target, (socket) => {
    accepted += 1;
    if (accepted > allowed) {
      socket.destroy();
      return;
    }
    const upstream = connectTcp(Number(target.port), target.hostname);
    upstream.on('error', () => socket.destroy());
    socket.on('close', () => upstream.destroy());
    upstream.on('close', () => socket.destroy());
    socket.pipe(upstream).pipe(socket);
  });
}

/** A server that accepts connections and never says a word. */
function startSilentServer(): Promise<LocalServer> {
  return listen(new URL('postgresql://postgres@127.0.0.1/postgres'), () => undefined);
}
