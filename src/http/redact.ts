/**
 * What an audit row keeps of a request: a bounded, redacted copy. Any key that names a secret is
 * replaced, at any depth, in objects and arrays alike. Keys are compared after folding case,
 * accents and separators away, so `newPassword`, `refresh_token`, `X-Api-Key`, `pässword`,
 * `pass\u200bword`, `confirmPw` and `contraseña` are all caught. Long strings, long arrays, wide
 * objects and deep nesting are cut, so no request, however hostile, can make an audit row large.
 */

export const REDACTED = '[REDACTED]';

/**
 * Matched against the folded key. `pw` only at either end (`pwHint`, `confirmPw`): inside a word it
 * is too often something else. Password in other languages: German, Spanish, Portuguese, Dutch,
 * Polish, Finnish, Swedish, Turkish (French "mot de passe" and Norwegian "passord" hold "pass").
 * Polish `haslo` is not taken at the start of a key, where it is mostly English `hasLogo`.
 */
const SECRET_KEY =
  /pass|^pw|pw$|pwd|secret|token|jwt|bearer|authori[sz]ation|cookie|apikey|accesskey|credential|privatekey|hash|otp|pin$|pincode|mfa|recovery|salt|signature|session(id|key)|answer|cvv|cvc|ssn|kennwort|contrasena|senha|wachtwoord|.haslo|haslo$|salasana|losenord|sifre/;

/** Bounds of the copy; a cut is marked so a reader knows something was left out. */
export const LIMITS = { depth: 8, stringLength: 256, arrayItems: 50, objectKeys: 50 } as const;

export function isSecretKey(key: string): boolean {
  // NFKD takes accents off (`contraseña`, `lösenord`, `şifre`); ł has no decomposition of its own.
  const folded = key
    .normalize('NFKD')
    .toLowerCase()
    .replaceAll('ł', 'l')
    .replace(/[^a-z0-9]/g, '');
  return SECRET_KEY.test(folded);
}

/** A bounded deep copy of value with every secret replaced by "[REDACTED]". */
export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return cutString(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth >= LIMITS.depth) return '[TRUNCATED]';

  if (Array.isArray(value)) {
    const kept = value.slice(0, LIMITS.arrayItems).map((item) => redact(item, depth + 1));
    return value.length > LIMITS.arrayItems ? [...kept, `[${value.length - LIMITS.arrayItems} more]`] : kept;
  }

  const entries = Object.entries(value);
  const copy: Record<string, unknown> = {};
  for (const [key, inner] of entries.slice(0, LIMITS.objectKeys)) {
    copy[cutString(key)] = isSecretKey(key) ? REDACTED : redact(inner, depth + 1);
  }
  if (entries.length > LIMITS.objectKeys) copy['[more keys]'] = entries.length - LIMITS.objectKeys;
  return copy;
}

function cutString(text: string): string {
  return text.length <= LIMITS.stringLength ? text : `${text.slice(0, LIMITS.stringLength)}…[cut]`;
}
