import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { DatabaseService } from './database.js';
import { type EmbeddedDatabase, startEmbeddedDatabase } from './embedded.js';
import { migrate } from './migrator.js';

export interface OpenDatabase {
  readonly db: DatabaseService;
  readonly kind: 'postgres' | 'embedded';
  /** Disconnects, then stops the embedded server if there is one. */
  close(): Promise<void>;
}

/**
 * Connects to DATABASE_URL, or, when it is unset, to an embedded PGlite kept in EMBEDDED_DATA_DIR
 * (migrated on the way, since nothing else would do it). Logs which database is in use.
 */
export async function openDatabase(
  config: Config,
  logger: Logger,
  options: { migrateEmbedded?: boolean } = {},
): Promise<OpenDatabase> {
  let embedded: EmbeddedDatabase | undefined;
  if (config.databaseUrl === undefined) {
    embedded = await startEmbeddedDatabase(config.embeddedDataDir);
    logger.info({ database: 'embedded', dataDir: config.embeddedDataDir }, 'using embedded PGlite database');
  } else {
    logger.info({ database: 'postgres', host: hostOf(config.databaseUrl) }, 'using PostgreSQL');
  }

  const db = new DatabaseService({
    url: embedded?.url ?? (config.databaseUrl as string),
    pool: config.pool,
    ssl: embedded ? { mode: 'off', caFile: undefined } : config.ssl,
    logger,
    logQueries: config.env === 'development' && config.logLevel === 'debug',
    preparedStatements: embedded === undefined,
  });
  try {
    if (embedded && options.migrateEmbedded !== false) {
      const applied = await migrate(db.pool);
      if (applied.length > 0) logger.info({ applied }, 'embedded database migrated');
    }
    await db.connect();
  } catch (error) {
    await db.disconnect().catch(() => undefined);
    await embedded?.stop();
    throw error;
  }

  return {
    db,
    kind: embedded ? 'embedded' : 'postgres',
    async close() {
      await db.disconnect();
      await embedded?.stop();
    },
  };
}

/** Host and database of a URL, never its password. */
function hostOf(url: string): string {
  const parsed = new URL(url);
  return `${parsed.hostname}:${parsed.port || 5432}${parsed.pathname}`;
}
