import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

import { DatabaseService } from '../src/db/database.js';
import { PrismaSessionCheck } from '../src/db/repositories/sessions.js';
import type { Prisma } from '../src/generated/prisma/client.js';
import { createTestDatabase, onPostgres, type TestDatabase } from './helpers/database.js';
import { unique } from './helpers/fixtures.js';

/**
 * What goes into the database comes back out unchanged, or changed only as PostgreSQL documents:
 * addresses in inet's canonical spelling, JSON as jsonb keeps it, instants to the millisecond.
 */

let t: TestDatabase;
let userId: number;
before(async () => {
  t = await createTestDatabase();
  userId = (await t.db.users.create({ username: unique('rt'), passwordHash: 'h' })).id;
});
after(async () => {
  await t.drop();
});

describe('IP addresses', () => {
  // [given, as PostgreSQL stores and prints it, address family]
  const cases: [string, string, 4 | 6][] = [
    ['192.0.2.1', '192.0.2.1', 4],
    ['0.0.0.0', '0.0.0.0', 4],
    ['255.255.255.255', '255.255.255.255', 4],
    ['::1', '::1', 6],
    ['::', '::', 6],
    ['2001:DB8::1', '2001:db8::1', 6],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1', 6],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1', 6],
    ['1:0:0:0:0:0:0:0', '1::', 6],
    ['::ffff:1.2.3.4', '::ffff:1.2.3.4', 6],
    ['::FFFF:0102:0304', '::ffff:1.2.3.4', 6],
    ['0:0:0:0:0:ffff:1.2.3.4', '::ffff:1.2.3.4', 6],
    ['64:ff9b::1.2.3.4', '64:ff9b::102:304', 6],
  ];

  for (const [given, stored, family] of cases) {
    it(`stores ${given} as ${stored} in sessions and audit rows`, async () => {
      const later = new Date(Date.now() + 60_000);
      const session = await t.db.sessions.createSession(userId, unique('ip-'), later, given);
      const audit = await t.db.auditLogs.createAuditLog({ action: 'ip.test', ipAddress: given });

      assert.equal(session.ipAddress, stored);
      assert.equal(audit.ipAddress, stored);
      assert.equal((await t.db.sessions.findSessionByJti(session.tokenJti))?.ipAddress, stored);
      const { rows } = await t.db.pool.query(
        `SELECT family(ip_address) AS family, ip_address = $2::inet AS same
           FROM user_sessions
          WHERE id = $1`,
        [session.id, given],
      );
      assert.deepEqual(rows[0], { family, same: true });
    });
  }

  it('keeps an IPv4-mapped address IPv6, distinct from the IPv4 address it maps', async () => {
    const audit = await t.db.auditLogs.createAuditLog({ action: 'ip.mapped', ipAddress: '::ffff:1.2.3.4' });
    const { rows } = await t.db.pool.query(
      `SELECT ip_address = '1.2.3.4'::inet AS same_as_v4, family(ip_address) AS family
         FROM audit_logs
        WHERE id = $1`,
      [String(audit.id)],
    );
    assert.deepEqual(rows[0], { same_as_v4: false, family: 6 });
  });
});

