import { mkdirSync } from 'node:fs';

import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

import { lockDataDir } from './embedded-lock.js';

/** A PGlite database served over the PostgreSQL wire protocol on 127.0.0.1. */
export interface EmbeddedDatabase {
  /** A postgres:// URL for pg, so the embedded default runs the same code path as production. */
  readonly url: string;
  readonly dataDir: string | undefined;
  stop(): Promise<void>;
}

/**
 * Starts PGlite, persisted in dataDir (in memory when undefined), behind a socket server on a free
 * loopback port. PGlite is one PostgreSQL backend: the server multiplexes many client connections
 * onto it, so session state (advisory locks, SET) is shared by all of them.
 */
export async function startEmbeddedDatabase(
  dataDir: string | undefined,
  maxConnections = 100,
): Promise<EmbeddedDatabase> {
  if (dataDir !== undefined) mkdirSync(dataDir, { recursive: true });
  const unlock = dataDir === undefined ? () => undefined : lockDataDir(dataDir);
  let db: PGlite | undefined;
  let server: PGLiteSocketServer;
  try {
    db = await PGlite.create(dataDir === undefined ? undefined : { dataDir });
    server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections });
    await server.start();
  } catch (error) {
    await db?.close();
    unlock();
    throw error;
  }
  const port = Number(server.getServerConn().split(':').pop());

  return {
    url: `postgresql://postgres@127.0.0.1:${port}/postgres?sslmode=disable`,
    dataDir,
    async stop() {
      await server.stop();
      await db.close();
      unlock();
    },
  };
}
