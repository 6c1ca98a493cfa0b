import type { FastifyInstance } from 'fastify';

import { CleanupService, cleanupOptionsFrom } from './cleanup.js';
import { type Config, loadConfig } from './config.js';
import { migrate } from './db/migrator.js';
import { type OpenDatabase, openDatabase } from './db/open.js';
import { ConfigError } from './errors.js';
import { buildApp } from './http/app.js';
import { createLogger, type Logger } from './logger.js';
import { seed } from './seed.js';

/**
 * `npm start`: opens the database (the embedded PGlite when DATABASE_URL is unset), migrates,
 * seeds, serves, runs the cleanup on its schedule, and shuts down gracefully on SIGTERM/SIGINT.
 */
async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config);
  const database = await openDatabase(config, logger);
  try {
    await prepare(database, config, logger);
    const app = await buildApp({ config, db: database.db, logger });
    const url = await app.listen({ host: config.host, port: config.port });
    const cleanup = scheduleCleanup(database, config, logger);
    handleSignals(app, database, logger, cleanup, config.shutdownTimeoutMs);
    announce(url, config, database.kind);
  } catch (error) {
    await database.close().catch(() => undefined);
    throw error;
  }
}

async function prepare(database: OpenDatabase, config: Config, logger: Logger): Promise<void> {
  if (database.kind === 'postgres' && config.migrateOnStart) {
    const applied = await migrate(database.db.pool);
    logger.info({ applied }, applied.length > 0 ? 'migrations applied' : 'schema up to date');
  }
  if (!config.seed.onStart) return;
  const result = await seed(database.db, config, logger);
  for (const [username, password] of Object.entries(result.generatedPasswords)) {
    // Printed once, on standard output beside the log: it is stored nowhere else and not logged.
    // Under a supervisor that collects stdout it lands there; set SEED_ADMIN_PASSWORD to avoid it.
    process.stdout.write(`\n  Generated password for "${username}": ${password}\n`);
  }
}

/** Runs the locked cleanup every CLEANUP_INTERVAL_MS; overlapping runs across instances skip. */
function scheduleCleanup(database: OpenDatabase, config: Config, logger: Logger): NodeJS.Timeout | undefined {
  if (!config.cleanup.enabled) return undefined;
  const service = new CleanupService(database.db, logger, cleanupOptionsFrom(config));
  const timer = setInterval(() => {
    service.runDailyCleanup().catch((error: unknown) => logger.error({ err: error }, 'cleanup failed'));
  }, config.cleanup.intervalMs);
  timer.unref();
  return timer;
}

function handleSignals(
  app: FastifyInstance,
  database: OpenDatabase,
  logger: Logger,
  cleanup: NodeJS.Timeout | undefined,
  shutdownTimeoutMs: number,
): void {
  let stopping = false;
  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal, exiting at once');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing requests, flushing audit rows');
    clearInterval(cleanup);
    // A client that never finishes its request must not hold the shutdown (and the audit flush
    // behind it) forever: past the deadline its connection is closed.
    const deadline = setTimeout(() => app.server.closeAllConnections(), shutdownTimeoutMs);
    deadline.unref();
    try {
      await app.close();
      await database.close();
      logger.info({}, 'shutdown complete');
      process.exit(0);
    } catch (error) {
      logger.error({ err: error }, 'shutdown failed');
      process.exit(1);
    }
  };
  process.on('SIGTERM', (signal) => void stop(signal));
  process.on('SIGINT', (signal) => void stop(signal));
}

function announce(url: string, config: Config, kind: OpenDatabase['kind']): void {
  const docs = config.docsEnabled ? `\n  API docs:   ${url}/docs` : '';
  const database =
    kind === 'embedded' ? `embedded PGlite in ${config.embeddedDataDir}` : 'PostgreSQL (DATABASE_URL)';
  process.stdout.write(
    `\n  infinity-server is listening on ${url}  (database: ${database})${docs}\n` +
      `  Sign in as admin:  curl -s ${url}/auth/login -H 'content-type: application/json' \\\n` +
      `      -d '{"username":"admin","password":"<the admin password>"}'\n` +
      '  The admin password is SEED_ADMIN_PASSWORD, or the one printed when the admin was first created.\n\n',
  );
}

main().catch((error: unknown) => {
  const message = error instanceof ConfigError ? `configuration error: ${error.message}` : String(error);
  process.stderr.write(`infinity-server failed to start: ${message}\n`);
  if (!(error instanceof ConfigError) && error instanceof Error && error.stack) {
    process.stderr.write(`${error.stack}\n`);
  }
  process.exit(1);
});
