import { ed25519 } from '@noble/curves/ed25519.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AuthorizedKeys } from '../src/authorized-keys.js';
import { KeyFormatError } from '../src/errors.js';
import { generateIdentity } from '../src/identity.js';
import { KnownHosts } from '../src/known-hosts.js';
import {
  checkEd25519PublicKey,
  ed25519KeyProblem,
  ed25519PublicLine,
  parsePublicKey,
} from '../src/openssh/public-key.js';
import { addPoint, NON_CANONICAL_KEYS, negateKey, TORSION_POINTS } from './ed25519-aliases.js';

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

describe('keys that would alias another identity are refused where keys are parsed', () => {
  const lineOf = (key: Uint8Array) => ed25519PublicLine(key, 'alias');
  const id = generateIdentity('honest');
  const torsionAlias = addPoint(id.publicKey, TORSION_POINTS[1]!);
  const smallOrder = TORSION_POINTS[2]!.toBytes();
  const nonCanonical = NON_CANONICAL_KEYS[0]!.bytes;

  it('the honest key passes every check', () => {
    expect(ed25519KeyProblem(id.publicKey)).toBeUndefined();
    expect(() => checkEd25519PublicKey(id.publicKey)).not.toThrow();
    expect(parsePublicKey(id.publicKeyLine()).key).toEqual(id.publicKey);
  });

  it('parsePublicKey refuses a small-order component, a small-order point and a non-canonical encoding', () => {
    expect(() => parsePublicKey(lineOf(torsionAlias))).toThrow(/small-order component/);
    expect(() => parsePublicKey(lineOf(smallOrder))).toThrow(/small order/);
    expect(() => parsePublicKey(lineOf(nonCanonical))).toThrow(KeyFormatError);
  });

  it('every alias of every one of the 8 torsion points is refused; −A is a distinct valid key', () => {
    for (const [i, t] of TORSION_POINTS.entries()) {
      const alias = addPoint(id.publicKey, t);
      expect(ed25519KeyProblem(alias)).toBe(
        i === 0 ? undefined : 'ed25519 key has a small-order component',
      );
      expect(ed25519KeyProblem(t.toBytes())).toBe('ed25519 key is a point of small order');
    }
    // −A passes the point checks: it is refused by the signature over its exact bytes
    // and, when A is @revoked, by the client's revocation check.
    expect(ed25519KeyProblem(negateKey(id.publicKey))).toBeUndefined();
  });

  it('known_hosts and authorized_keys keep such lines inert, saying why', () => {
    const known = KnownHosts.parse(`h ${lineOf(smallOrder)}\nh ${lineOf(nonCanonical)}\n`);
    expect(known.list().map((e) => e.error)).toEqual([
      'ed25519 key is a point of small order',
      'ed25519 key is not a canonical encoding of a curve point',
    ]);
    const keys = AuthorizedKeys.parse(`${lineOf(smallOrder)}\n${lineOf(nonCanonical)}\n`);
    expect(keys.list().every((e) => e.error !== undefined)).toBe(true);
  });

  it('the byte-only check (database lines) knows every small-order point and non-canonical encoding', () => {
    for (const t of TORSION_POINTS) {
      expect(ed25519KeyProblem(t.toBytes(), false)).toBe('ed25519 key is a point of small order');
    }
    for (const { bytes } of NON_CANONICAL_KEYS) {
      expect(ed25519KeyProblem(bytes, false)).toBe(
        'ed25519 key is not a canonical encoding of a curve point',
      );
    }
    expect(ed25519KeyProblem(id.publicKey, false)).toBeUndefined();
    // A torsion alias passes the byte check; the full check, made on every presented
    // key before lookup, refuses it, so such a database line never matches.
    expect(ed25519KeyProblem(torsionAlias, false)).toBeUndefined();
  });

  it('the byte-only and full checks agree with noble on canonical and small-order verdicts', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (bytes) => {
        let strict: ReturnType<typeof ed25519.Point.fromBytes> | undefined;
        try {
          strict = ed25519.Point.fromBytes(bytes, false);
        } catch {}
        const full = ed25519KeyProblem(bytes);
        if (strict === undefined) expect(full).toBeDefined();
        else if (strict.isSmallOrder()) expect(full).toBe('ed25519 key is a point of small order');
        else expect(full === undefined).toBe(strict.isTorsionFree());
      }),
      { numRuns: 100 },
    );
  });

  it('any 32 bytes give a verdict, never a throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (bytes) => {
        const problem = ed25519KeyProblem(bytes);
        expect(problem === undefined || typeof problem === 'string').toBe(true);
      }),
      { numRuns: 100 },
    );
  });
});
