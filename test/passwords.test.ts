import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import {
  checkPasswordPolicy,
  hashPassword,
  normalizePassword,
  PASSWORD_PROBLEMS,
  PasswordPolicy,
  passwordPolicyFrom,
  verifyPassword,
} from '../src/auth/passwords.js';
import { loadConfig } from '../src/config.js';

describe('the password policy', () => {
  it('takes 15 to 256 characters, counted as code points after NFKC, with no composition rule', () => {
    const longest = `${'a quiet harbour at dawn, '.repeat(10)}sunset`;

    assert.equal(checkPasswordPolicy('fifteen letters'), null);
    assert.equal(checkPasswordPolicy('fourteen chars'), 'too_short');
    assert.equal(checkPasswordPolicy('😀🙂😉😊😇🥰😍🤩😘😗party'), null, '15 code points, 25 UTF-16 units');
    assert.equal(checkPasswordPolicy(longest), null, '256 code points');
    assert.equal(checkPasswordPolicy(`${longest}!`), 'too_long');
    assert.equal(checkPasswordPolicy('only lowercase letters and spaces'), null);
  });

  it('does not count invisible characters (Default_Ignorable_Code_Point) toward the 15', () => {
    assert.equal(checkPasswordPolicy(`a${'\u200b'.repeat(14)}`), 'too_short', 'zero-width spaces');
    assert.equal(checkPasswordPolicy(`fifteen${'\u00ad'.repeat(8)} letters`), null, 'soft hyphens');
    assert.equal(checkPasswordPolicy('fourteen chars\u00ad\u200d\ufe0f'), 'too_short');
    assert.equal(checkPasswordPolicy('fifteen\u200b letters'), null);
    assert.equal(
      checkPasswordPolicy(`${'a quiet harbour at dawn, '.repeat(10)}sunset\u200b`),
      'too_long',
      'the maximum counts what is hashed, invisible characters included',
    );
  });

  it('refuses a lone surrogate, which would hash like any other', () => {
    assert.equal(checkPasswordPolicy('aaaaaaaaaaaaaab\uD800'), 'malformed');
    assert.equal(checkPasswordPolicy('aaaaaaaaaaaaaab\uDFFF'), 'malformed');
  });

  it('refuses one pattern of any length repeated to the end, in any case', () => {
    assert.equal(checkPasswordPolicy('a'.repeat(20)), 'repetitive');
    assert.equal(checkPasswordPolicy('abcABCabcABCabc'), 'repetitive');
    assert.equal(checkPasswordPolicy('12'.repeat(8)), 'repetitive');
    assert.equal(checkPasswordPolicy('😀🙂'.repeat(8)), 'repetitive', 'units are code points');
    assert.equal(checkPasswordPolicy('passwordpasswordpassword'), 'repetitive');
    assert.equal(checkPasswordPolicy('iloveyouiloveyou'), 'repetitive');
    assert.equal(checkPasswordPolicy('Correct Horse correct horse '), 'repetitive');
    assert.equal(checkPasswordPolicy('abcde'.repeat(3)), 'repetitive');
    assert.equal(checkPasswordPolicy('a\u200bbcde'.repeat(3)), 'repetitive', 'invisible characters aside');
    assert.equal(checkPasswordPolicy('harbour'.repeat(2) + 'x'), null, 'a pattern that does not end whole');
  });

  it('refuses fewer than five distinct characters', () => {
    assert.equal(checkPasswordPolicy('aaaaaaaaaaaaaaaaaaaaab'), 'repetitive');
    assert.equal(checkPasswordPolicy('abba abba baab baab'), 'repetitive');
    assert.equal(checkPasswordPolicy('AaBbCcDdAaBbCcDdD'), 'repetitive', 'in any case');
    assert.equal(checkPasswordPolicy('adbecaebdcadbec'), null, 'five are enough');
  });

  it('refuses a run of the digits, the alphabet or the QWERTY rows, either way, in any case', () => {
    for (const password of [
      '123456789012345678',
      '876543210987654321',
      '0123456789012345',
      'abcdefghijklmnop',
      'ABCDEFGHIJKLMNOP',
      'ponmlkjihgfedcba',
      'lmnopqrstuvwxyzabc',
      'qwertyuiopasdfghjkl',
      'lkjhgfdsapoiuytrewq',
      'asdfghjklzxcvbnmqwe',
    ]) {
      assert.equal(checkPasswordPolicy(password), 'repetitive', password);
    }
  });

  it('refuses a password of fewer than five runs of repeats and sequence neighbours', () => {
    for (const password of [
      'aaaaaaaaaaabcde',
      '111111111112345',
      'aabbccddeeffgghh',
      'abcdefghijklmno1',
      'abcdefghijklmnop!',
      'qwertyuiop123456',
    ]) {
      assert.equal(checkPasswordPolicy(password), 'repetitive', password);
    }
  });

  it('counts a stretch of blanks as one character toward the minimum', () => {
    assert.equal(checkPasswordPolicy('abcde          '), 'too_short');
    assert.equal(checkPasswordPolicy(' '.repeat(20)), 'too_short');
    assert.equal(checkPasswordPolicy('harbour\u2028\u2029\u2800\u3000     lights'), 'too_short');
    assert.equal(checkPasswordPolicy('a quiet harbour at dawn'), null);
  });

  it('lets through what only starts like a run or a pattern', () => {
    assert.equal(checkPasswordPolicy('1234567890 harbour'), null);
    assert.equal(checkPasswordPolicy('qwerty harbour lights'), null);
  });

  it('tells the user what repetitive means', () => {
    assert.equal(
      PASSWORD_PROBLEMS.repetitive,
      'is too repetitive or sequential, like aaaa…, abcabc… or 12345…',
    );
  });
});

