import { readFileSync } from 'node:fs';

import pg from 'pg';

import type { Config, PoolSettings } from '../config.js';

export interface PoolOptions {
  url: string;
  pool: PoolSettings;
  ssl?: Config['ssl'];
}

/**
 * Builds the one pg.Pool the process uses; Prisma's adapter and the hand-written hot paths share it.
 * With ssl mode "verify" the server certificate is checked against the system roots or the CA file,
 * and any sslmode in the URL is dropped so it cannot silently turn verification off.
 */
export function createPool({ url, pool, ssl }: PoolOptions): pg.Pool {
  const verify = ssl?.mode === 'verify';
  return new pg.Pool({
    connectionString: verify ? withoutSslParams(url) : url,
    ssl: verify ? { rejectUnauthorized: true, ca: readCa(ssl.caFile) } : undefined,
    min: pool.min,
    max: pool.max,
    connectionTimeoutMillis: pool.connectionTimeoutMs,
    idleTimeoutMillis: pool.idleTimeoutMs,
    // Prisma's pg adapter sends and reads timestamptz values without an offset, so they are only
    // right in a UTC session. A server or database whose TimeZone is local would shift every
    // stored instant; pinning the session keeps them exact whatever the server is set to.
    options: '-c TimeZone=UTC',
  });
}

/**
 * Opens DB_POOL_MIN connections up front. pg.Pool alone never closes below `min` but also never
 * opens connections before they are asked for. When one of them fails, the others are still handed
 * back before the error is thrown: a client left checked out would make pool.end() wait forever.
 */
export async function warmPool(pool: pg.Pool, min: number): Promise<void> {
  const results = await Promise.allSettled(Array.from({ length: min }, () => pool.connect()));
  for (const result of results) {
    if (result.status === 'fulfilled') result.value.release();
  }
  const failure = results.find((result) => result.status === 'rejected');
  if (failure) throw failure.reason;
}

function readCa(file: string | undefined): string | undefined {
  return file === undefined ? undefined : readFileSync(file, 'utf8');
}

function withoutSslParams(url: string): string {
  const parsed = new URL(url);
  for (const key of ['ssl', 'sslmode', 'sslrootcert', 'sslcert', 'sslkey', 'uselibpqcompat']) {
    parsed.searchParams.delete(key);
  }
  return parsed.toString();
}
