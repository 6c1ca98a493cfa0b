import { readFileSync } from 'node:fs';

import { dictionary } from '@zxcvbn-ts/language-common';
import argon2 from 'argon2';

import type { Config } from '../config.js';

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

export type PasswordProblem = 'too_short' | 'too_long' | 'malformed' | 'repetitive' | 'common' | 'context';

/** What to tell the user about each problem. */
export const PASSWORD_PROBLEMS: Readonly<Record<PasswordProblem, string>> = {
  too_short: `must be at least ${PASSWORD_MIN_LENGTH} characters`,
  too_long: `must be at most ${PASSWORD_MAX_LENGTH} characters`,
  malformed: 'must be valid Unicode text (it holds a lone surrogate)',
  repetitive: 'is too repetitive or sequential, like aaaa…, abcabc… or 12345…',
  common: 'is on a list of commonly used passwords',
  context: `must have at least ${PASSWORD_MIN_LENGTH} characters besides the username, email and service name`,
};

/** A UTF-16 surrogate without its partner: not text, and hashed as U+FFFD, so several would match. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Characters that display as nothing (zero-width space, soft hyphen, joiners, variation selectors):
 * `a` and fourteen of them are one character to anyone who reads or guesses it.
 */
const INVISIBLE = /\p{Default_Ignorable_Code_Point}/gu;

/** Fewer distinct characters than this (`aaaaaaaaaaaaaaaaaab`, `abababab…`) is too repetitive. */
const MIN_DISTINCT_CHARACTERS = 5;

/**
 * Runs that are typed without thinking: the digits (cyclic, so `1234567890123…` continues), the
 * alphabet and the three QWERTY letter rows run together, each cyclic too and also backwards.
 */
const SEQUENCES = ['0123456789', 'abcdefghijklmnopqrstuvwxyz', 'qwertyuiopasdfghjklzxcvbnm'].flatMap(
  (sequence) => [sequence, [...sequence].reverse().join('')],
);

/**
 * The rules that need no context: well-formed text, length in code points after normalisation
 * (invisible characters do not count toward the minimum), and not repetitive or sequential.
 * Returns what is wrong, or null. There is no composition rule; the blocklist and context checks
 * are PasswordPolicy's.
 */
export function checkPasswordPolicy(password: string): PasswordProblem | null {
  if (LONE_SURROGATE.test(password)) return 'malformed';
  const normalized = normalizePassword(password);
  if ([...countedForLength(normalized)].length < PASSWORD_MIN_LENGTH) return 'too_short';
  // The maximum bounds the hasher's work, so it counts what is hashed, invisible characters too.
  if ([...normalized].length > PASSWORD_MAX_LENGTH) return 'too_long';
  if (isRepetitive([...foldPassword(password)])) return 'repetitive';
  return null;
}

/**
 * Whether the folded characters are too few distinct ones, one unit of any length repeated to the
 * end (`passwordpassword`, `abcabc…`), or a stretch of one of the SEQUENCES. Each test is linear.
 */
function isRepetitive(characters: readonly string[]): boolean {
  if (new Set(characters).size < MIN_DISTINCT_CHARACTERS) return true;
  if (runs(characters) < MIN_RUNS) return true;
  return isRepeatedUnit(characters) || SEQUENCES.some((sequence) => follows(characters, sequence));
}

/** Fewer runs than this (`aaaaaaaaaaabcde`, `qwertyuiop123456`, `aabbccddeeff…`) is too repetitive. */
const MIN_RUNS = 5;

/** Each character's neighbours in the SEQUENCES: the ones typed just before or after it. */
const NEIGHBOURS: ReadonlyMap<string, ReadonlySet<string>> = (() => {
  const neighbours = new Map<string, Set<string>>();
  for (const sequence of SEQUENCES) {
    for (let i = 0; i < sequence.length; i += 1) {
      const here = sequence[i]!;
      const next = sequence[(i + 1) % sequence.length]!;
      neighbours.set(here, (neighbours.get(here) ?? new Set()).add(next));
      neighbours.set(next, (neighbours.get(next) ?? new Set()).add(here));
    }
  }
  return neighbours;
})();

/**
 * How many runs the characters fall into, where a run goes on while each character repeats the
 * one before or is its neighbour in a sequence. A passphrase has a run for nearly every character.
 */
function runs(characters: readonly string[]): number {
  let count = characters.length > 0 ? 1 : 0;
  for (let i = 1; i < characters.length; i += 1) {
    const previous = characters[i - 1]!;
    const current = characters[i]!;
    if (current !== previous && !NEIGHBOURS.get(previous)?.has(current)) count += 1;
  }
  return count;
}

/**
 * What the minimum length counts: no invisible characters, and a stretch of blank characters
 * (spaces of any width, line separators, the braille blank) as one, since `abcde` and ten spaces
 * is five characters to anyone guessing it.
 */
function countedForLength(normalized: string): string {
  return normalized.replace(INVISIBLE, '').replace(/[\s\u2800]+/gu, ' ');
}

/**
 * Whether the characters are a shorter unit repeated a whole number of times. The shortest period
 * is the length less the longest proper prefix that is also a suffix (the KMP failure function).
 */
function isRepeatedUnit(characters: readonly string[]): boolean {
  const border = new Array<number>(characters.length).fill(0);
  for (let i = 1, k = 0; i < characters.length; i += 1) {
    while (k > 0 && characters[i] !== characters[k]) k = border[k - 1]!;
    if (characters[i] === characters[k]) k += 1;
    border[i] = k;
  }
  const period = characters.length - (border.at(-1) ?? 0);
  return period < characters.length && characters.length % period === 0;
}

