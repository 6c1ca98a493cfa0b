import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { AuditLogInput, AuditLogRepository } from '../src/db/repositories/audit-logs.js';
import { InvalidInputError } from '../src/errors.js';
import { AuditBuffer } from '../src/http/audit-buffer.js';
import { captureLogs } from './helpers/logs.js';

/**
 * The buffer against a repository kept in memory, so each failure can be switched on at will: the
 * database going away (a connection error) or refusing one row on its own merits.
 */
class MemoryRepository {
  readonly stored: AuditLogInput[] = [];
  statements = 0;
  down = false;
  refused = new Set<string>();

  async createAuditLogs(rows: readonly AuditLogInput[]): Promise<number> {
    this.statements += 1;
    for (const row of rows) this.check(row);
    this.stored.push(...rows);
    return rows.length;
  }

  async createAuditLog(row: AuditLogInput): Promise<AuditLogInput> {
    this.statements += 1;
    this.check(row);
    this.stored.push(row);
    return row;
  }

  private check(row: AuditLogInput): void {
    if (this.down)
      throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    if (this.refused.has(row.action)) throw new InvalidInputError('action', 'refused');
  }
}

function bufferWith(repository: MemoryRepository, options: { batchSize?: number; maxPending?: number } = {}) {
  const { logger, lines } = captureLogs('debug');
  const buffer = new AuditBuffer(repository as unknown as AuditLogRepository, logger, {
    flushIntervalMs: 3_600_000,
    batchSize: options.batchSize ?? 100,
    maxPending: options.maxPending,
  });
  return { buffer, lines };
}

const row = (action: string): AuditLogInput => ({ action, responseStatus: 200 });

describe('AuditBuffer', () => {
  it('writes nothing until a batch is full, then the whole batch in one statement', async () => {
    const repository = new MemoryRepository();
    const { buffer } = bufferWith(repository, { batchSize: 3 });

    buffer.add(row('a.one'));
    buffer.add(row('a.two'));
    assert.equal(repository.stored.length, 0);
    buffer.add(row('a.three'));
    await buffer.flush();

    assert.deepEqual(
      repository.stored.map((r) => r.action),
      ['a.one', 'a.two', 'a.three'],
    );
    assert.equal(repository.statements, 1);
    await buffer.close();
  });

  it('stamps each row with the time it was added, not the time it is written', async () => {
    const repository = new MemoryRepository();
    const { buffer } = bufferWith(repository);
    const before = Date.now();

    buffer.add(row('a.stamped'));
    const added = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 30));
    const flushing = Date.now();
    await buffer.flush();

    const stamped = repository.stored[0]?.createdAt?.getTime() ?? 0;
    assert.ok(
      stamped >= before && stamped <= added && added < flushing,
      `createdAt ${stamped} is the add time`,
    );
    await buffer.close();
  });

  it('keeps every row while the database is down and writes them, in order, once it is back', async () => {
    const repository = new MemoryRepository();
    const { buffer } = bufferWith(repository);
    repository.down = true;

    for (const action of ['b.one', 'b.two', 'b.three']) buffer.add(row(action));
    await buffer.flush();
    assert.equal(repository.stored.length, 0);
    assert.equal(buffer.size, 3);

    repository.down = false;
    buffer.add(row('b.four'));
    await buffer.flush();

    assert.deepEqual(
      repository.stored.map((r) => r.action),
      ['b.one', 'b.two', 'b.three', 'b.four'],
    );
    assert.equal(buffer.size, 0);
    await buffer.close();
  });

  it('drops only the row the database refuses on its own merits, and logs its action', async () => {
    const repository = new MemoryRepository();
    const { buffer, lines } = bufferWith(repository);
    repository.refused.add('c.poison');

    for (const action of ['c.one', 'c.poison', 'c.two']) buffer.add(row(action));
    await buffer.flush();

    assert.deepEqual(
      repository.stored.map((r) => r.action),
      ['c.one', 'c.two'],
    );
    const dropped = lines.filter((line) => line.msg === 'audit row refused, dropped');
    assert.deepEqual(
      dropped.map((line) => line.action),
      ['c.poison'],
    );
    await buffer.close();
  });

  it('writes everything still pending on close', async () => {
    const repository = new MemoryRepository();
    const { buffer } = bufferWith(repository);

    for (let i = 0; i < 250; i += 1) buffer.add(row('d.pending'));
    await buffer.close();

    assert.equal(repository.stored.length, 250);
    assert.equal(buffer.size, 0);
  });

  it('past maxPending drops the oldest rows and says how many', async () => {
    const repository = new MemoryRepository();
    repository.down = true;
    const { buffer, lines } = bufferWith(repository, { batchSize: 1000, maxPending: 3 });

    for (const action of ['e.one', 'e.two', 'e.three', 'e.four', 'e.five']) buffer.add(row(action));
    repository.down = false;
    await buffer.close();

    assert.deepEqual(
      repository.stored.map((r) => r.action),
      ['e.three', 'e.four', 'e.five'],
    );
    const full = lines.filter((line) => line.msg === 'audit buffer full, oldest rows dropped');
    assert.deepEqual(
      full.map((line) => line.dropped),
      [1, 1],
    );
  });
});
