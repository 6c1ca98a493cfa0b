import type pg from 'pg';

export interface ThrottleOptions {
  windowSeconds: number;
  maxPerIp: number;
  maxPerAccount: number;
  /** Registrations per client address, in windows of their own length. */
  register: { windowSeconds: number; maxPerIp: number };
}

export type ThrottleVerdict = { allowed: true } | { allowed: false; retryAfterSeconds: number };

/**
 * Login and registration throttling in fixed windows, counted in the database so every instance of
 * the service shares the counts. Each attempt is counted before the password is checked (so parallel guesses
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
    const { maxPerIp, maxPerAccount, windowSeconds } = this.options;
    return this.hit(
      [
        { key: ipKey(ip), limit: maxPerIp },
        { key: accountKey(account), limit: maxPerAccount },
      ],
      windowSeconds,
    );
  }

  /** Counts one registration from the address (before its password is hashed). */
  async attemptRegistration(ip: string): Promise<ThrottleVerdict> {
    const { maxPerIp, windowSeconds } = this.options.register;
    return this.hit([{ key: `register-ip:${ip}`, limit: maxPerIp }], windowSeconds);
  }

  /** Counts one hit on each key in one statement; refused when any key is over its limit. */
  private async hit(
    entries: { key: string; limit: number }[],
    windowSeconds: number,
  ): Promise<ThrottleVerdict> {
    // The keys come back from RETURNING as stored; a lone surrogate would come back as U+FFFD.
    const keys = entries.map(({ key, limit }) => ({ key: wellFormed(key), limit }));
    const { rows } = await this.pool.query<{ key: string; hits: number; retry_after: number }>({
      text: `
        INSERT INTO login_throttles AS t (key, window_start, hits)
        SELECT key, now(), 1 FROM unnest($1::text[]) AS key
        ON CONFLICT (key) DO UPDATE SET
          hits = CASE WHEN t.window_start <= now() - make_interval(secs => $2) THEN 1 ELSE t.hits + 1 END,
          window_start = CASE WHEN t.window_start <= now() - make_interval(secs => $2)
                              THEN now() ELSE t.window_start END
        RETURNING key, hits,
          ceil(extract(epoch FROM window_start + make_interval(secs => $2) - now()))::int AS retry_after`,
      values: [keys.map(({ key }) => key), windowSeconds],
    });

    const limits = new Map(keys.map(({ key, limit }) => [key, limit]));
    const over = rows.filter((row) => row.hits > (limits.get(row.key) ?? 0));
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
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** The text as PostgreSQL stores it: each lone surrogate becomes U+FFFD. */
function wellFormed(text: string): string {
  return text.replace(LONE_SURROGATE, '\uFFFD');
}

function ipKey(ip: string): string {
  return `ip:${ip}`;
}

function accountKey(account: string): string {
  return `account:${account.slice(0, 280)}`;
}
