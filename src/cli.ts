import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { pino } from 'pino';
import pretty from 'pino-pretty';

import { CleanupService, cleanupOptionsFrom } from './cleanup.js';
import { type Config, loadConfig } from './config.js';
import { MigrationError, migrate, migrationStatus } from './db/migrator.js';
import { type OpenDatabase, openDatabase } from './db/open.js';
import { ConfigError } from './errors.js';
import { type Logger, REDACTED_LOG_PATHS } from './logger.js';

/**
 * The package's command line: `infinity-server <command>`. Human-readable results go to stdout,
 * failures and pino's log lines to stderr. Exit status: 0 done, 1 failed (or, for `status`, the
 * database is not up to date), 2 usage error.
 */

export const USAGE = `usage: infinity-server <command>

commands:
  migrate   apply pending migrations
  status    list applied, pending, modified and failed migrations
  seed      create the admin user (and testuser outside production) if missing
  cleanup   remove expired sessions, old audit rows and stale login throttles, once
  help      show this text

Settings come from the environment. Without DATABASE_URL the embedded database in
EMBEDDED_DATA_DIR is used; seed and cleanup migrate it first.`;

const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

/** Where the command line reads its settings and writes its lines; the process by default. */
export interface CliIo {
  readonly env: NodeJS.ProcessEnv;
  out(line: string): void;
  err(line: string): void;
}

interface CommandContext {
  readonly config: Config;
  readonly logger: Logger;
  readonly io: CliIo;
  readonly database: OpenDatabase;
}

interface Command {
  /** Whether openDatabase may migrate the embedded database on the way. */
  readonly migrateEmbedded: boolean;
  /** Whether a PostgreSQL database must be fully migrated before the command runs. */
  readonly needsSchema: boolean;
  run(context: CommandContext): Promise<number>;
}

const COMMANDS: Readonly<Record<string, Command>> = {
  migrate: { migrateEmbedded: false, needsSchema: false, run: runMigrate },
  status: { migrateEmbedded: false, needsSchema: false, run: runStatus },
  seed: { migrateEmbedded: true, needsSchema: true, run: runSeed },
  cleanup: { migrateEmbedded: true, needsSchema: true, run: runCleanup },
};