/** Whether each character is the one after the previous in `cycle`, wrapping round at its end. */
function follows(characters: readonly string[], cycle: string): boolean {
  let position = cycle.indexOf(characters[0] ?? '');
  if (position < 0) return false;
  for (const character of characters.slice(1)) {
    position = (position + 1) % cycle.length;
    if (cycle[position] !== character) return false;
  }
  return true;
}

export interface PasswordPolicyOptions {
  /** Extra blocked passwords (e.g. from PASSWORD_BLOCKLIST_FILE), compared case-insensitively. */
  blocklist?: Iterable<string>;
  /** Words of the service itself (its name); none of them counts toward the minimum length. */
  serviceWords?: readonly string[];
}

/**
 * The whole policy for a new password (NIST SP 800-63B-4 3.1.1.2, ASVS 5.0 6.2.4 and 6.2.11):
 * checkPasswordPolicy's rules, then a blocklist of commonly used passwords, then context: the
 * account's username and email and the service's name do not count toward the 15 characters, so
 * "infinity-server-admin2026" for user "admin" is refused while a passphrase that merely contains
 * a short username is not. Comparisons are on the folded text (see foldPassword).
 */
export class PasswordPolicy {
  private readonly blocked: ReadonlySet<string>;
  private readonly serviceWords: readonly string[];

  constructor(options: PasswordPolicyOptions = {}) {
    const blocked = new Set(builtInBlocklist());
    for (const entry of options.blocklist ?? []) {
      const folded = foldPassword(entry.trim());
      // Shorter entries can never match: the length rule has refused them already.
      if ([...folded].length >= PASSWORD_MIN_LENGTH) blocked.add(folded);
    }
    this.blocked = blocked;
    this.serviceWords = (options.serviceWords ?? []).map(foldPassword);
  }

  /** Size of the blocklist in force (for the start-up log). */
  get blocklistSize(): number {
    return this.blocked.size;
  }

  /** What is wrong with `password` for the account named by `accountWords`, or null. */
  check(password: string, accountWords: readonly (string | null | undefined)[] = []): PasswordProblem | null {
    const problem = checkPasswordPolicy(password);
    if (problem !== null) return problem;
    const folded = foldPassword(password);
    if (this.blocked.has(folded)) return 'common';
    const words = [...contextWords(accountWords), ...this.serviceWords];
    if ([...countedForLength(withoutWords(folded, words))].length < PASSWORD_MIN_LENGTH) return 'context';
    return null;
  }
}

/**
 * The policy the configuration asks for: PASSWORD_BLOCKLIST_FILE and PASSWORD_CONTEXT_WORDS. Lines
 * end with LF, CRLF or a lone CR (old Mac files): split on LF alone, a CR-only file was one long
 * entry that blocked nothing.
 */
export function passwordPolicyFrom(config: Pick<Config, 'passwords'>): PasswordPolicy {
  // One policy per (frozen) settings object: the start-up seeds and then builds the app from the
  // same Config, and a 64 MiB blocklist file is worth reading once.
  const cached = policies.get(config.passwords);
  if (cached !== undefined) return cached;
  const { blocklistFile, contextWords } = config.passwords;
  const blocklist =
    blocklistFile === undefined ? [] : readFileSync(blocklistFile, 'utf8').split(/\r\n|\r|\n/);
  const policy = new PasswordPolicy({ blocklist, serviceWords: contextWords });
  policies.set(config.passwords, policy);
  return policy;
}

const policies = new WeakMap<Config['passwords'], PasswordPolicy>();

/** The username and email as given, and the email's local part: each in its folded form. */
function contextWords(accountWords: readonly (string | null | undefined)[]): string[] {
  const words: string[] = [];
  for (const word of accountWords) {
    if (!word) continue;
    const folded = foldPassword(word);
    words.push(folded);
    const at = folded.lastIndexOf('@');
    if (at > 0) words.push(folded.slice(0, at));
  }
  return words;
}

/** Removes every occurrence of each word of three or more characters, longest words first. */
function withoutWords(text: string, words: readonly string[]): string {
  const usable = [...new Set(words)].filter((word) => [...word].length >= 3);
  usable.sort((a, b) => b.length - a.length);
  let rest = text;
  // Again until nothing changes: removing "admin" from "adadminmin" leaves another "admin".
  for (let previous = ''; previous !== rest;) {
    previous = rest;
    rest = usable.reduce((remaining, word) => remaining.split(word).join(''), rest);
  }
  return rest;
}

let builtIn: readonly string[] | undefined;

/**
 * The common-passwords list of zxcvbn-ts (about 49,000 entries from leaked password sets), kept
 * to the entries the length rule lets through. Leaked passwords are mostly short, so few remain;
 * PASSWORD_BLOCKLIST_FILE adds a longer list.
 */
function builtInBlocklist(): readonly string[] {
  builtIn ??= (dictionary['passwords-common'] as string[])
    .map(foldPassword)
    .filter((entry) => [...entry].length >= PASSWORD_MIN_LENGTH);
  return builtIn;
}

/**
 * The form passwords are compared in for the length, repetition, blocklist and context rules: NFKC,
 * lowercase, invisible characters taken out (`i\u200bnfinity` is `infinity`). Only for comparing:
 * what is hashed is normalizePassword's, unchanged, so existing hashes keep verifying.
 */
function foldPassword(password: string): string {
  return normalizePassword(password).toLowerCase().replace(INVISIBLE, '');
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
