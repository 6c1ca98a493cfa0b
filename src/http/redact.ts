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
  /pass|^pw|pw\d*$|pwd|secret|token|jwt|bearer|authori[sz]ation|cookie|apikey|accesskey|credential|priv(ate)?key|seedphrase|mnemonic|hash|otp|pin$|pincode|mfa|recovery|salt|signature|session(id|key)|answer|cvv|cvc|ssn|kennwort|contrasena|senha|wachtwoord|.haslo|haslo$|heslo|salasana|losenord|sifre|jelszo|adgangskode|katasandi|lozinka|geslo|parool/;

/** The same in scripts the folding above would erase: Russian, Chinese, Japanese, Korean, Hebrew, Arabic, Greek. */
const SECRET_KEY_OTHER_SCRIPTS = /пароль|密码|密碼|パスワード|비밀번호|סיסמה|كلمةالمرور|κωδικ/u;

/**
 * Keys longer than this are not examined but taken for secrets: no real field name is that long,
 * and folding a megabyte-long key (NFKD can multiply its length) would cost the event loop more
 * than the request that sent it.
 */
const LONGEST_KEY_EXAMINED = 128;

/** Bounds of the copy; a cut is marked so a reader knows something was left out. */
export const LIMITS = { depth: 8, stringLength: 256, arrayItems: 50, objectKeys: 50 } as const;

export function isSecretKey(key: string): boolean {
  if (key.length > LONGEST_KEY_EXAMINED) return true;
  // NFKD takes accents off (`contraseña`, `lösenord`, `şifre`); ł has no decomposition of its own.
  const folded = key
    .normalize('NFKD')
    .toLowerCase()
    .replaceAll('ł', 'l')
    .replace(/[^a-z0-9]/g, '');
  if (SECRET_KEY.test(folded)) return true;
  // Composed, since NFKD splits kana and hangul into parts the pattern does not spell.
  return SECRET_KEY_OTHER_SCRIPTS.test(
    key
      .normalize('NFKC')
      .toLowerCase()
      .replace(/[\s_\-.]/g, ''),
  );
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
