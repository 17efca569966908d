import { isIP } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CidrList,
  formatIp,
  matchHostAndAddress,
  matchPattern,
  matchPatternList,
  parseCidr,
  parseIp,
} from '../src/cidr.js';

describe('IP addresses', () => {
  it('parses IPv4, IPv6, compressed, embedded IPv4 and zones', () => {
    expect(parseIp('192.0.2.1')).toEqual({ family: 4, bytes: Uint8Array.from([192, 0, 2, 1]) });
    expect(formatIp(parseIp('2001:DB8:0:0:0:0:0:1')!)).toBe('2001:db8::1');
    expect(formatIp(parseIp('::')!)).toBe('::');
    expect(formatIp(parseIp('::1')!)).toBe('::1');
    expect(formatIp(parseIp('fe80::1%eth0')!)).toBe('fe80::1');
    expect(formatIp(parseIp('1:0:0:2:0:0:0:3')!)).toBe('1:0:0:2::3');
    expect(formatIp(parseIp('64:ff9b::192.0.2.33')!)).toBe('64:ff9b::c000:221');
    // A dual-stack socket reports IPv4 peers as IPv4-mapped IPv6.
    expect(parseIp('::ffff:127.0.0.1')).toEqual({
      family: 4,
      bytes: Uint8Array.from([127, 0, 0, 1]),
    });
  });

  it('refuses what is not an address', () => {
    for (const bad of [
      '',
      '1.2.3',
      '1.2.3.4.5',
      '256.1.1.1',
      '01.2.3.4',
      '1::2::3',
      '1:2:3:4:5:6:7:8:9',
      '12345::',
      'g::1',
      '::1.2.3',
      'example.com',
      '1:2:3:4:5:6:7::8:9',
    ]) {
      expect(parseIp(bad), bad).toBeUndefined();
    }
  });

  it('agrees with node:net on random IPv6 text and round-trips canonical forms', () => {
    fc.assert(
      fc.property(fc.ipV6(), (text) => {
        const parsed = parseIp(text);
        expect(parsed).toBeDefined();
        expect(parseIp(formatIp(parsed!))).toEqual(parsed);
        expect(isIP(formatIp(parsed!))).toBeGreaterThan(0);
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (text) => {
        if (parseIp(text) !== undefined) expect(isIP(text.split('%')[0] ?? '')).toBeGreaterThan(0);
      }),
      { numRuns: 500 },
    );
  });
});

describe('CIDR blocks', () => {
  it('matches inside the prefix and nowhere else', () => {
    const list = new CidrList([
      '10.0.0.0/8',
      '192.0.2.128/25',
      '2001:db8::/32',
      '::1',
      '0.0.0.0/0',
    ]);
    expect(list.contains('10.255.1.2')).toBe(true);
    expect(new CidrList(['192.0.2.128/25']).contains('192.0.2.127')).toBe(false);
    expect(new CidrList(['192.0.2.128/25']).contains('192.0.2.255')).toBe(true);
    expect(new CidrList(['2001:db8::/32']).contains('2001:db8:ffff::1')).toBe(true);
    expect(new CidrList(['2001:db8::/32']).contains('2001:db9::1')).toBe(false);
    expect(new CidrList(['127.0.0.0/8']).contains('::ffff:127.0.0.1')).toBe(true);
    expect(new CidrList(['::1']).contains('127.0.0.1')).toBe(false);
    expect(new CidrList(['10.0.0.0/8']).contains('not an ip')).toBe(false);
    expect(list.contains('8.8.8.8')).toBe(true);
    expect(new CidrList([]).contains('127.0.0.1')).toBe(false);
  });

  it('refuses malformed blocks and host bits under the prefix', () => {
    expect(parseCidr('10.0.0.1/8')).toBe('inconsistent');
    expect(parseCidr('10.0.0.0/33')).toBeUndefined();
    expect(parseCidr('10.0.0.0/08')).toBeUndefined();
    expect(() => new CidrList(['10.0.0.1/8'])).toThrow(RangeError);
    expect(() => new CidrList(['nope'])).toThrow(/"nope" is not a CIDR block/);
    expect(() => new CidrList('10.0.0.0/8' as unknown as string[])).toThrow(TypeError);
  });

  it('agrees with a bit-by-bit reference on random IPv4 blocks', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 32 }),
        fc.integer({ min: 0, max: 0xffffffff }),
        (net, prefix, addr) => {
          const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
          const network = (net & mask) >>> 0;
          const text = (n: number) => [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
          const inside = (addr & mask) >>> 0 === network;
          expect(new CidrList([`${text(network)}/${prefix}`]).contains(text(addr))).toBe(inside);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('OpenSSH patterns', () => {
  it('matches * and ? like match_pattern', () => {
    expect(matchPattern('host.example.com', '*.example.com')).toBe(true);
    expect(matchPattern('example.com', '*.example.com')).toBe(false);
    expect(matchPattern('web1', 'web?')).toBe(true);
    expect(matchPattern('web12', 'web?')).toBe(false);
    expect(matchPattern('', '*')).toBe(true);
    expect(matchPattern('abc', 'a*b*c')).toBe(true);
    expect(matchPattern('a'.repeat(5000), `${'*a'.repeat(2000)}b`)).toBe(false);
  });

  it('lets a negated pattern win in a list, case-insensitively', () => {
    expect(matchPatternList('Host.Example.com', '*.example.com')).toBe(1);
    expect(matchPatternList('bad.example.com', '*.example.com,!bad.example.com')).toBe(-1);
    expect(matchPatternList('other.org', '*.example.com')).toBe(0);
  });

  it('matches from= lists as sshd does', () => {
    expect(matchHostAndAddress('192.0.2.7', '192.0.2.0/24')).toBe(1);
    expect(matchHostAndAddress('192.0.2.7', '192.0.2.*')).toBe(1);
    expect(matchHostAndAddress('192.0.2.7', '192.0.2.0/24,!192.0.2.7')).toBe(-1);
    expect(matchHostAndAddress('198.51.100.1', '192.0.2.0/24')).toBe(0);
    expect(matchHostAndAddress('::ffff:192.0.2.7', '192.0.2.0/24')).toBe(1);
    expect(matchHostAndAddress('2001:db8::5', '2001:db8::/64')).toBe(1);
    // A block with host bits set makes OpenSSH refuse the whole list.
    expect(matchHostAndAddress('192.0.2.7', '192.0.2.7/24')).toBe(-1);
    expect(matchHostAndAddress('not-an-ip', '*')).toBe(-1);
    expect(matchHostAndAddress('192.0.2.7', 'host.example.com', 'host.example.com')).toBe(1);
  });
});
