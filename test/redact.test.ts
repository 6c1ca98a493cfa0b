import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { LIMITS, REDACTED, redact } from '../src/http/redact.js';

describe('redact', () => {
  it('replaces every key that names a secret, however it is spelled, at any depth', () => {
    const keys = [
      'password',
      'newPassword',
      'PASSWORD_CONFIRM',
      'passphrase',
      'pw',
      'pwd',
      'pässword',
      'pass\u200bword',
      'token',
      'refresh_token',
      'X-Api-Key',
      'accessKey',
      'clientSecret',
      'authorization',
      'cookie',
      'mfaCode',
      'pinCode',
      'pin',
      'recoveryCode',
      'securityAnswer',
      'cvv',
      'sessionId',
      'passwordHash',
      // pw at the end of a key
      'confirmPw',
      'newPw',
      'new_pw',
      'userPW',
      // password in other languages
      'kennwort',
      'neuesKennwort',
      'contraseña',
      'nuevaContraseña',
      'senha',
      'novaSenha',
      'wachtwoord',
      'hasło',
      'haslo',
      'noweHasło',
      'powtorz_haslo',
      'salasana',
      'motDePasse',
      'lösenord',
      'şifre',
      'heslo',
      'jelszó',
      'adgangskode',
      'kata_sandi',
      'lozinka',
      'geslo',
      'parool',
      // suffixed, and other secrets
      'confirmPw2',
      'newpw_1',
      'privKey',
      'seedPhrase',
      'mnemonic',
      // scripts the folding erases
      'пароль',
      'новый_пароль',
      '密码',
      'パスワード',
      '비밀번호',
      'סיסמה',
      'كلمة المرور',
      // too long to examine: withheld
      `${'\ufdfa'.repeat(129)}`,
      'x'.repeat(129),
    ];
    // In bodies of 40 keys: a copy keeps at most LIMITS.objectKeys keys of one object.
    for (let start = 0; start < keys.length; start += 40) {
      const some = keys.slice(start, start + 40);
      const body = Object.fromEntries(some.map((key) => [key, `value-of-${key}`]));

      const copy = redact({ a: { b: [body] } }) as { a: { b: Record<string, unknown>[] } };

      for (const key of some) {
        const kept = key.length > LIMITS.stringLength ? `${key.slice(0, LIMITS.stringLength)}…[cut]` : key;
        assert.equal(copy.a.b[0]?.[kept], REDACTED, key.slice(0, 20));
      }
    }
  });

  it('keeps a field name of up to 128 characters examined, not withheld', () => {
    const key = `${'display'.repeat(18)}xx`;

    assert.equal(key.length, 128);
    assert.deepEqual(redact({ [key]: 'shown' }), { [key]: 'shown' });
  });

  it('keeps ordinary keys and values as they are', () => {
    const value = { username: 'alice', email: 'a@example.com', page: 2, tags: ['x', null, true] };

    assert.deepEqual(redact(value), value);
  });

  it('keeps ordinary keys that merely hold a short secret word inside another', () => {
    const value = {
      upwards: true,
      cupWidth: 3,
      hasLogo: true,
      hasLocation: false,
      sensor: 'a',
      present: 'b',
      displayName: 'Alice',
      spinner: 1,
    };

    assert.deepEqual(redact(value), value);
  });

  it('bounds the copy of a hostile body: long strings, long arrays, wide objects, deep nesting', () => {
    let deep: unknown = 'bottom';
    for (let i = 0; i < 10_000; i += 1) deep = { next: deep };
    const hostile = {
      long: 'x'.repeat(1_048_576),
      quotes: '"'.repeat(500_000),
      many: Array.from({ length: 100_000 }, (_, i) => i),
      wide: Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`k${i}`, i])),
      deep,
    };

    const copy = redact(hostile) as Record<string, any>;

    assert.equal(copy.long, `${'x'.repeat(LIMITS.stringLength)}…[cut]`);
    assert.equal(copy.many.length, LIMITS.arrayItems + 1);
    assert.equal(copy.many.at(-1), `[${100_000 - LIMITS.arrayItems} more]`);
    assert.equal(Object.keys(copy.wide).length, LIMITS.objectKeys + 1);
    assert.ok(JSON.stringify(copy).length < 16_384, `${JSON.stringify(copy).length} characters`);
    assert.match(JSON.stringify(copy.deep), /\[TRUNCATED\]/);
  });
});