describe('JSON request data', () => {
  let nested: Prisma.InputJsonValue = { bottom: true };
  for (let depth = 0; depth < 40; depth += 1) nested = depth % 2 ? { level: depth, inner: nested } : [nested];

  const values: [string, Prisma.InputJsonValue][] = [
    [
      'a nested object',
      { user: { name: 'ann', roles: ['admin', 'dev'], prefs: { theme: null, tz: 'UTC' } } },
    ],
    ['an array of every kind of value', [1, 'two', true, false, null, { three: [3] }, []]],
    ['null values inside', { a: null, b: [null, null], c: { d: null } }],
    ['empty containers', { object: {}, array: [] }],
    [
      'unicode',
      {
        emoji: '👩‍💻🎉',
        cjk: '漢字かな',
        rtl: 'مرحبا',
        combining: 'e\u0301',
        separators: '\u2028\u2029',
        bom: '\uFEFF',
      },
    ],
    [
      'escapes',
      { quote: '"', backslash: '\\', newline: '\n', tab: '\t', control: '\u0001\u001F', html: '</script>' },
    ],
    [
      'numbers',
      {
        zero: 0,
        negative: -42,
        fraction: 1.5,
        tiny: 1e-7,
        huge: 1e21,
        largest: Number.MAX_VALUE,
        smallest: Number.MIN_VALUE,
        inexact: 0.1 + 0.2,
        safe: Number.MAX_SAFE_INTEGER,
        unsafe: -Number.MAX_SAFE_INTEGER,
      },
    ],
    [
      'keys of every kind',
      { '': 'empty', ' spaced ': 1, ключ: 2, '👍': 3, 'a.b': 4, $where: 5, toString: 6 },
    ],
    ['a string alone', 'just text'],
    ['a number alone', 12.75],
    ['false alone', false],
    ['an array alone', ['x', 1]],
    ['40 levels of nesting', nested],
  ];

  for (const [what, value] of values) {
    it(`keeps ${what} exactly`, async () => {
      const row = await t.db.auditLogs.createAuditLog({ action: 'json.test', requestData: value });

      assert.deepStrictEqual(row.requestData, value);
      const read = await t.db.prisma.auditLog.findUnique({ where: { id: row.id } });
      assert.deepStrictEqual(read?.requestData, value);
      const { rows } = await t.db.pool.query(
        'SELECT request_data = $2::jsonb AS same FROM audit_logs WHERE id = $1',
        [String(row.id), JSON.stringify(value)],
      );
      assert.equal(rows[0].same, true);
    });
  }

  it('stores NUL and lone surrogates as U+FFFD, in keys and values, and keeps the rest', async () => {
    const row = await t.db.auditLogs.createAuditLog({
      action: 'json.scrub',
      requestData: { 'k\u0000': 'v\u0000', lone: '\uD800x', low: ['\uDC00'], pair: '😀', '\uDBFF': 1 },
    });
    const expected = { 'k\uFFFD': 'v\uFFFD', lone: '\uFFFDx', low: ['\uFFFD'], pair: '😀', '\uFFFD': 1 };
    assert.deepStrictEqual(row.requestData, expected);
    const read = await t.db.prisma.auditLog.findUnique({ where: { id: row.id } });
    assert.deepStrictEqual(read?.requestData, expected);
  });

  it('stores no request data as SQL NULL', async () => {
    const row = await t.db.auditLogs.createAuditLog({ action: 'json.none', requestData: null });
    assert.equal(row.requestData, null);
    const { rows } = await t.db.pool.query(
      'SELECT request_data IS NULL AS missing FROM audit_logs WHERE id = $1',
      [String(row.id)],
    );
    assert.equal(rows[0].missing, true);
  });

  it('keeps a "__proto__" key as a plain key', async () => {
    const value = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}') as Prisma.InputJsonValue;
    const row = await t.db.auditLogs.createAuditLog({ action: 'json.proto', requestData: value });
    const { rows } = await t.db.pool.query(
      'SELECT request_data::text AS text FROM audit_logs WHERE id = $1',
      [String(row.id)],
    );
    assert.equal(rows[0].text, '{"a": 1, "__proto__": {"polluted": true}}');
  });
});

