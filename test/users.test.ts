import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { EmailTakenError, UsernameTakenError, UserNotFoundError } from '../src/errors.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';

let t: TestDatabase;
before(async () => {
  t = await createTestDatabase();
});
after(async () => {
  await t.drop();
});

describe('UserRepository', () => {
  it('creates a user lowercased and never returns the hash', async () => {
    const user = await t.db.users.create({ username: 'Alice', passwordHash: 'h1', email: 'Alice@Example.COM' });
    assert.equal(user.username, 'alice');
    assert.equal(user.email, 'alice@example.com');
    assert.equal('passwordHash' in user, false);
    const found = await t.db.users.findById(user.id);
    assert.deepEqual(found, user);
  });

  it('refuses a second account that differs only in case, also when two requests race', async () => {
    await assert.rejects(t.db.users.create({ username: 'ALICE', passwordHash: 'h' }), UsernameTakenError);
    const results = await Promise.allSettled([
      t.db.users.create({ username: 'Bob', passwordHash: 'h' }),
      t.db.users.create({ username: 'bOB', passwordHash: 'h' }),
      t.db.users.create({ username: 'BOB', passwordHash: 'h' }),
    ]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    for (const r of results.filter((r) => r.status === 'rejected')) {
      assert.ok((r as PromiseRejectedResult).reason instanceof UsernameTakenError);
    }
  });

  it('refuses a taken email with EmailTakenError', async () => {
    await assert.rejects(
      t.db.users.create({ username: 'carol', passwordHash: 'h', email: 'ALICE@example.com' }),
      EmailTakenError,
    );
  });

  it('raises UserNotFoundError when updating a missing user', async () => {
    await assert.rejects(t.db.users.update(999_999, { isActive: false }), UserNotFoundError);
  });

  it('matches % and _ literally in search', async () => {
    await t.db.users.create({ username: 'a_b', passwordHash: 'h' });
    await t.db.users.create({ username: 'axb', passwordHash: 'h' });
    await t.db.users.create({ username: 'per%cent', passwordHash: 'h' });
    const underscore = await t.db.users.findUsersWithPagination(1, 20, 'A_B');
    assert.deepEqual(underscore.users.map((u) => u.username), ['a_b']);
    assert.equal(underscore.total, 1);
    const percent = await t.db.users.findUsersWithPagination(1, 20, '%');
    assert.deepEqual(percent.users.map((u) => u.username), ['per%cent']);
  });
});
