import argon2 from 'argon2';

/**
 * Password policy and hashing. NIST SP 800-63B-4 for a password that is the only factor: at least
 * 15 characters, no composition rules, every character allowed, nothing truncated. Passwords are
 * normalised to NFKC first, so the same password typed on two keyboards is the same password.
 * argon2id hashes the whole input (there is no 72-byte cut as with bcrypt).
 */

export const PASSWORD_MIN_LENGTH = 15;
/** Bounds the work one request can ask of the hasher; far above any real passphrase. */
export const PASSWORD_MAX_LENGTH = 256;

/** OWASP Password Storage Cheat Sheet: argon2id, 19 MiB, 2 iterations, 1 lane. */
const HASH_OPTIONS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export type PasswordProblem = 'too_short' | 'too_long' | 'malformed' | 'one_character';

/** What to tell the user about each problem. */
export const PASSWORD_PROBLEMS: Readonly<Record<PasswordProblem, string>> = {
  too_short: `must be at least ${PASSWORD_MIN_LENGTH} characters`,
  too_long: `must be at most ${PASSWORD_MAX_LENGTH} characters`,
  malformed: 'must be valid Unicode text (it holds a lone surrogate)',
  one_character: 'must not be one character repeated',
};

/** A UTF-16 surrogate without its partner: not text, and hashed as U+FFFD, so several would match. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Counts characters (code points) after normalisation; returns what is wrong, or null. No
 * composition rule: only length, well-formed text, and the one blocklist entry that every length
 * rule lets through (a single character, typed fifteen times).
 */
export function checkPasswordPolicy(password: string): PasswordProblem | null {
  if (LONE_SURROGATE.test(password)) return 'malformed';
  const characters = [...normalizePassword(password)];
  if (characters.length < PASSWORD_MIN_LENGTH) return 'too_short';
  if (characters.length > PASSWORD_MAX_LENGTH) return 'too_long';
  if (new Set(characters).size === 1) return 'one_character';
  return null;
}

export function normalizePassword(password: string): string {
  return password.normalize('NFKC');
}

export async function hashPassword(password: string): Promise<string> {
  return argon2.hash(normalizePassword(password), HASH_OPTIONS);
}

/** False for a wrong password or a hash that is not argon2; never throws on bad input. */
export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  try {
    return await argon2.verify(hash, normalizePassword(password));
  } catch {
    return false;
  }
}

let decoyHash: Promise<string> | undefined;

/**
 * Spends the same time as a real verification when there is no user to check against, so a
 * failed login takes as long whether or not the account exists.
 */
export async function verifyAgainstDecoy(password: string): Promise<false> {
  decoyHash ??= hashPassword('decoy password that matches no account');
  await verifyPassword(await decoyHash, password);
  return false;
}