describe('timestamps', () => {
  const instants = [
    '2026-03-29T00:59:59.999Z', // the last millisecond before Europe's clocks go forward
    '2026-03-29T01:00:00.000Z',
    '2026-11-01T08:30:00.123Z', // 01:30 in Los Angeles...
    '2026-11-01T09:30:00.456Z', // ...and 01:30 again an hour later
    '1969-12-31T23:59:59.999Z',
    '2000-02-29T12:00:00.001Z',
    '1900-01-01T00:00:00.000Z', // local mean time: offsets with seconds
    '0001-01-01T00:00:00.000Z',
    '9999-12-31T23:59:59.999Z',
  ];
  // Each zone with its offset on 1 January 2026 (Date#getTimezoneOffset: minutes, sign reversed).
  const zones: [string, number][] = [
    ['UTC', 0],
    ['America/Los_Angeles', 480],
    ['Europe/London', 0],
    ['Asia/Kolkata', -330],
    ['Asia/Kathmandu', -345],
    ['Pacific/Chatham', -825],
    ['America/St_Johns', 210],
    ['Pacific/Kiritimati', -840],
  ];

  it('keeps every instant exact whatever the time zone of the process', async () => {
    const original = process.env.TZ;
    try {
      for (const [zone, offset] of zones) {
        process.env.TZ = zone;
        assert.equal(new Date('2026-01-01T00:00:00Z').getTimezoneOffset(), offset, `${zone} is in effect`);
        await roundTripInstants(zone);
      }
    } finally {
      if (original === undefined) delete process.env.TZ;
      else process.env.TZ = original;
    }
  });

  /** Writes every instant as an audit row and a session, and reads them back every way there is. */
  async function roundTripInstants(zone: string) {
    const resource = unique('tz');
    const written = [];
    for (const instant of instants) {
      const createdAt = new Date(instant);
      const row = await t.db.auditLogs.createAuditLog({ action: 'tz.test', resource, createdAt });
      written.push(row.createdAt.toISOString());
    }
    assert.deepEqual(written, instants, zone);

    const read = (await t.db.auditLogs.findPage({ resource })).items.map((row) =>
      row.createdAt.toISOString(),
    );
    assert.deepEqual(read, [...instants].reverse(), zone);

    const { rows } = await t.db.pool.query(
      `SELECT count(*)::int AS n FROM audit_logs WHERE resource = $1 AND created_at = ANY($2::timestamptz[])`,
      [resource, instants],
    );
    assert.equal(rows[0].n, instants.length, zone);

    const at = new Date('2026-11-01T08:30:00.123Z');
    const between = await t.db.auditLogs.findPage({ resource, from: at, to: new Date(at.getTime() + 1) });
    assert.deepEqual(
      between.items.map((row) => row.createdAt.getTime()),
      [at.getTime()],
      zone,
    );

    const expiresAt = new Date('9999-12-31T23:59:59.999Z');
    const session = await t.db.sessions.createSession(userId, unique('tz-'), expiresAt);
    for (const check of [t.db.sessions.check, new PrismaSessionCheck(t.db.prisma)]) {
      const found = await check.findActiveSession(session.tokenJti);
      assert.equal(found?.expiresAt.getTime(), expiresAt.getTime(), zone);
    }
  }

  it('keeps an instant exact between processes started in different time zones', async () => {
    const instant = '2026-11-01T08:30:00.123Z';
    const resource = unique('child');
    const report = await writeFromChild('Asia/Kathmandu', resource, instant);

    assert.deepEqual(report, { offset: -345, written: Date.parse(instant), read: Date.parse(instant) });
    const rows = (await t.db.auditLogs.findPage({ resource })).items;
    assert.deepEqual(
      rows.map((row) => row.createdAt.toISOString()),
      [instant],
    );
  });

  it('reads a microsecond timestamp cut to its millisecond, never rounded up', async () => {
    const resource = unique('micro');
    await t.db.pool.query(
      `INSERT INTO audit_logs (action, resource, created_at)
       VALUES ('t.micro', $1, '2026-01-01 00:00:00.123999+00')`,
      [resource],
    );
    const { rows } = await t.db.pool.query(
      'SELECT extract(microseconds FROM created_at)::int AS us FROM audit_logs WHERE resource = $1',
      [resource],
    );
    assert.equal(rows[0].us, 123_999);

    const [row] = (await t.db.auditLogs.findPage({ resource })).items;
    assert.equal(row?.createdAt.toISOString(), '2026-01-01T00:00:00.123Z');
    // So a time read back is a safe inclusive lower bound for its own row.
    assert.equal((await t.db.auditLogs.findPage({ resource, from: row.createdAt })).items.length, 1);
    assert.equal((await t.db.auditLogs.findPage({ resource, to: row.createdAt })).items.length, 0);
  });

  it(
    'keeps an instant exact when the database session time zone is not UTC',
    {
      skip: onPostgres
        ? false
        : 'PGlite serves one session; ALTER DATABASE ... SET TimeZone does not reach it',
    },
    async () => {
      const { rows } = await t.db.pool.query('SELECT current_database() AS name');
      const name = String(rows[0].name);
      await t.db.pool.query(`ALTER DATABASE "${name}" SET TimeZone = 'Asia/Kolkata'`);
      const db = new DatabaseService({
        url: t.url,
        pool: { min: 0, max: 2, connectionTimeoutMs: 10_000, idleTimeoutMs: 1_000 },
      });
      try {
        await db.connect();
        const at = new Date('2026-06-15T12:34:56.789Z');
        const row = await db.auditLogs.createAuditLog({ action: 'tz.session', createdAt: at });
        const { rows: stored } = await db.pool.query(
          'SELECT created_at = $2::timestamptz AS same FROM audit_logs WHERE id = $1',
          [String(row.id), at.toISOString()],
        );
        assert.equal(stored[0].same, true);
        assert.equal(row.createdAt.getTime(), at.getTime());
      } finally {
        await db.disconnect();
        await t.db.pool.query(`ALTER DATABASE "${name}" RESET TimeZone`);
      }
    },
  );
});

const runNode = promisify(execFile);
const repositoryRoot = fileURLToPath(new URL('..', import.meta.url));

/**
 * Starts a node process in the given time zone that writes an audit row at `instant` through its
 * own DatabaseService and reads it back. Reports its zone offset and the instants it saw.
 */
async function writeFromChild(zone: string, resource: string, instant: string) {
  const script = `
    const { DatabaseService } = await import(process.env.DATABASE_MODULE);
    const db = new DatabaseService({
      url: process.env.CHILD_DATABASE_URL,
      pool: { min: 0, max: 2, connectionTimeoutMs: 10000, idleTimeoutMs: 1000 },
    });
    await db.connect();
    try {
      const at = new Date(process.env.INSTANT);
      const row = await db.auditLogs.createAuditLog({
        action: 'tz.child', resource: process.env.RESOURCE, resourceId: process.env.TZ, createdAt: at,
      });
      const read = await db.prisma.auditLog.findUnique({ where: { id: row.id } });
      process.stdout.write(JSON.stringify({
        offset: at.getTimezoneOffset(), written: row.createdAt.getTime(), read: read.createdAt.getTime(),
      }));
    } finally {
      await db.disconnect();
    }`;
  const { stdout } = await runNode(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', script],
    {
      cwd: repositoryRoot,
      timeout: 60_000,
      env: {
        ...process.env,
        TZ: zone,
        DATABASE_MODULE: new URL('../src/db/database.ts', import.meta.url).href,
        CHILD_DATABASE_URL: t.url,
        RESOURCE: resource,
        INSTANT: instant,
      },
    },
  );
  return JSON.parse(stdout) as unknown;
}
