/**
 * `npm run bench`: the hot paths side by side with hand-written SQL on the same database, in one
 * run, so the ratios are comparable even on a noisy machine. Uses BENCH_DATABASE_URL (a database it
 * may fill and empty) or, when unset, a fresh in-memory PGlite.
 *
 * Targets (a ratio of the project's path to plain pg with the same SQL, prepared the same way):
 * session check <= 1.2,
 * audit batch insert <= 1.5 per row. The run exits 1 when a target is missed.
 */
import { performance } from 'node:perf_hooks';

import pg from 'pg';

import { DatabaseService } from '../src/db/database.js';
import { startEmbeddedDatabase } from '../src/db/embedded.js';
import { migrate } from '../src/db/migrator.js';
import { PrismaSessionCheck } from '../src/db/repositories/sessions.js';

const USERS = Number(process.env.BENCH_USERS ?? 2_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
const AUDIT_ROWS = Number(process.env.BENCH_AUDIT_ROWS ?? 5_000);

interface Result {
  name: string;
  opsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
}

async function main(): Promise<void> {
  const embedded = process.env.BENCH_DATABASE_URL ? undefined : await startEmbeddedDatabase(undefined);
  const url = process.env.BENCH_DATABASE_URL ?? embedded!.url;
  const db = new DatabaseService({
    url,
    pool: { min: CONCURRENCY, max: CONCURRENCY, connectionTimeoutMs: 30_000, idleTimeoutMs: 60_000 },
    preparedStatements: embedded === undefined,
  });
  const raw = new pg.Pool({ connectionString: url, max: CONCURRENCY });
  try {
    await migrate(db.pool);
    await db.connect();
    const jtis = await fill(db);
    const sessionResults = await benchSessionCheck(db, raw, jtis, embedded === undefined);
    const auditResults = await benchAuditInsert(db, raw);
    report(embedded ? 'embedded PGlite' : 'PostgreSQL', [...sessionResults, ...auditResults]);
    const missed = checkTargets(sessionResults, auditResults);
    await db.prisma.$executeRawUnsafe('TRUNCATE users, user_sessions, audit_logs RESTART IDENTITY CASCADE');
    if (missed.length > 0) {
      process.stderr.write(`targets missed: ${missed.join('; ')}\n`);
      process.exitCode = 1;
    }
  } finally {
    await raw.end();
    await db.disconnect();
    await embedded?.stop();
  }
}

/** USERS users, each with one live session; returns the session jtis. */
async function fill(db: DatabaseService): Promise<string[]> {
  await db.prisma.$executeRawUnsafe('TRUNCATE users, user_sessions, audit_logs RESTART IDENTITY CASCADE');
  await db.pool.query(
    `INSERT INTO users (username, password_hash)
     SELECT 'bench' || g, 'x' FROM generate_series(1, $1) AS g`,
    [USERS],
  );
  const { rows } = await db.pool.query<{ token_jti: string }>(
    `INSERT INTO user_sessions (user_id, token_jti, expires_at)
     SELECT id, gen_random_uuid()::text, now() + interval '1 hour' FROM users
     RETURNING token_jti`,
  );
  await db.pool.query('ANALYZE users; ANALYZE user_sessions');
  return rows.map((row) => row.token_jti);
}

async function benchSessionCheck(
  db: DatabaseService,
  raw: pg.Pool,
  jtis: string[],
  prepared: boolean,
): Promise<Result[]> {
  const plainSql = `
    SELECT s.id AS session_id, s.expires_at,
           u.id, u.username, u.email, u.is_active, u.created_at, u.updated_at
      FROM user_sessions s
      JOIN users u ON u.id = s.user_id
     WHERE s.token_jti = $1 AND s.expires_at > now() AND u.is_active`;
  const pick = (i: number) => jtis[i % jtis.length] as string;
  const sqlCheck = db.sessions.check;
  const prismaCheck = new PrismaSessionCheck(db.prisma);

  const contenders: [string, (i: number) => Promise<unknown>][] = [
    [
      `session check: hand-written SQL, plain pg${prepared ? ', prepared' : ''}`,
      (i) =>
        raw.query({ name: prepared ? 'bench_plain_check' : undefined, text: plainSql, values: [pick(i)] }),
    ],
    ['session check: SqlSessionCheck (used by the service)', (i) => sqlCheck.findActiveSession(pick(i))],
    ['session check: PrismaSessionCheck', (i) => prismaCheck.findActiveSession(pick(i))],
  ];
  for (const [, run] of contenders) await measure('warm-up', 500, run);
  // Interleave three passes so a slow moment of the machine does not land on one contender only.
  const passes: Result[][] = [];
  for (let pass = 0; pass < 3; pass += 1) {
    const results: Result[] = [];
    for (const [name, run] of contenders) results.push(await measure(name, ROUNDS, run));
    passes.push(results);
  }
  return contenders.map((_, index) => best(passes.map((results) => results[index] as Result)));
}

async function benchAuditInsert(db: DatabaseService, raw: pg.Pool): Promise<Result[]> {
  const row = (i: number) => ({
    action: 'bench.event',
    userId: null,
    resource: 'bench',
    resourceId: String(i),
    ipAddress: '127.0.0.1',
    userAgent: 'bench',
    requestData: { path: '/bench', body: { i, nested: [1, 2, { ok: true }] } },
    responseStatus: 200,
    createdAt: new Date(),
  });
  const batch = 200;
  const batches = Math.ceil(AUDIT_ROWS / batch);
  const rows = (start: number) => Array.from({ length: batch }, (_, i) => row(start + i));

  const contenders: [string, (b: number) => Promise<unknown>][] = [
    ['audit insert: hand-written multi-row INSERT', (b) => insertPlain(raw, rows(b * batch))],
    ['audit insert: createAuditLogs, 200 rows a batch', (b) => db.auditLogs.createAuditLogs(rows(b * batch))],
  ];
  // Three passes in alternating order, so neither contender always meets the colder table.
  const passes: Result[][] = [];
  for (let pass = 0; pass < 3; pass += 1) {
    const order = pass % 2 === 0 ? [0, 1] : [1, 0];
    const results: Result[] = [];
    for (const index of order) {
      const [name, run] = contenders[index] as [string, (b: number) => Promise<unknown>];
      results[index] = await measureBatches(name, batches, batch, run);
    }
    passes.push(results);
  }
  return contenders.map((_, index) => best(passes.map((results) => results[index] as Result)));
}

async function insertPlain(raw: pg.Pool, rows: ReturnType<typeof Object>[]): Promise<void> {
  const values: unknown[] = [];
  const tuples = rows.map((r: Record<string, unknown>, i) => {
    values.push(
      r.action,
      r.userId,
      r.resource,
      r.resourceId,
      r.ipAddress,
      r.userAgent,
      JSON.stringify(r.requestData),
      r.responseStatus,
      r.createdAt,
    );
    const o = i * 9;
    return `($${o + 1}, $${o + 2}, $${o + 3}, $${o + 4}, $${o + 5}::inet, $${o + 6}, $${o + 7}::jsonb, $${o + 8}, $${o + 9})`;
  });
  await raw.query(
    `INSERT INTO audit_logs
       (action, user_id, resource, resource_id, ip_address, user_agent, request_data, response_status, created_at)
     VALUES ${tuples.join(', ')}`,
    values,
  );
}

async function measure(name: string, rounds: number, run: (i: number) => Promise<unknown>): Promise<Result> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < rounds) {
      const i = next++;
      const t0 = performance.now();
      await run(i);
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return summarize(name, rounds, performance.now() - started, latencies);
}

