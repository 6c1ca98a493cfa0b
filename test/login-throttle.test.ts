import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { throttleAddress } from '../src/http/login-throttle.js';

describe('throttleAddress', () => {
  it('counts an IPv4-mapped IPv6 address, in any spelling, as its IPv4 address', () => {
    for (const ip of [
      '203.0.113.6',
      '::ffff:203.0.113.6',
      '::FFFF:203.0.113.6',
      '::ffff:cb00:7106',
      '0:0:0:0:0:ffff:cb00:7106',
      '0000:0000:0000:0000:0000:FFFF:CB00:7106',
    ]) {
      assert.equal(throttleAddress(ip), '203.0.113.6', ip);
    }
  });

  it('counts any other IPv6 address as its /64, in canonical lowercase form', () => {
    const cases: [string, string][] = [
      ['2001:db8::9', '2001:db8::/64'],
      ['2001:DB8::9', '2001:db8::/64'],
      ['2001:0db8:0000:0000:0000:0000:0000:0009', '2001:db8::/64'],
      ['2001:db8::ffff:1:2:3', '2001:db8::/64'],
      ['2001:db8::ffff:1:2:3:4', '2001:db8:0:ffff::/64'],
      ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
      ['2001:db8:1:2::', '2001:db8:1:2::/64'],
      ['2001:0:0:1:aaaa::1', '2001:0:0:1::/64'],
      ['2001:db8:0:1:2:3:4:5', '2001:db8:0:1::/64'],
      ['2001:db8::1.2.3.4', '2001:db8::/64'],
      ['fe80::1%eth0', 'fe80::/64'],
      ['::1', '::/64'],
      ['::', '::/64'],
    ];
    for (const [ip, expected] of cases) assert.equal(throttleAddress(ip), expected, ip);
  });

  it('tells apart two /64s and two IPv4 addresses', () => {
    assert.notEqual(throttleAddress('2001:db8:0:1::9'), throttleAddress('2001:db8:0:2::9'));
    assert.notEqual(throttleAddress('::ffff:203.0.113.6'), throttleAddress('::ffff:203.0.113.7'));
  });

  it('keeps IPv4 and a value that is no address as they are', () => {
    assert.equal(throttleAddress('198.51.100.7'), '198.51.100.7');
    assert.equal(throttleAddress('unknown'), 'unknown');
  });
});
