/**
 * Property tests for the OpenSSH key parsers: any input gives a value or a KeyFormatError,
 * never another exception, a hang or an allocation sized by a hostile length field.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KeyFormatError } from '../src/errors.js';
import { generateIdentity, Identity } from '../src/identity.js';
import { decodePrivateKey, encodePrivateKey } from '../src/openssh/private-key.js';
import { parsePublicKey } from '../src/openssh/public-key.js';

function valueOrKeyFormatError(run: () => unknown): void {
  try {
    run();
  } catch (error) {
    if (!(error instanceof KeyFormatError)) throw error;
  }
}

const armor = (bytes: Uint8Array) =>
  `-----BEGIN OPENSSH PRIVATE KEY-----\n${Buffer.from(bytes).toString('base64')}\n-----END OPENSSH PRIVATE KEY-----\n`;

const plainKey = Buffer.from(
  generateIdentity('fuzz').toOpenSSH().privateKey.split('\n').slice(1, -2).join(''),
  'base64',
);
const lockedKey = Buffer.from(
  generateIdentity('fuzz')
    .toOpenSSH({ passphrase: 'pw', rounds: 1 })
    .privateKey.split('\n')
    .slice(1, -2)
    .join(''),
  'base64',
);

/** A copy of `bytes` with some bytes overwritten and maybe truncated. */
const mutated = (bytes: Uint8Array) =>
  fc
    .record({
      edits: fc.array(
        fc.tuple(fc.nat({ max: bytes.length - 1 }), fc.integer({ min: 0, max: 255 })),
        {
          minLength: 1,
          maxLength: 6,
        },
      ),
      cut: fc.option(fc.nat({ max: bytes.length }), { nil: undefined }),
    })
    .map(({ edits, cut }) => {
      const out = Uint8Array.from(bytes);
      for (const [at, value] of edits) out[at] = value;
      return cut === undefined ? out : out.subarray(0, cut);
    });

describe('private key parser properties', () => {
  it('random bytes give a value or a KeyFormatError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        valueOrKeyFormatError(() =>
          decodePrivateKey(armor(bytes), { passphrase: 'pw', maxRounds: 4 }),
        );
        const withMagic = new Uint8Array([
          ...new TextEncoder().encode('openssh-key-v1\0'),
          ...bytes,
        ]);
        valueOrKeyFormatError(() =>
          decodePrivateKey(armor(withMagic), { passphrase: 'pw', maxRounds: 4 }),
        );
      }),
      { numRuns: 1000 },
    );
  });

  it('random text gives a value or a KeyFormatError', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), (text) => {
        valueOrKeyFormatError(() => decodePrivateKey(text));
        valueOrKeyFormatError(() =>
          decodePrivateKey(
            `-----BEGIN OPENSSH PRIVATE KEY-----${text}-----END OPENSSH PRIVATE KEY-----`,
          ),
        );
      }),
      { numRuns: 500 },
    );
  });

  it('mutated plain keys give a value or a KeyFormatError', () => {
    fc.assert(
      fc.property(mutated(plainKey), (bytes) => {
        valueOrKeyFormatError(() => decodePrivateKey(armor(bytes)));
      }),
      { numRuns: 1000 },
    );
  });

  it('mutated encrypted keys give a value or a KeyFormatError', () => {
    fc.assert(
      fc.property(mutated(lockedKey), (bytes) => {
        valueOrKeyFormatError(() =>
          decodePrivateKey(armor(bytes), { passphrase: 'pw', maxRounds: 2 }),
        );
      }),
      { numRuns: 150 },
    );
  });

  it('round-trips any seed and single-line comment', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.string({ maxLength: 80 }).filter((s) => !/[\r\n]/.test(s)),
        (seed, comment) => {
          const id = new Identity(seed, comment);
          const back = Identity.fromOpenSSH(id.toOpenSSH().privateKey);
          expect(back.publicKey).toEqual(id.publicKey);
          expect(back.comment).toBe(comment);
          const text = encodePrivateKey({ seed, publicKey: id.publicKey, comment });
          expect(decodePrivateKey(text).seed).toEqual(seed);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('public key line parser properties', () => {
  const line = generateIdentity('fuzz').publicKeyLine();

  it('random strings give a value or a KeyFormatError', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (text) => {
        valueOrKeyFormatError(() => parsePublicKey(text));
        valueOrKeyFormatError(() => parsePublicKey(`ssh-ed25519 ${text}`));
      }),
      { numRuns: 1000 },
    );
  });

  it('mutated lines give a value or a KeyFormatError, and a value re-parses the same', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: line.length - 1 }),
        fc.string({ minLength: 1, maxLength: 3 }),
        (at, insert) => {
          const text = line.slice(0, at) + insert + line.slice(at + 1);
          try {
            const parsed = parsePublicKey(text);
            expect(parsed.key).toHaveLength(32);
            expect(
              parsePublicKey(
                `ssh-ed25519 ${Buffer.from([0, 0, 0, 11, ...Buffer.from('ssh-ed25519'), 0, 0, 0, 32, ...parsed.key]).toString('base64')}`,
              ).fingerprint,
            ).toBe(parsed.fingerprint);
          } catch (error) {
            if (!(error instanceof KeyFormatError)) throw error;
          }
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('refuses an over-long line before parsing it', () => {
    expect(() => parsePublicKey(`ssh-ed25519 ${'A'.repeat(20_000)}`)).toThrow(/too long/);
  });
});
