import { describe, expect, it } from 'vitest';
import { KeyFormatError } from '../src/errors.js';
import { generateIdentity } from '../src/identity.js';
import { parsePublicKey } from '../src/openssh/public-key.js';

// A public key from RFC 8032 §7.1 TEST 1, as an OpenSSH line.
const LINE =
  'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea rfc8032 test 1';

describe('parsePublicKey', () => {
  it('parses type, key, comment with inner spaces, and fingerprint', () => {
    const parsed = parsePublicKey(`  ${LINE}\n`);
    expect(parsed.type).toBe('ssh-ed25519');
    expect(Buffer.from(parsed.key).toString('hex')).toBe(
      'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    );
    expect(parsed.comment).toBe('rfc8032 test 1');
    expect(parsed.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  it('accepts a line without a comment', () => {
    const id = generateIdentity();
    expect(parsePublicKey(id.publicKeyLine()).comment).toBe('');
  });

  const bad: Array<[string, string]> = [
    ['another key type', LINE.replace('ssh-ed25519 ', 'ssh-rsa ')],
    [
      'a blob of another type',
      `ssh-ed25519 ${Buffer.from('\0\0\0\x07ssh-rsa').toString('base64')}`,
    ],
    ['invalid base64', 'ssh-ed25519 AAAA*AAA'],
    [
      'a short key',
      `ssh-ed25519 ${Buffer.from('\0\0\0\x0bssh-ed25519\0\0\0\x01x').toString('base64')}`,
    ],
    [
      'trailing bytes in the blob',
      `ssh-ed25519 ${Buffer.concat([Buffer.from(LINE.split(' ')[1] ?? '', 'base64'), Buffer.from([0])]).toString('base64')}`,
    ],
    ['a single field', 'ssh-ed25519'],
    ['two lines', `${LINE}\n${LINE}`],
    ['an empty string', ''],
  ];
  for (const [name, line] of bad) {
    it(`throws KeyFormatError for ${name}`, () => {
      expect(() => parsePublicKey(line)).toThrow(KeyFormatError);
    });
  }

  it('throws TypeError for a non-string', () => {
    expect(() => parsePublicKey(42 as unknown as string)).toThrow(TypeError);
  });
});
