/**
 * openssh-key-v1 structure rules: check ints, padding, lengths, key consistency, limits.
 * Each malformed key is built by re-encoding a valid one with one field changed.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import { KeyFormatError } from '../src/errors.js';
import { decodePrivateKey, encodePrivateKey } from '../src/openssh/private-key.js';
import { ed25519Blob } from '../src/openssh/public-key.js';
import { WireWriter } from '../src/openssh/wire.js';

const seed = new Uint8Array(32).fill(7);
const publicKey = ed25519.getPublicKey(seed);

interface Parts {
  cipher?: string;
  kdf?: string;
  kdfOptions?: Uint8Array;
  count?: number;
  outer?: Uint8Array;
  check?: [number, number];
  type?: string;
  inner?: Uint8Array;
  secret?: Uint8Array;
  comment?: string;
  padding?: number[];
  trailing?: Uint8Array;
  rawSection?: Uint8Array;
}

function armor(bytes: Uint8Array): string {
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${Buffer.from(bytes).toString('base64')}\n-----END OPENSSH PRIVATE KEY-----\n`;
}

function build(parts: Parts = {}): string {
  const secret = new Uint8Array(64);
  secret.set(seed);
  secret.set(publicKey, 32);
  const check = parts.check ?? [0x11223344, 0x11223344];
  const section = new WireWriter()
    .uint32(check[0])
    .uint32(check[1])
    .string(parts.type ?? 'ssh-ed25519')
    .string(parts.inner ?? publicKey)
    .string(parts.secret ?? secret)
    .string(parts.comment ?? 'c');
  const padding = parts.padding ?? [1, 2, 3, 4, 5, 6, 7].slice(0, (8 - (section.length % 8)) % 8);
  section.raw(Uint8Array.from(padding));
  const writer = new WireWriter()
    .raw(new TextEncoder().encode('openssh-key-v1\0'))
    .string(parts.cipher ?? 'none')
    .string(parts.kdf ?? 'none')
    .string(parts.kdfOptions ?? new Uint8Array(0))
    .uint32(parts.count ?? 1)
    .string(parts.outer ?? ed25519Blob(publicKey))
    .string(parts.rawSection ?? section.finish());
  if (parts.trailing) writer.raw(parts.trailing);
  return armor(writer.finish());
}

describe('openssh-key-v1 reader', () => {
  it('reads the well-formed reference key', () => {
    const key = decodePrivateKey(build());
    expect(key.seed).toEqual(seed);
    expect(key.publicKey).toEqual(publicKey);
    expect(key.comment).toBe('c');
  });

  it('writes padding 1, 2, 3, … to the cipher block size', () => {
    for (const comment of ['', 'a', 'ab', 'abc', 'abcd', 'abcde', 'abcdef', 'abcdefg']) {
      const text = encodePrivateKey({ seed, publicKey, comment });
      expect(decodePrivateKey(text).comment).toBe(comment);
      const raw = Buffer.from(text.split('\n').slice(1, -2).join(''), 'base64');
      // The private section (131 bytes + comment, then padding) ends the file.
      const padLength = (8 - ((131 + comment.length) % 8)) % 8;
      expect([...raw.subarray(raw.length - padLength)]).toEqual(
        Array.from({ length: padLength }, (_, i) => i + 1),
      );
      expect(
        raw.subarray(raw.length - padLength - comment.length, raw.length - padLength).toString(),
      ).toBe(comment);
    }
  });

  const bad: Array<[string, Parts, RegExp]> = [
    ['differing check ints', { check: [1, 2] }, /check ints differ/],
    ['bad padding bytes', { comment: 'abc', padding: [1, 9] }, /bad padding/],
    [
      'a whole extra block of padding',
      { comment: 'abc', padding: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] },
      /too much padding/,
    ],
    ['a section that is not whole blocks', { comment: 'abc', padding: [1] }, /whole number/],
    ['two keys', { count: 2 }, /one key/],
    ['an RSA private section', { type: 'ssh-rsa' }, /unsupported private key type/],
    ['an unknown cipher', { cipher: 'des' }, /unsupported cipher/],
    ['a cipher inherited from Object.prototype', { cipher: 'toString' }, /unsupported cipher/],
    ['a kdf on an unencrypted key', { kdf: 'bcrypt' }, /unencrypted key with a kdf/],
    ['trailing bytes', { trailing: new Uint8Array([0]) }, /trailing bytes/],
    ['a short secret', { secret: new Uint8Array(63) }, /(not 64 bytes|truncated|whole number)/],
    [
      'an outer key that differs',
      { outer: ed25519Blob(new Uint8Array(32).fill(1)) },
      /does not match/,
    ],
    [
      'a seed that does not give the public key',
      { secret: new Uint8Array(64).fill(3) },
      /does not hold|does not give/,
    ],
    [
      'a length field past the end',
      { rawSection: new Uint8Array([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]) },
      /check ints differ|truncated/,
    ],
  ];
  for (const [name, parts, message] of bad) {
    it(`refuses ${name}`, () => {
      let error: unknown;
      try {
        decodePrivateKey(build(parts));
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(KeyFormatError);
      expect((error as Error).message).toMatch(message);
    });
  }

  it('refuses a huge length field without allocating it', () => {
    const writer = new WireWriter()
      .raw(new TextEncoder().encode('openssh-key-v1\0'))
      .uint32(0xfffffff0);
    expect(() => decodePrivateKey(armor(writer.finish()))).toThrow(/truncated cipher name/);
  });

  it('refuses kdf rounds above the cap before running the kdf', () => {
    const kdfOptions = new WireWriter().string(new Uint8Array(16)).uint32(0xffffffff).finish();
    const text = build({
      cipher: 'aes256-ctr',
      kdf: 'bcrypt',
      kdfOptions,
      padding: [],
      comment: 'abcdefghijklm',
    });
    expect(() => decodePrivateKey(text, { passphrase: 'x' })).toThrow(/kdf rounds 4294967295/);
  });

  it('refuses text without armor, with a bad body or a wrong magic', () => {
    expect(() => decodePrivateKey('ssh-ed25519 AAAA')).toThrow(KeyFormatError);
    expect(() => decodePrivateKey(armor(new Uint8Array(0)).replace('\n\n', '\n!!\n'))).toThrow(
      /base64/,
    );
    expect(() => decodePrivateKey(armor(new TextEncoder().encode('openssh-key-v2\0')))).toThrow(
      /not an openssh-key-v1/,
    );
  });
});