async function measureBatches(
  name: string,
  batches: number,
  perBatch: number,
  run: (batch: number) => Promise<unknown>,
): Promise<Result> {
  const latencies: number[] = [];
  const started = performance.now();
  for (let b = 0; b < batches; b += 1) {
    const t0 = performance.now();
    await run(b);
    latencies.push(performance.now() - t0);
  }
  return summarize(name, batches * perBatch, performance.now() - started, latencies);
}

function summarize(name: string, ops: number, elapsedMs: number, latencies: number[]): Result {
  const sorted = latencies.sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return { name, opsPerSecond: (ops / elapsedMs) * 1000, p50Ms: at(0.5), p99Ms: at(0.99) };
}

function best(results: Result[]): Result {
  return results.reduce((a, b) => (b.opsPerSecond > a.opsPerSecond ? b : a));
}

function report(database: string, results: Result[]): void {
  const lines = [
    `hot paths on ${database}: ${USERS} users, ${ROUNDS} checks x3 passes (best kept), concurrency ${CONCURRENCY}`,
    '',
    '| path | ops/s | p50 ms | p99 ms |',
    '|---|---:|---:|---:|',
    ...results.map(
      (r) => `| ${r.name} | ${r.opsPerSecond.toFixed(0)} | ${r.p50Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} |`,
    ),
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

function checkTargets(session: Result[], audit: Result[]): string[] {
  const [plain, sql, prisma] = session as [Result, Result, Result];
  const [plainInsert, repoInsert] = audit as [Result, Result];
  const ratios = {
    sessionCheck: plain.opsPerSecond / sql.opsPerSecond,
    prismaCheck: plain.opsPerSecond / prisma.opsPerSecond,
    auditInsert: plainInsert.opsPerSecond / repoInsert.opsPerSecond,
  };
  process.stdout.write(
    `slowdown vs plain pg (1.00 = same speed): SqlSessionCheck ${ratios.sessionCheck.toFixed(2)}, ` +
      `PrismaSessionCheck ${ratios.prismaCheck.toFixed(2)}, audit createAuditLogs ${ratios.auditInsert.toFixed(2)}\n`,
  );
  const missed: string[] = [];
  if (ratios.sessionCheck > 1.2) missed.push(`session check ${ratios.sessionCheck.toFixed(2)} > 1.20`);
  if (ratios.auditInsert > 1.5) missed.push(`audit insert ${ratios.auditInsert.toFixed(2)} > 1.50`);
  return missed;
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
