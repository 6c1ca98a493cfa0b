import { randomBytes } from 'node:crypto';

import {
  hashPassword,
  normalizePassword,
  PASSWORD_PROBLEMS,
  PasswordPolicy,
  passwordPolicyFrom,
} from './auth/passwords.js';
import type { Config } from './config.js';
import type { DatabaseService } from './db/database.js';
import { ConfigError, UsernameTakenError } from './errors.js';
import type { Logger } from './logger.js';

/**
 * The accounts every installation starts with: `admin`, and outside production `testuser`. Seeding
 * is idempotent: a user that exists is left exactly as it is (its password is never reset), so it
 * is safe on every start and from several instances at once.
 */

/** What seeding reads from the configuration; a full Config fits. */
export interface SeedOptions {
  readonly isProduction: boolean;
  readonly seed: Pick<Config['seed'], 'adminPassword' | 'testPassword'>;
  /** PASSWORD_BLOCKLIST_FILE and PASSWORD_CONTEXT_WORDS; without them, the built-in policy. */
  readonly passwords?: Config['passwords'];
}

export interface SeedResult {
  /** Usernames created by this run, in order. Empty when everything already existed. */
  readonly created: string[];
  /**
   * Passwords this run generated, by username. They are stored nowhere else and never logged: the
   * caller shows them once.
   */
  readonly generatedPasswords: Record<string, string>;
}

export const ADMIN_USERNAME = 'admin';
export const TEST_USERNAME = 'testuser';

/**
 * Passwords that ship in tutorials, compose files and vendor manuals; compared case-insensitively.
 * The length policy already refuses the short ones; the list keeps them out should it change.
 */
export const KNOWN_DEFAULT_PASSWORDS: readonly string[] = [
  'admin',
  'admin123',
  'admin1234',
  'administrator',
  'changeme',
  'change_me',
  'changeit',
  'letmein',
  'password',
  'password1',
  'password123',
  'password123!',
  'passw0rd',
  'qwerty',
  'secret',
  'welcome',
  '123456',
  '12345678',
  'adminadminadmin',
  'changemechangeme',
  'passwordpassword',
  'correct horse battery staple',
];

/** 18 random bytes: 144 bits, 24 URL-safe characters. */
const GENERATED_PASSWORD_BYTES = 18;

/**
 * Creates the seed users that are missing; see the module comment. Throws ConfigError, naming the
 * variable, when production would need a password that is unset or unacceptable.
 */
export async function seed(db: DatabaseService, options: SeedOptions, logger: Logger): Promise<SeedResult> {
  const result: SeedResult = { created: [], generatedPasswords: {} };
  // The policy registration applies, so a seeded password is held to the same rules.
  const passwords =
    options.passwords === undefined ? builtInPolicy() : passwordPolicyFrom({ passwords: options.passwords });

  await seedUser(db, logger, result, {
    username: ADMIN_USERNAME,
    variable: 'SEED_ADMIN_PASSWORD',
    password: options.seed.adminPassword,
    isProduction: options.isProduction,
    passwords,
  });
  if (!options.isProduction) {
    await seedUser(db, logger, result, {
      username: TEST_USERNAME,
      variable: 'SEED_TEST_PASSWORD',
      password: options.seed.testPassword,
      isProduction: false,
      passwords,
    });
  }

  const message = result.created.length > 0 ? 'seed finished' : 'nothing to seed';
  logger.info({ created: result.created }, message);
  return result;
}

/**
 * Why a configured seed password is unacceptable, or null. Production refuses it; elsewhere it is
 * only a warning, so a short password in a local compose file keeps working.
 */
export function seedPasswordProblem(
  password: string,
  username?: string,
  passwords: PasswordPolicy = builtInPolicy(),
): string | null {
  const policy = passwords.check(password, [username]);
  if (policy === 'too_short') return 'is shorter than the password policy allows';
  if (policy === 'too_long') return 'is longer than the password policy allows';
  if (policy !== null) return PASSWORD_PROBLEMS[policy];
  const folded = normalizePassword(password).trim().toLowerCase();
  if (KNOWN_DEFAULT_PASSWORDS.includes(folded)) return 'is a well-known default password';
  return null;
}

let builtIn: PasswordPolicy | undefined;

function builtInPolicy(): PasswordPolicy {
  builtIn ??= new PasswordPolicy();
  return builtIn;
}

export function generatePassword(): string {
  return randomBytes(GENERATED_PASSWORD_BYTES).toString('base64url');
}

interface SeedUserInput {
  readonly username: string;
  /** The environment variable the password comes from, for error messages. */
  readonly variable: string;
  readonly password: string | undefined;
  readonly isProduction: boolean;
  readonly passwords: PasswordPolicy;
}

async function seedUser(
  db: DatabaseService,
  logger: Logger,
  result: SeedResult,
  input: SeedUserInput,
): Promise<void> {
  if ((await db.users.findByUsername(input.username)) !== null) {
    logger.debug({ username: input.username }, 'seed user exists');
    return;
  }

  const { password, generated } = choosePassword(logger, input);
  const passwordHash = await hashPassword(password);
  try {
    await db.users.create({ username: input.username, passwordHash });
  } catch (error) {
    // Another instance seeded the same user between our check and our insert: nothing to do.
    if (error instanceof UsernameTakenError) return;
    throw error;
  }

  result.created.push(input.username);
  if (generated) result.generatedPasswords[input.username] = password;
  const passwordSource = generated ? 'generated' : input.variable;
  logger.info({ username: input.username, passwordSource }, 'seed user created');
}

/** The configured password, checked; or, outside production, a generated one. */
function choosePassword(logger: Logger, input: SeedUserInput): { password: string; generated: boolean } {
  if (input.password === undefined) {
    if (input.isProduction) {
      const problem = `is required in production to create the ${input.username} user`;
      throw new ConfigError(input.variable, problem);
    }
    return { password: generatePassword(), generated: true };
  }

  const problem = seedPasswordProblem(input.password, input.username, input.passwords);
  if (problem !== null && input.isProduction) throw new ConfigError(input.variable, problem);
  if (problem !== null) {
    logger.warn({ variable: input.variable, problem }, 'weak seed password accepted');
  }
  return { password: input.password, generated: false };
}
