import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import {
  type AuditLogFilter,
  type AuditLogInput,
  AuditLogRepository,
  decodeCursor,
  encodeCursor,
} from '../src/db/repositories/audit-logs.js';
import { AppError } from '../src/errors.js';
import type { AuditLog } from '../src/generated/prisma/client.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { isInvalid, noDatabase, unique } from './helpers/fixtures.js';

let t: TestDatabase;
before(async () => {
  t = await createTestDatabase();
  // Every id of this file lies past 2^53, where a JavaScript number would lose digits.
  await t.db.pool.query(`SELECT setval('audit_logs_id_seq', 9007199254740993)`);
});
after(async () => {
  await t.drop();
});

const MINUTE = 60_000;
const DAY = 86_400_000;

function isInvalidCursor(error: unknown) {
  assert.ok(error instanceof AppError, String(error));
  assert.equal(error.code, 'INVALID_CURSOR');
  assert.equal(error.statusCode, 400);
  return true;
}

async function createUser() {
  return t.db.users.create({ username: unique('u'), passwordHash: 'secret-hash' });
}

/** Writes rows one by one, so their ids follow the order given. */
async function createRows(inputs: AuditLogInput[]): Promise<AuditLog[]> {
  const rows = [];
  for (const input of inputs) rows.push(await t.db.auditLogs.createAuditLog(input));
  return rows;
}