describe('PasswordPolicy', () => {
  const policy = new PasswordPolicy({ serviceWords: ['infinity-server', 'infinity'] });

  it('applies the context-free rules first', () => {
    assert.equal(policy.check('short'), 'too_short');
    assert.equal(policy.check('x'.repeat(30)), 'repetitive');
    assert.equal(policy.check('a quiet harbour at dawn'), null);
  });

  it('refuses a common password from the built-in list, in any case or width', () => {
    assert.equal(policy.check('1qaz2wsx3edc4rfv'), 'common');
    assert.equal(policy.check('1QAZ2WSX3EDC4RFV'), 'common');
    assert.equal(policy.check('１qaz２wsx３edc４rfv'), 'common', 'fullwidth digits are NFKC-equal');
    assert.equal(policy.check('1qaz2wsx3edc4rfv!'), null, 'only the listed password itself');
  });

  it('adds a configured list, skipping entries the length rule refuses anyway', () => {
    const listed = new PasswordPolicy({ blocklist: ['  Correct Horse Battery  ', 'tiny', ''] });

    assert.equal(listed.check('correct horse battery'), 'common');
    assert.equal(listed.blocklistSize, new PasswordPolicy().blocklistSize + 1);
  });

  it('does not count the username, the email or the service name toward the length', () => {
    assert.equal(policy.check('margaret1234567', ['margaret']), 'context');
    assert.equal(policy.check('ＭＡＲＧＡＲＥＴ-1234567', ['margaret']), 'context');
    assert.equal(policy.check('joy.smith@example.com', ['joy', 'joy.smith@example.com']), 'context');
    assert.equal(policy.check('joy.smith-2026-06-01', ['kim', 'JOY.SMITH@example.com']), 'context');
    assert.equal(policy.check('infinity-server-2026!'), 'context');
    assert.equal(
      policy.check('adadminmin adadminmin 2026', ['admin']),
      'context',
      'removed until none is left',
    );
  });

  it('takes invisible characters out before it looks for the username, email or service name', () => {
    assert.equal(policy.check('i\u200bnfinity-server-admin-2026', ['admin']), 'context');
    assert.equal(policy.check('infin\u00adity-server-2026!'), 'context', 'a soft hyphen');
    assert.equal(policy.check('mar\u200dgaret-1234567', ['margaret']), 'context');
  });

  it('compares invisible characters away against the blocklist', () => {
    assert.equal(policy.check('1qaz\u200b2wsx3edc4rfv'), 'common');
  });

  it('counts a stretch of blanks as one there too', () => {
    assert.equal(policy.check(`adminadminpqrst${' '.repeat(10)}uvwxy`, ['admin']), 'context');
  });

  it('lets through a passphrase that merely contains a name, and ignores names under three characters', () => {
    assert.equal(policy.check("margaret's quiet harbour", ['margaret']), null);
    assert.equal(policy.check('enjoy the quiet harbour', ['joy']), null);
    assert.equal(policy.check('jojojojo-harbour-at-dawn', ['jo']), null);
    assert.equal(policy.check('a quiet harbour at dawn', [null, undefined, '']), null);
  });

  it('reads PASSWORD_BLOCKLIST_FILE and PASSWORD_CONTEXT_WORDS from the configuration', () => {
    const directory = mkdtempSync(join(tmpdir(), 'blocklist-'));
    try {
      const file = join(directory, 'list.txt');
      writeFileSync(file, 'first listed passphrase\r\nsecond listed passphrase\n');
      const configured = passwordPolicyFrom(
        loadConfig({ PASSWORD_BLOCKLIST_FILE: file, PASSWORD_CONTEXT_WORDS: 'acme cloud, acme' }),
      );

      assert.equal(configured.check('Second Listed Passphrase'), 'common');
      assert.equal(configured.check('acme cloud 12345678'), 'context');
      assert.equal(configured.check('infinity-server-2026!'), null, 'the default words are replaced');
    } finally {
      rmSync(directory, { recursive: true });
    }
  });

  it('reads lines ending in LF, CRLF or a lone CR alike', () => {
    const directory = mkdtempSync(join(tmpdir(), 'blocklist-'));
    try {
      const file = join(directory, 'mixed.txt');
      writeFileSync(file, 'first listed passphrase\rsecond listed passphrase\r\nthird listed passphrase\n');
      const configured = passwordPolicyFrom(loadConfig({ PASSWORD_BLOCKLIST_FILE: file }));

      for (const listed of [
        'first listed passphrase',
        'second listed passphrase',
        'third listed passphrase',
      ]) {
        assert.equal(configured.check(listed), 'common', listed);
      }
      assert.equal(configured.blocklistSize, new PasswordPolicy().blocklistSize + 3);
    } finally {
      rmSync(directory, { recursive: true });
    }
  });
});

describe('argon2id hashing', () => {
  it('verifies the whole password: one changed character at the end of 200 fails', async () => {
    const password = `${'long passphrase '.repeat(12)}12345678`;
    const hash = await hashPassword(password);

    assert.match(hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    assert.equal(await verifyPassword(hash, password), true);
    assert.equal(await verifyPassword(hash, `${password.slice(0, -1)}9`), false);
  });

  it('hashes invisible characters as typed, so hashes made before they were ignored still verify', async () => {
    const password = 'a quiet\u200b harbour at dawn';
    const hash = await hashPassword(password);

    assert.equal(normalizePassword(password), password);
    assert.equal(await verifyPassword(hash, password), true);
    assert.equal(await verifyPassword(hash, 'a quiet harbour at dawn'), false);
  });

  it('treats NFKC-equal spellings as one password, and a bad hash as a plain "no"', async () => {
    const hash = await hashPassword('ﬁfteen letters here');

    assert.equal(await verifyPassword(hash, 'fifteen letters here'), true);
    assert.equal(await verifyPassword('not a hash', 'fifteen letters here'), false);
  });
});