/** Runs one command and returns the exit status; never throws. */
export async function main(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  const [name, ...extra] = argv;
  if (name === undefined) {
    io.err(USAGE);
    return EXIT_USAGE;
  }
  if (name === 'help' || name === '--help' || name === '-h') {
    io.out(USAGE);
    return EXIT_OK;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (command === undefined || extra.length > 0) {
    io.err(command === undefined ? `unknown command: ${name}` : `${name} takes no arguments`);
    io.err(USAGE);
    return EXIT_USAGE;
  }

  try {
    return await execute(name, command, io);
  } catch (error) {
    io.err(`infinity-server ${name}: ${describeError(error)}`);
    return EXIT_FAILED;
  }
}

async function execute(name: string, command: Command, io: CliIo): Promise<number> {
  // No command signs a token, so production needs no JWT_SECRET here (one set is still checked).
  const config = loadConfig(io.env, { signsTokens: false });
  const logger = cliLogger(config);

  let database: OpenDatabase;
  try {
    database = await openDatabase(config, logger, { migrateEmbedded: command.migrateEmbedded });
  } catch (error) {
    io.err(`infinity-server ${name}: ${describeOpenFailure(config, error)}`);
    return EXIT_FAILED;
  }

  try {
    if (command.needsSchema && database.kind === 'postgres') await requireMigrated(database);
    return await command.run({ config, logger, io, database });
  } finally {
    await database.close();
  }
}

async function runMigrate({ io, database }: CommandContext): Promise<number> {
  const applied = await migrate(database.db.pool);

  if (applied.length === 0) {
    io.out('nothing to migrate: the database is up to date');
    return EXIT_OK;
  }
  for (const migration of applied) io.out(`applied ${migration}`);
  io.out(`${plural(applied.length, 'migration')} applied`);
  return EXIT_OK;
}

async function runStatus({ io, database }: CommandContext): Promise<number> {
  const status = await migrationStatus(database.db.pool);

  io.out(`database: ${database.kind}`);
  for (const [label, names] of [
    ['applied', status.applied],
    ['pending', status.pending],
    ['modified since applied', status.modified],
    ['failed', status.failed],
  ] as const) {
    io.out(`${label}: ${names.length === 0 ? 'none' : names.length}`);
    for (const migrationName of names) io.out(`  ${migrationName}`);
  }

  const upToDate = status.pending.length + status.modified.length + status.failed.length === 0;
  io.out(upToDate ? 'up to date' : 'not up to date: run `infinity-server migrate` or repair history');
  return upToDate ? EXIT_OK : EXIT_FAILED;
}

async function runSeed({ config, logger, io, database }: CommandContext): Promise<number> {
  // Loaded here, not at the top: only seeding hashes, so only seeding loads the native hasher.
  const { seed } = await import('./seed.js');
  const result = await seed(database.db, config, logger);

  if (result.created.length === 0) {
    io.out('nothing to seed: the users already exist');
    return EXIT_OK;
  }
  io.out(`created ${result.created.join(', ')}`);
  const generated = Object.entries(result.generatedPasswords);
  for (const [username, password] of generated) {
    io.out(`generated password for ${username}: ${password}`);
  }
  if (generated.length > 0) io.out('store these passwords now: they are not shown again');
  return EXIT_OK;
}

async function runCleanup({ config, logger, io, database }: CommandContext): Promise<number> {
  const service = new CleanupService(database.db, logger, cleanupOptionsFrom(config));
  const report = await service.runDailyCleanup();

  if ('skipped' in report) {
    io.out('cleanup skipped: another process is running it');
    return EXIT_OK;
  }
  const days = config.audit.retentionDays;
  io.out(
    `removed ${plural(report.expiredSessions, 'expired session')}, ` +
      `${plural(report.oldAuditLogs, 'audit log row')} older than ${days} days ` +
      `and ${plural(report.staleThrottles, 'stale login throttle')} in ${report.durationMs} ms`,
  );
  return EXIT_OK;
}

/** Seed and cleanup on an unmigrated PostgreSQL would fail on a missing table; say why first. */
async function requireMigrated(database: OpenDatabase): Promise<void> {
  const status = await migrationStatus(database.db.pool);
  const missing = [...status.failed, ...status.pending];
  if (missing.length > 0) {
    throw new MigrationError(
      `the database is not migrated (${missing.join(', ')}): run \`infinity-server migrate\` first`,
    );
  }
}

/** pino on stderr, so stdout carries only results; pretty when a person is watching. */
function cliLogger(config: Config): Logger {
  const redact = { paths: REDACTED_LOG_PATHS, censor: '[REDACTED]' };
  const options = { level: config.logLevel, redact };
  const destination = process.stderr.isTTY
    ? pretty({ destination: 2, sync: true, translateTime: true })
    : pino.destination({ fd: 2, sync: true });
  return pino(options, destination);
}

function describeOpenFailure(config: Config, error: unknown): string {
  if (error instanceof MigrationError) return error.message;
  const reason = describeError(error);
  return config.databaseUrl === undefined
    ? `cannot open the embedded database in ${config.embeddedDataDir}: ${reason}`
    : `cannot connect to the database at ${hostOf(config.databaseUrl)}: ${reason}`;
}

/** One line for a person. A ConfigError names its variable; an AggregateError lists its causes. */
function describeError(error: unknown): string {
  if (error instanceof ConfigError) return `configuration error: ${error.message}`;
  if (error instanceof AggregateError && error.errors.length > 0) {
    return error.errors.map(describeError).join('; ');
  }
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return error.message || (typeof code === 'string' ? code : error.name);
  }
  return String(error);
}

/** Host, port and database name of a URL, never its credentials. */
function hostOf(url: string): string {
  const parsed = new URL(url);
  return `${parsed.hostname}:${parsed.port || 5432}${parsed.pathname}`;
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

function processIo(): CliIo {
  return {
    env: process.env,
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
  };
}

function isEntryPoint(moduleUrl: string): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(moduleUrl));
  } catch {
    return false;
  }
}

if (isEntryPoint(import.meta.url)) process.exitCode = await main(process.argv.slice(2));
