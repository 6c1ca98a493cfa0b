import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { checkPasswordPolicy, hashPassword, verifyPassword } from '../src/auth/passwords.js';

describe('the password policy', () => {
  it('takes 15 to 256 characters, counted as code points after NFKC, with no composition rule', () => {
    assert.equal(checkPasswordPolicy('a'.repeat(13) + 'bc'), null);
    assert.equal(checkPasswordPolicy('abcdefghijklmn'), 'too_short');
    assert.equal(checkPasswordPolicy('😀'.repeat(14) + 'x'), null, '15 code points, 29 UTF-16 units');
    assert.equal(checkPasswordPolicy('ab'.repeat(128)), null);
    assert.equal(checkPasswordPolicy('ab'.repeat(128) + 'c'), 'too_long');
    assert.equal(checkPasswordPolicy('only lowercase letters and spaces'), null);
  });

  it('refuses a lone surrogate, which would hash like any other', () => {
    assert.equal(checkPasswordPolicy('aaaaaaaaaaaaaab\uD800'), 'malformed');
    assert.equal(checkPasswordPolicy('aaaaaaaaaaaaaab\uDFFF'), 'malformed');
  });

  it('refuses one character repeated, spaces included', () => {
    assert.equal(checkPasswordPolicy('a'.repeat(20)), 'one_character');
    assert.equal(checkPasswordPolicy(' '.repeat(20)), 'one_character');
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

  it('treats NFKC-equal spellings as one password, and a bad hash as a plain "no"', async () => {
    const hash = await hashPassword('ﬁfteen letters here');

    assert.equal(await verifyPassword(hash, 'fifteen letters here'), true);
    assert.equal(await verifyPassword('not a hash', 'fifteen letters here'), false);
  });
});