/** Every page of a filter, walked to the end. */
async function walk(filter: AuditLogFilter, limit: number) {
  const pages: AuditLog[][] = [];
  let cursor: string | undefined;
  do {
    const page = await t.db.auditLogs.findPage(filter, limit, cursor);
    pages.push(page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined);
  return pages;
}

const ids = (rows: { id: bigint }[]) => rows.map((row) => row.id);

describe('AuditLogRepository.createAuditLog', () => {
  it('stores every field and returns the row, with a bigint id past 2^53', async () => {
    const user = await createUser();
    const createdAt = new Date('2026-03-04T05:06:07.089Z');
    const input = {
      action: 'user.update',
      userId: user.id,
      resource: 'user',
      resourceId: String(user.id),
      ipAddress: '198.51.100.23',
      userAgent: 'Mozilla/5.0',
      requestData: { email: 'new@example.com' },
      responseStatus: 200,
      createdAt,
    };

    const row = await t.db.auditLogs.createAuditLog(input);

    assert.equal(typeof row.id, 'bigint');
    assert.ok(row.id > 2n ** 53n, String(row.id));
    assert.deepEqual(row, { id: row.id, ...input });
    assert.deepEqual(await t.db.prisma.auditLog.findUnique({ where: { id: row.id } }), row);
  });

  it('stores only the action when nothing else is given, timed at the insert', async () => {
    const before = Date.now();
    const row = await t.db.auditLogs.createAuditLog({ action: 'health.check' });
    const after = Date.now();

    assert.deepEqual(
      { ...row, id: 0n, createdAt: null },
      {
        id: 0n,
        action: 'health.check',
        userId: null,
        resource: null,
        resourceId: null,
        ipAddress: null,
        userAgent: null,
        requestData: null,
        responseStatus: null,
        createdAt: null,
      },
    );
    const at = row.createdAt.getTime();
    assert.ok(at >= before && at <= after, row.createdAt.toISOString());
  });

  it('accepts an action of exactly 100 characters', async () => {
    const action = `a.${'b'.repeat(98)}`;
    assert.equal((await t.db.auditLogs.createAuditLog({ action })).action, action);
  });

  it('keeps a row whose user was deleted before it was written, with a null user', async () => {
    const user = await createUser();
    await t.db.users.delete(user.id);
    const row = await t.db.auditLogs.createAuditLog({ action: 'a.late', userId: user.id, resource: 'late' });
    assert.equal(row.userId, null);
    assert.equal(row.resource, 'late');
  });
});

describe('AuditLogRepository.createAuditLogs', () => {
  it('writes a batch in one go and counts it', async () => {
    const resource = unique('batch');
    const count = await t.db.auditLogs.createAuditLogs([
      { action: 'a.one', resource },
      { action: 'a.two', resource, responseStatus: 201 },
      { action: 'a.three', resource, ipAddress: '::1' },
    ]);

    assert.equal(count, 3);
    const { items } = await t.db.auditLogs.findPage({ resource });
    assert.deepEqual(items.map((row) => [row.action, row.responseStatus, row.ipAddress]).sort(), [
      ['a.one', null, null],
      ['a.three', null, '::1'],
      ['a.two', 201, null],
    ]);
  });

  it('writes nothing for an empty batch', async () => {
    assert.equal(await t.db.auditLogs.createAuditLogs([]), 0);
  });

  it('writes nothing when one row of the batch is invalid', async () => {
    const resource = unique('bad-batch');
    await assert.rejects(
      t.db.auditLogs.createAuditLogs([
        { action: 'a.fine', resource },
        { action: 'Not An Action', resource },
      ]),
      isInvalid('action'),
    );
    assert.deepEqual((await t.db.auditLogs.findPage({ resource })).items, []);
  });

  it('keeps every row of a batch when one names a deleted user, that one with a null user', async () => {
    const [kept, gone] = [await createUser(), await createUser()];
    await t.db.users.delete(gone.id);
    const resource = unique('orphans');

    const count = await t.db.auditLogs.createAuditLogs([
      { action: 'a.kept', userId: kept.id, resource },
      { action: 'a.gone', userId: gone.id, resource },
    ]);

    assert.equal(count, 2);
    const { items } = await t.db.auditLogs.findPage({ resource });
    assert.deepEqual(items.map((row) => [row.action, row.userId]).sort(), [
      ['a.gone', null],
      ['a.kept', kept.id],
    ]);
  });
});

describe('AuditLogRepository.findUserAuditLogs', () => {
  it("lists the user's rows newest first, by when they happened", async () => {
    const [user, other] = [await createUser(), await createUser()];
    const now = Date.now();
    const [third, first, second] = await createRows([
      { action: 'x.third', userId: user.id, createdAt: new Date(now - 3 * MINUTE) },
      { action: 'x.first', userId: user.id, createdAt: new Date(now - 1 * MINUTE) },
      { action: 'x.second', userId: user.id, createdAt: new Date(now - 2 * MINUTE) },
      { action: 'x.other', userId: other.id, createdAt: new Date(now) },
    ]);

    assert.deepEqual(await t.db.auditLogs.findUserAuditLogs(user.id), [first, second, third]);
    assert.deepEqual(await t.db.auditLogs.findUserAuditLogs(user.id, 1, 1), [second]);
    assert.deepEqual(await t.db.auditLogs.findUserAuditLogs(user.id, 10, 3), []);
  });

  it('orders rows of the same instant by insertion, newest first', async () => {
    const user = await createUser();
    const at = new Date();
    const rows = await createRows(
      [1, 2, 3].map(() => ({ action: 'x.same', userId: user.id, createdAt: at })),
    );
    assert.deepEqual(ids(await t.db.auditLogs.findUserAuditLogs(user.id)), ids(rows).reverse());
  });

  it('returns 100 rows by default', async () => {
    const user = await createUser();
    const many = Array.from({ length: 101 }, () => ({ action: 'x.many', userId: user.id }));
    await t.db.auditLogs.createAuditLogs(many);
    assert.equal((await t.db.auditLogs.findUserAuditLogs(user.id)).length, 100);
  });
});

describe('AuditLogRepository.findAuditLogsByAction', () => {
  it('lists rows of the action newest first, each with its user without the hash, or null', async () => {
    const user = await createUser();
    const action = unique('act.');
    const now = Date.now();
    const [byUser, anonymous] = await createRows([
      { action, userId: user.id, createdAt: new Date(now - MINUTE) },
      { action, createdAt: new Date(now) },
      { action: `${action}.other`, createdAt: new Date(now) },
    ]);

    const found = await t.db.auditLogs.findAuditLogsByAction(action);

    assert.deepEqual(found, [
      { ...anonymous, user: null },
      { ...byUser, user },
    ]);
    assert.equal('passwordHash' in (found[1]?.user ?? {}), false);
    assert.deepEqual(await t.db.auditLogs.findAuditLogsByAction(action, 1), [{ ...anonymous, user: null }]);
  });

  it('answers an empty list for an action nobody logged', async () => {
    assert.deepEqual(await t.db.auditLogs.findAuditLogsByAction(unique('never.')), []);
  });
});

describe('AuditLogRepository.deleteOldAuditLogs', () => {
  it('deletes rows older than the given number of days and counts them', async () => {
    await t.db.auditLogs.deleteOldAuditLogs(30);
    const resource = unique('retention');
    const now = Date.now();
    const ages = [400 * DAY, 31 * DAY, 29 * DAY, 0];
    await createRows(ages.map((age) => ({ action: 'x.old', resource, createdAt: new Date(now - age) })));

    assert.equal(await t.db.auditLogs.deleteOldAuditLogs(30), 2);

    const left = (await t.db.auditLogs.findPage({ resource })).items;
    assert.deepEqual(
      left.map((row) => Math.round((now - row.createdAt.getTime()) / DAY)),
      [0, 29],
    );
    assert.equal(await t.db.auditLogs.deleteOldAuditLogs(30), 0);
  });
});

describe('AuditLogRepository.findPage', () => {
  it('walks every page newest first, with no duplicate and no gap', async () => {
    const resource = unique('walk');
    const rows = await createRows(Array.from({ length: 7 }, (_, i) => ({ action: `w.r${i}`, resource })));

    const pages = await walk({ resource }, 3);

    assert.deepEqual(
      pages.map((page) => page.length),
      [3, 3, 1],
    );
    assert.deepEqual(ids(pages.flat()), ids(rows).reverse());
  });

  it('ends without an empty page when the rows fill the last page exactly', async () => {
    const resource = unique('exact');
    await createRows(Array.from({ length: 6 }, () => ({ action: 'w.exact', resource })));
    assert.deepEqual(
      (await walk({ resource }, 3)).map((page) => page.length),
      [3, 3],
    );
  });

  it('is not disturbed by rows written during the walk', async () => {
    const resource = unique('moving');
    const rows = await createRows(Array.from({ length: 5 }, () => ({ action: 'w.before', resource })));

    const first = await t.db.auditLogs.findPage({ resource }, 2);
    await createRows(Array.from({ length: 3 }, () => ({ action: 'w.during', resource })));
    const rest = [];
    let cursor = first.nextCursor ?? undefined;
    while (cursor !== undefined) {
      const page = await t.db.auditLogs.findPage({ resource }, 2, cursor);
      rest.push(...page.items);
      cursor = page.nextCursor ?? undefined;
    }

    assert.deepEqual(ids([...first.items, ...rest]), ids(rows).reverse());
  });

  it('filters by user, action, resource, and a time range from inclusive to exclusive', async () => {
    const [alice, bob] = [await createUser(), await createUser()];
    const resource = unique('filter');
    const t0 = Date.parse('2026-05-01T00:00:00.000Z');
    const at = (minutes: number) => new Date(t0 + minutes * MINUTE);
    const [a0, a1, b2, a3] = (await createRows([
      { action: 'f.read', userId: alice.id, resource, createdAt: at(0) },
      { action: 'f.write', userId: alice.id, resource, createdAt: at(1) },
      { action: 'f.read', userId: bob.id, resource, createdAt: at(2) },
      { action: 'f.read', userId: alice.id, resource, createdAt: at(3) },
    ])) as [AuditLog, AuditLog, AuditLog, AuditLog];
    const found = async (filter: AuditLogFilter) =>
      ids((await t.db.auditLogs.findPage({ resource, ...filter })).items);

    assert.deepEqual(await found({}), ids([a3, b2, a1, a0]));
    assert.deepEqual(await found({ userId: alice.id }), ids([a3, a1, a0]));
    assert.deepEqual(await found({ action: 'f.read' }), ids([a3, b2, a0]));
    assert.deepEqual(await found({ from: at(1), to: at(3) }), ids([b2, a1]));
    assert.deepEqual(await found({ userId: alice.id, action: 'f.read', from: at(0), to: at(3) }), ids([a0]));
    assert.deepEqual(await found({ resource: unique('nothing') }), []);
  });

  it('answers a cursor for an id past 2^53 with the exact rows after it', async () => {
    const resource = unique('big');
    const rows = await createRows([1, 2, 3].map(() => ({ action: 'w.big', resource })));
    const newest = rows.at(-1);
    assert.ok(newest && newest.id > 2n ** 53n);

    const page = await t.db.auditLogs.findPage({ resource }, 10, encodeCursor(newest.id));
    assert.deepEqual(ids(page.items), ids(rows.slice(0, 2)).reverse());
  });

  it('round-trips every id up to the largest bigint through a cursor', () => {
    for (const id of [1n, 2n ** 53n + 1n, 9_223_372_036_854_775_807n]) {
      assert.equal(decodeCursor(encodeCursor(id)), id);
    }
  });

  it('refuses a cursor it did not make with INVALID_CURSOR', async () => {
    const encoded = (text: string) => Buffer.from(text).toString('base64url');
    const bad = [
      'not a cursor!',
      '',
      'A'.repeat(41),
      encoded('a:0'),
      encoded('a:-5'),
      encoded('a:05'),
      encoded('b:5'),
      encoded('a:5x'),
      encoded('a:9223372036854775808'),
      encoded('a:99999999999999999999'),
    ];
    for (const cursor of bad) {
      await assert.rejects(t.db.auditLogs.findPage({}, 10, cursor), isInvalidCursor, cursor);
    }
  });
});

describe('AuditLogRepository input checks', () => {
  const audit = new AuditLogRepository(noDatabase, noDatabase);
  const cases: [string, string, () => Promise<unknown>][] = [
    [
      'an action over 100 characters',
      'action',
      () => audit.createAuditLog({ action: `a.${'b'.repeat(99)}` }),
    ],
    ['an action that is not lowercase words', 'action', () => audit.createAuditLog({ action: 'User Login' })],
    ['an empty action', 'action', () => audit.createAuditLog({ action: '' })],
    ['an action with NUL', 'action', () => audit.createAuditLog({ action: 'a.b\u0000' })],
    [
      'a resource over 100',
      'resource',
      () => audit.createAuditLog({ action: 'a', resource: 'r'.repeat(101) }),
    ],
    [
      'a resource id over 100',
      'resourceId',
      () => audit.createAuditLog({ action: 'a', resourceId: '9'.repeat(101) }),
    ],
    [
      'an invalid IP address',
      'ipAddress',
      () => audit.createAuditLog({ action: 'a', ipAddress: '1.2.3.4.5' }),
    ],
    [
      'an address with a mask',
      'ipAddress',
      () => audit.createAuditLogs([{ action: 'a', ipAddress: '::1/128' }]),
    ],
    ['a status below 100', 'responseStatus', () => audit.createAuditLog({ action: 'a', responseStatus: 99 })],
    [
      'a status above 599',
      'responseStatus',
      () => audit.createAuditLog({ action: 'a', responseStatus: 600 }),
    ],
    [
      'a fractional status',
      'responseStatus',
      () => audit.createAuditLog({ action: 'a', responseStatus: 20.5 }),
    ],
    ['a user id of 0', 'userId', () => audit.createAuditLog({ action: 'a', userId: 0 })],
    [
      'an invalid time',
      'createdAt',
      () => audit.createAuditLog({ action: 'a', createdAt: new Date('nope') }),
    ],
    [
      'a time before year 1',
      'createdAt',
      () => audit.createAuditLog({ action: 'a', createdAt: new Date(-1e15) }),
    ],
    ['a limit of 0', 'limit', () => audit.findUserAuditLogs(1, 0)],
    ['a negative offset', 'offset', () => audit.findUserAuditLogs(1, 10, -1)],
    ['a user id past PostgreSQL integer', 'userId', () => audit.findUserAuditLogs(2 ** 31)],
    ['an over-long action to look up', 'action', () => audit.findAuditLogsByAction('a'.repeat(101))],
    ['a limit over 1000', 'limit', () => audit.findAuditLogsByAction('a', 1001)],
    ['a limit of 0 for a page', 'limit', () => audit.findPage({}, 0)],
    ['an invalid start of range', 'from', () => audit.findPage({ from: new Date(Number.NaN) })],
    ['a NUL in a filtered resource', 'resource', () => audit.findPage({ resource: '\u0000' })],
    ['zero days of age', 'daysOld', () => audit.deleteOldAuditLogs(0)],
    ['a fractional number of days', 'daysOld', () => audit.deleteOldAuditLogs(1.5)],
    ['days beyond any date', 'daysOld', () => audit.deleteOldAuditLogs(1e9)],
  ];
  for (const [what, field, call] of cases) {
    it(`refuses ${what} with InvalidInputError before the database`, async () => {
      await assert.rejects(call(), isInvalid(field));
    });
  }
});
