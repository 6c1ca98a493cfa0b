import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

import { lockDataDir } from './embedded-lock.js';

/** A PGlite database served over the PostgreSQL wire protocol on a private Unix socket. */
export interface EmbeddedDatabase {
  /** A postgres:// URL for pg, so the embedded default runs the same code path as production. */
  readonly url: string;
  readonly dataDir: string | undefined;
  stop(): Promise<void>;
}

/**
 * Starts PGlite, persisted in dataDir (in memory when undefined), behind a socket server. PGlite
 * checks no password, so it listens on no TCP port: its Unix socket lives in a fresh directory only
 * this process's user can enter (mode 0700), and no other local user can reach the data.
 *
 * PGlite is one PostgreSQL backend: the server multiplexes many client connections onto it, so
 * session state (advisory locks, SET, prepared statement names) is shared by all of them.
 */
export async function startEmbeddedDatabase(
  dataDir: string | undefined,
  maxConnections = 100,
): Promise<EmbeddedDatabase> {
  if (dataDir !== undefined) mkdirSync(dataDir, { recursive: true });
  const unlock = dataDir === undefined ? () => undefined : lockDataDir(dataDir);
  const socketDir = mkdtempSync(join(tmpdir(), 'infinity-pglite-'));
  const release = () => {
    rmSync(socketDir, { recursive: true, force: true });
    unlock();
  };

  let db: PGlite | undefined;
  let server: PGLiteSocketServer;
  try {
    db = await PGlite.create(dataDir === undefined ? undefined : { dataDir });
    // pg looks for the socket named .s.PGSQL.<port> in the directory given as host.
    server = new PGLiteSocketServer({ db, path: join(socketDir, '.s.PGSQL.5432'), maxConnections });
    await server.start();
  } catch (error) {
    await db?.close();
    release();
    throw error;
  }

  return {
    url: `postgresql://postgres@localhost/postgres?host=${encodeURIComponent(socketDir)}`,
    dataDir,
    async stop() {
      await server.stop();
      await db.close();
      release();
    },
  };
}
