import type pg from 'pg';

export interface ThrottleOptions {
  windowSeconds: number;
  maxPerIp: number;
  maxPerAccount: number;
}

export type ThrottleVerdict = { allowed: true } | { allowed: false; retryAfterSeconds: number };

/**
 * Login throttling in fixed windows, counted in the database so every instance of the service
 * shares the counts. Each attempt is counted before the password is checked (so parallel guesses
 * cannot slip past the limit); a successful login takes its attempt back from the address and
 * clears the account's count. Keys are the client address and the normalised login name, so an
 * unknown account is throttled exactly like a real one.
 *
 * The statements are deliberately unnamed: the embedded PGlite serves every connection from one
 * backend, where a second connection preparing the same statement name fails with 42P05.
 */
export class LoginThrottle {
  constructor(
    private readonly pool: pg.Pool,
    private readonly options: ThrottleOptions,
  ) {}

  async attempt(ip: string, account: string): Promise<ThrottleVerdict> {
    const { rows } = await this.pool.query<{ key: string; hits: number; retry_after: number }>({
      text: `
        INSERT INTO login_throttles AS t (key, window_start, hits)
        VALUES ($1, now(), 1), ($2, now(), 1)
        ON CONFLICT (key) DO UPDATE SET
          hits = CASE WHEN t.window_start <= now() - make_interval(secs => $3) THEN 1 ELSE t.hits + 1 END,
          window_start = CASE WHEN t.window_start <= now() - make_interval(secs => $3)
                              THEN now() ELSE t.window_start END
        RETURNING key, hits,
          ceil(extract(epoch FROM window_start + make_interval(secs => $3) - now()))::int AS retry_after`,
      values: [ipKey(ip), accountKey(account), this.options.windowSeconds],
    });

    const over = rows.filter((row) => row.hits > this.limitFor(row.key));
    if (over.length === 0) return { allowed: true };
    return { allowed: false, retryAfterSeconds: Math.max(1, ...over.map((row) => row.retry_after)) };
  }

  async succeeded(ip: string, account: string): Promise<void> {
    await this.pool.query({
      text: `
        WITH cleared AS (DELETE FROM login_throttles WHERE key = $2)
        UPDATE login_throttles SET hits = greatest(hits - 1, 0) WHERE key = $1`,
      values: [ipKey(ip), accountKey(account)],
    });
  }

  private limitFor(key: string): number {
    return key.startsWith('ip:') ? this.options.maxPerIp : this.options.maxPerAccount;
  }
}

function ipKey(ip: string): string {
  return `ip:${ip}`;
}

function accountKey(account: string): string {
  return `account:${account.slice(0, 280)}`;
}
