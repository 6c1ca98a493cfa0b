/**
 * Redaction for audit rows: any key that names a secret is replaced, at any depth, in objects and
 * arrays alike. Matching is on the key's name, case-insensitively, ignoring "-" and "_", so
 * `newPassword`, `refresh_token`, `X-Api-Key` and `clientSecret` are all caught.
 */

export const REDACTED = '[REDACTED]';

const SECRET_KEY =
  /pass(word|wd|phrase)?|secret|token|jwt|bearer|authorization|cookie|apikey|credential|privatekey|hash|otp|pin$|salt|signature|session(id|key)/;

/** Deepest nesting kept; anything below is replaced, so a hostile body cannot exhaust the stack. */
const MAX_DEPTH = 16;

export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key.toLowerCase().replace(/[-_\s]/g, ''));
}

/** A deep copy of value with every secret replaced by "[REDACTED]". */
export function redact(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH) return '[TRUNCATED]';
  if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1));

  const copy: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    copy[key] = isSecretKey(key) ? REDACTED : redact(inner, depth + 1);
  }
  return copy;
}
