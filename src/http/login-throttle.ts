import { isIP } from 'node:net';

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
 * clears the account's count. Keys are the client address (an IPv6 client's /64, see
 * throttleAddress) and the account as the caller names it (`user:<id>`, or `name:<fingerprint>` for
 * a name that matches no account), so an unknown account is throttled exactly like a real one.
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
    return this.hit([{ key: `register-ip:${throttleAddress(ip)}`, limit: maxPerIp }], windowSeconds);
  }

  /** Counts one hit on each key in one statement; refused when any key is over its limit. */
  private async hit(keys: { key: string; limit: number }[], windowSeconds: number): Promise<ThrottleVerdict> {
    // RETURNING gives each key back as sent, since every key is ASCII: an address, a user id or a
    // fingerprint (login names are never keys). A key the database changed would match no limit
    // below and be refused.
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

function ipKey(ip: string): string {
  return `ip:${throttleAddress(ip)}`;
}

/**
 * The address a client is counted under. An IPv4-mapped IPv6 address (`::ffff:203.0.113.6`, in any
 * spelling) is its IPv4 address, and any other IPv6 address is its /64 (`2001:db8::/64`): one
 * customer gets a whole /64 and may use every address in it, so counting each address apart would
 * let any IPv6 client step past the per-address limits. IPv6 is written in one canonical form
 * (RFC 5952: lowercase, no leading zeros, the longest run of zero groups as `::`), so two spellings
 * of one address share a count. Anything else (IPv4, or `unknown`) is kept as it is.
 */
export function throttleAddress(ip: string): string {
  if (isIP(ip) !== 6) return ip;
  const groups = ipv6Groups(ip);
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
    return [groups[6]! >> 8, groups[6]! & 0xff, groups[7]! >> 8, groups[7]! & 0xff].join('.');
  }
  return `${formatIpv6([...groups.slice(0, 4), 0, 0, 0, 0])}/64`;
}

/** The eight 16-bit groups of an address isIP has accepted as IPv6; a zone index (`%eth0`) is dropped. */
function ipv6Groups(ip: string): number[] {
  // A trailing dotted IPv4 part (`::ffff:1.2.3.4`) is the last two groups.
  const text = ip
    .replace(/%.*$/, '')
    .replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_, a, b, c, d) =>
      [(Number(a) << 8) | Number(b), (Number(c) << 8) | Number(d)]
        .map((group) => group.toString(16))
        .join(':'),
    );
  const [head = '', tail] = text.split('::');
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((group) => parseInt(group, 16)));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}

/** RFC 5952 text of eight groups: lowercase hex, the first longest run of two or more zeros as `::`. */
function formatIpv6(groups: number[]): string {
  let run = { start: -1, length: 1 };
  for (let start = 0; start < groups.length; start += 1) {
    let end = start;
    while (groups[end] === 0) end += 1;
    if (end - start > run.length) run = { start, length: end - start };
  }
  const hex = groups.map((group) => group.toString(16));
  if (run.start < 0) return hex.join(':');
  return `${hex.slice(0, run.start).join(':')}::${hex.slice(run.start + run.length).join(':')}`;
}

function accountKey(account: string): string {
  return `account:${account.slice(0, 280)}`;
}
