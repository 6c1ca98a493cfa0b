import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { loadConfig, MAX_BLOCKLIST_FILE_BYTES } from '../src/config.js';
import { ConfigError } from '../src/errors.js';

const SECRET = 'a-secret-of-at-least-thirty-two-bytes!';

let dir: string;
let caFile: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'infinity-config-'));
  caFile = join(dir, 'ca.pem');
  await writeFile(caFile, '-----BEGIN CERTIFICATE-----\n');
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Asserts that loading env fails with a ConfigError naming `variable`; returns its message. */
function refusal(env: NodeJS.ProcessEnv, variable: string): string {
  try {
    loadConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    assert.equal(error.variable, variable);
    assert.ok(error.message.startsWith(`${variable}: `), error.message);
    return error.message;
  }
  return assert.fail(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe('loadConfig', () => {
  describe('with nothing set', () => {
    it('listens on 127.0.0.1:3000 in development and uses the embedded database', () => {
      const config = loadConfig({});

      assert.equal(config.env, 'development');
      assert.equal(config.isProduction, false);
      assert.equal(config.host, '127.0.0.1');
      assert.equal(config.port, 3000);
      assert.equal(config.databaseUrl, undefined);
      assert.equal(config.embeddedDataDir, '.data/pglite');
    });

    it('keeps 2 to 20 connections, waits 30 s for one and closes one idle for 10 min', () => {
      assert.deepEqual(loadConfig({}).pool, {
        min: 2,
        max: 20,
        connectionTimeoutMs: 30_000,
        idleTimeoutMs: 600_000,
      });
    });

    it('trusts no proxy and leaves TLS off outside production', () => {
      const config = loadConfig({});

      assert.equal(config.trustProxy, false);
      assert.deepEqual(config.ssl, { mode: 'off', caFile: undefined });
      assert.deepEqual(config.jwt, { secret: undefined, ttlSeconds: 3600 });
    });

    it('keeps at most 50 sessions per user', () => {
      assert.equal(loadConfig({}).maxSessionsPerUser, 50);
    });

    it('verifies the database certificate in production', () => {
      assert.deepEqual(loadConfig({ NODE_ENV: 'production', JWT_SECRET: SECRET }).ssl, {
        mode: 'verify',
        caFile: undefined,
      });
    });
  });

  describe('with good values', () => {
    it('turns numbers into numbers', () => {
      const config = loadConfig({
        PORT: '8080',
        DB_POOL_MIN: '0',
        DB_POOL_MAX: ' 5 ',
        DB_POOL_TIMEOUT: '1500',
        DB_POOL_IDLE_TIMEOUT: '250',
        MAX_SESSIONS_PER_USER: '10000',
      });

      assert.equal(config.port, 8080);
      assert.equal(config.maxSessionsPerUser, 10_000);
      assert.deepEqual(config.pool, { min: 0, max: 5, connectionTimeoutMs: 1500, idleTimeoutMs: 250 });
    });

    it('lowers the default pool minimum to DB_POOL_MAX when that is below 2', () => {
      assert.equal(loadConfig({ DB_POOL_MAX: '1' }).pool.min, 1);
      assert.equal(loadConfig({ DB_POOL_MAX: '8' }).pool.min, 2);
    });

    it('turns flags into booleans', () => {
      assert.equal(loadConfig({ DOCS_ENABLED: 'no' }).docsEnabled, false);
      assert.equal(loadConfig({ DOCS_ENABLED: '1' }).docsEnabled, true);
    });

    it('reads TRUST_PROXY as a boolean or a list of addresses and ranges', () => {
      assert.equal(loadConfig({ TRUST_PROXY: 'true' }).trustProxy, true);
      const list = '10.0.0.0/8, fd00::/8, 192.168.1.7, loopback, 172.16.0.0/255.240.0.0';
      assert.equal(
        loadConfig({ TRUST_PROXY: list }).trustProxy,
        '10.0.0.0/8,fd00::/8,192.168.1.7,loopback,172.16.0.0/255.240.0.0',
      );
    });

    it('keeps DATABASE_URL as given and takes TLS settings with a readable CA file', () => {
      const url = 'postgresql://app:pw@db.internal:5432/app?application_name=api';

      const config = loadConfig({ DATABASE_URL: url, DB_SSL: 'verify', DB_SSL_CA_FILE: caFile });

      assert.equal(config.databaseUrl, url);
      assert.deepEqual(config.ssl, { mode: 'verify', caFile });
    });

    it('lowercases and trims admin usernames, dropping empty entries', () => {
      assert.deepEqual(loadConfig({ ADMIN_USERNAMES: ' Admin, ROOT ,,' }).adminUsernames, ['admin', 'root']);
    });
  });

  describe('with a bad value, fails naming the variable', () => {
    const cases: [string, NodeJS.ProcessEnv, string][] = [
      ['DB_POOL_MAX=abc', { DB_POOL_MAX: 'abc' }, 'DB_POOL_MAX'],
      ['DB_POOL_MAX=0', { DB_POOL_MAX: '0' }, 'DB_POOL_MAX'],
      ['DB_POOL_MIN above DB_POOL_MAX', { DB_POOL_MIN: '6', DB_POOL_MAX: '5' }, 'DB_POOL_MIN'],
      ['DB_POOL_TIMEOUT=-1', { DB_POOL_TIMEOUT: '-1' }, 'DB_POOL_TIMEOUT'],
      ['DB_POOL_IDLE_TIMEOUT=1.5', { DB_POOL_IDLE_TIMEOUT: '1.5' }, 'DB_POOL_IDLE_TIMEOUT'],
      ['PORT=70000', { PORT: '70000' }, 'PORT'],
      ['PORT=3e3', { PORT: '3e3' }, 'PORT'],
      ['JWT_SECRET missing in production', { NODE_ENV: 'production' }, 'JWT_SECRET'],
      ['JWT_SECRET blank in production', { NODE_ENV: 'production', JWT_SECRET: '   ' }, 'JWT_SECRET'],
      ['a JWT_SECRET shorter than 32 bytes', { JWT_SECRET: 'short-secret' }, 'JWT_SECRET'],
      ['TRUST_PROXY=maybe', { TRUST_PROXY: 'maybe' }, 'TRUST_PROXY'],
      [
        'TRUST_PROXY=1 (a hop count, which Fastify 5 would silently ignore)',
        { TRUST_PROXY: '1' },
        'TRUST_PROXY',
      ],
      ['TRUST_PROXY=cafe (hex digits, not an address)', { TRUST_PROXY: 'cafe' }, 'TRUST_PROXY'],
      ['TRUST_PROXY=999.1.1.1', { TRUST_PROXY: '999.1.1.1' }, 'TRUST_PROXY'],
      ['TRUST_PROXY=10.0.0.0/33', { TRUST_PROXY: '10.0.0.0/33' }, 'TRUST_PROXY'],
      ['TRUST_PROXY with an empty entry', { TRUST_PROXY: '10.0.0.1,' }, 'TRUST_PROXY'],
      ['DATABASE_URL=mysql://…', { DATABASE_URL: 'mysql://root@127.0.0.1/app' }, 'DATABASE_URL'],
      ['DATABASE_URL that is no URL', { DATABASE_URL: 'postgresql://app@db:99999/app' }, 'DATABASE_URL'],
      ['DB_SSL=require', { DB_SSL: 'require' }, 'DB_SSL'],
      ['a DB_SSL_CA_FILE that is not there', { DB_SSL_CA_FILE: '/nonexistent/ca.pem' }, 'DB_SSL_CA_FILE'],
      ['NODE_ENV=staging', { NODE_ENV: 'staging' }, 'NODE_ENV'],
      ['DOCS_ENABLED=maybe', { DOCS_ENABLED: 'maybe' }, 'DOCS_ENABLED'],
      ['MAX_SESSIONS_PER_USER=0', { MAX_SESSIONS_PER_USER: '0' }, 'MAX_SESSIONS_PER_USER'],
      ['MAX_SESSIONS_PER_USER=10001', { MAX_SESSIONS_PER_USER: '10001' }, 'MAX_SESSIONS_PER_USER'],
    ];
    for (const [name, env, variable] of cases) {
      it(`refuses ${name}`, () => {
        refusal(env, variable);
      });
    }

    it('requires JWT_SECRET in production only of a process that signs tokens', () => {
      const tool = loadConfig({ NODE_ENV: 'production' }, { signsTokens: false });

      assert.equal(tool.isProduction, true);
      assert.equal(tool.jwt.secret, undefined);
      assert.throws(
        () => loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'short-secret' }, { signsTokens: false }),
        { variable: 'JWT_SECRET' },
      );
    });

    it('says why DB_POOL_MIN is refused', () => {
      assert.equal(
        refusal({ DB_POOL_MIN: '6', DB_POOL_MAX: '5' }, 'DB_POOL_MIN'),
        'DB_POOL_MIN: must not exceed DB_POOL_MAX (5)',
      );
    });

    it('takes a PASSWORD_BLOCKLIST_FILE of up to MAX_BLOCKLIST_FILE_BYTES (64 MiB)', async () => {
      const file = join(dir, 'at-limit.txt');
      await writeFile(file, '');
      await truncate(file, MAX_BLOCKLIST_FILE_BYTES); // sparse: nothing is written

      assert.equal(MAX_BLOCKLIST_FILE_BYTES, 64 * 1_048_576);
      assert.equal(loadConfig({ PASSWORD_BLOCKLIST_FILE: file }).passwords.blocklistFile, file);
    });

    it('refuses a PASSWORD_BLOCKLIST_FILE over 64 MiB, saying so', async () => {
      const file = join(dir, 'too-large.txt');
      await writeFile(file, '');
      await truncate(file, MAX_BLOCKLIST_FILE_BYTES + 1);

      assert.equal(
        refusal({ PASSWORD_BLOCKLIST_FILE: file }, 'PASSWORD_BLOCKLIST_FILE'),
        `PASSWORD_BLOCKLIST_FILE: is larger than 64 MiB (${MAX_BLOCKLIST_FILE_BYTES + 1} bytes)`,
      );
    });

    it('refuses a directory or a missing file as PASSWORD_BLOCKLIST_FILE or DB_SSL_CA_FILE', async () => {
      const folder = join(dir, 'a-directory');
      await mkdir(folder, { recursive: true });

      for (const variable of ['PASSWORD_BLOCKLIST_FILE', 'DB_SSL_CA_FILE']) {
        for (const path of [folder, join(dir, 'missing.txt')]) {
          assert.equal(refusal({ [variable]: path }, variable), `${variable}: is not a readable file`);
        }
      }
    });

    it('never repeats a refused DATABASE_URL, which may hold a password', () => {
      const message = refusal({ DATABASE_URL: 'mysql://root:hunter2@127.0.0.1/app' }, 'DATABASE_URL');

      assert.equal(message.includes('hunter2'), false);
    });
  });

  describe('its result', () => {
    it('is frozen all the way down', () => {
      const config = loadConfig({ ADMIN_USERNAMES: 'admin,ops' });

      assert.ok(Object.isFrozen(config));
      assert.ok(Object.isFrozen(config.pool));
      assert.ok(Object.isFrozen(config.ssl));
      assert.ok(Object.isFrozen(config.adminUsernames));
      assert.throws(() => {
        (config.pool as { max: number }).max = 1000;
      }, TypeError);
      assert.throws(() => (config.adminUsernames as string[]).push('intruder'), TypeError);
      assert.equal(config.pool.max, 20);
      assert.deepEqual(config.adminUsernames, ['admin', 'ops']);
    });

    it('freezes every nested object, whatever is added to the config', () => {
      const unfrozen: string[] = [];
      const visit = (value: unknown, path: string) => {
        if (value === null || typeof value !== 'object') return;
        if (!Object.isFrozen(value)) unfrozen.push(path);
        for (const [key, inner] of Object.entries(value)) visit(inner, `${path}.${key}`);
      };

      visit(loadConfig({}), 'config');

      assert.deepEqual(unfrozen, []);
    });
  });
});
