import { randomBytes } from 'node:crypto';
import { chmodSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { inspect } from 'node:util';
import { x25519 } from '@noble/curves/ed25519.js';
import { afterAll, describe, expect, it } from 'vitest';
import { FilePermissionError, KeyFormatError } from '../src/errors.js';
import {
  ed25519PublicToX25519,
  generateIdentity,
  Identity,
  identityX25519,
  loadIdentity,
  sharedIdentityX25519,
  X25519_CACHE_SIZE,
} from '../src/identity.js';
import { parsePublicKey } from '../src/openssh/public-key.js';
import { tempDir } from './openssh-tools.js';

const tmp = tempDir();
afterAll(tmp.cleanup);

// RFC 8032 §7.1 TEST 1: a known seed and its public key.
const RFC8032_SEED = Buffer.from(
  '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
  'hex',
);
const RFC8032_PUBLIC = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';

describe('Identity', () => {
  it('derives the RFC 8032 public key from its seed', () => {
    const id = new Identity(RFC8032_SEED, 'test');
    expect(Buffer.from(id.publicKey).toString('hex')).toBe(RFC8032_PUBLIC);
  });

  it('prints a .pub line that parses back to the same key, comment and fingerprint', () => {
    const id = generateIdentity('alice@laptop');
    const line = id.publicKeyLine();
    expect(line).toMatch(/^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI[A-Za-z0-9+/]{43} alice@laptop$/);
    const parsed = parsePublicKey(line);
    expect(parsed.key).toEqual(id.publicKey);
    expect(parsed.comment).toBe('alice@laptop');
    expect(parsed.fingerprint).toBe(id.fingerprint);
    expect(id.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  it('keeps the seed out of inspect, JSON and enumerable keys', () => {
    const id = new Identity(RFC8032_SEED, 'secret-holder');
    const seedHex = RFC8032_SEED.toString('hex');
    const seedB64 = RFC8032_SEED.toString('base64');
    for (const shown of [inspect(id, { showHidden: true, depth: 5 }), JSON.stringify(id)]) {
      expect(shown).not.toContain(seedHex);
      expect(shown).not.toContain(seedB64);
      expect(shown).toContain(id.fingerprint);
    }
    expect(Object.keys(id).sort()).toEqual(['comment', 'publicKey']);
  });

  it('round-trips through openssh-key-v1 text, plain and with a passphrase', () => {
    const id = generateIdentity('round trip');
    const plain = id.toOpenSSH();
    expect(plain.privateKey.startsWith('-----BEGIN OPENSSH PRIVATE KEY-----\n')).toBe(true);
    expect(plain.publicKey).toBe(`${id.publicKeyLine()}\n`);
    const back = Identity.fromOpenSSH(plain.privateKey);
    expect(back.publicKey).toEqual(id.publicKey);
    expect(back.comment).toBe('round trip');

    const locked = id.toOpenSSH({ passphrase: 'correct horse', rounds: 2 });
    expect(
      Identity.fromOpenSSH(locked.privateKey, { passphrase: 'correct horse' }).fingerprint,
    ).toBe(id.fingerprint);
    expect(() => Identity.fromOpenSSH(locked.privateKey)).toThrow(/passphrase is required/);
    expect(() => Identity.fromOpenSSH(locked.privateKey, { passphrase: 'wrong' })).toThrow(
      KeyFormatError,
    );
    expect(() => Identity.fromOpenSSH(locked.privateKey, { passphrase: 'wrong' })).toThrow(
      /incorrect passphrase/,
    );
  });

  it('writes a fresh check int and salt each time', () => {
    const id = generateIdentity();
    expect(id.toOpenSSH().privateKey).not.toBe(id.toOpenSSH().privateKey);
  });

  it('refuses bad constructor arguments', () => {
    expect(() => new Identity(new Uint8Array(31))).toThrow(RangeError);
    expect(() => new Identity('x' as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => new Identity(RFC8032_SEED, 'two\nlines')).toThrow(RangeError);
    expect(() => generateIdentity().toOpenSSH({ passphrase: 'p', rounds: 0 })).toThrow(RangeError);
  });
});

describe('loadIdentity', () => {
  it('loads a 0600 key file and refuses one readable by group or others', async () => {
    const id = generateIdentity('file');
    const file = tmp.path('id_ed25519');
    writeFileSync(file, id.toOpenSSH().privateKey, { mode: 0o600 });
    chmodSync(file, 0o600);
    expect((await loadIdentity(file)).fingerprint).toBe(id.fingerprint);
    for (const mode of [0o644, 0o640, 0o604, 0o660]) {
      chmodSync(file, mode);
      await expect(loadIdentity(file)).rejects.toBeInstanceOf(FilePermissionError);
      await expect(loadIdentity(file)).rejects.toThrow(/UNPROTECTED PRIVATE KEY FILE/);
    }
    chmodSync(file, 0o400);
    expect((await loadIdentity(file)).fingerprint).toBe(id.fingerprint);
  });

  it('names the file and keeps the cause on a wrong passphrase', async () => {
    const file = tmp.path('id_locked');
    writeFileSync(file, generateIdentity().toOpenSSH({ passphrase: 'a', rounds: 1 }).privateKey, {
      mode: 0o600,
    });
    const error = await loadIdentity(file, { passphrase: 'b' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KeyFormatError);
    expect((error as KeyFormatError).code).toBe('ERR_KEY_FORMAT');
    expect((error as Error).message).toContain(file);
    expect((error as Error).message).toMatch(/incorrect passphrase/);
    expect((error as Error).cause).toBeInstanceOf(KeyFormatError);
  });
});

describe('X25519 form of an identity', () => {
  // sodium-universal comes with the noise-handshake devDependency; reach it through it.
  const requireHere = createRequire(import.meta.url);
  const sodium = createRequire(requireHere.resolve('noise-handshake'))('sodium-universal') as {
    crypto_sign_ed25519_pk_to_curve25519(out: Uint8Array, pk: Uint8Array): void;
    crypto_sign_ed25519_sk_to_curve25519(out: Uint8Array, sk: Uint8Array): void;
  };

  it('matches libsodium for public and secret keys', () => {
    for (let i = 0; i < 20; i++) {
      const seed = randomBytes(32);
      const id = new Identity(seed);
      const { secretKey, publicKey } = identityX25519(id);
      const pk = Buffer.alloc(32);
      sodium.crypto_sign_ed25519_pk_to_curve25519(pk, Buffer.from(id.publicKey));
      expect(Buffer.from(publicKey).equals(pk)).toBe(true);
      expect(Buffer.from(ed25519PublicToX25519(id.publicKey)).equals(pk)).toBe(true);
      // libsodium's secret key is seed ‖ public key.
      const sk = Buffer.alloc(32);
      sodium.crypto_sign_ed25519_sk_to_curve25519(sk, Buffer.concat([seed, id.publicKey]));
      expect(Buffer.from(secretKey).equals(sk)).toBe(true);
    }
  });

  it('hands the handshake the same pair arrays each time, equal to the copies and to libsodium', () => {
    const id = generateIdentity();
    const shared = sharedIdentityX25519(id);
    expect(sharedIdentityX25519(id)).toBe(shared);
    expect(sharedIdentityX25519(id).secretKey).toBe(shared.secretKey);
    const copy = identityX25519(id);
    expect(copy.secretKey).not.toBe(shared.secretKey);
    expect(copy).toEqual({ secretKey: shared.secretKey, publicKey: shared.publicKey });
    const pk = Buffer.alloc(32);
    sodium.crypto_sign_ed25519_pk_to_curve25519(pk, Buffer.from(id.publicKey));
    expect(Buffer.from(shared.publicKey).equals(pk)).toBe(true);
    // A caller changing its copy leaves the shared pair alone.
    copy.secretKey.fill(0);
    expect(sharedIdentityX25519(id).secretKey).toEqual(identityX25519(id).secretKey);
    expect(x25519.getPublicKey(shared.secretKey)).toEqual(shared.publicKey);
  });

  it('converts a peer key it has seen before to the same libsodium result, as a copy of its own', () => {
    const keys = Array.from({ length: X25519_CACHE_SIZE + 5 }, () => generateIdentity().publicKey);
    const expected = (key: Uint8Array) => {
      const pk = Buffer.alloc(32);
      sodium.crypto_sign_ed25519_pk_to_curve25519(pk, Buffer.from(key));
      return pk.toString('hex');
    };
    const first = keys[0]!;
    const once = ed25519PublicToX25519(first);
    // The caller's copy is its own: changing it does not change the next answer.
    once.fill(0);
    expect(Buffer.from(ed25519PublicToX25519(first)).toString('hex')).toBe(expected(first));
    // Past the bound, evicted keys and remembered keys convert alike.
    for (const key of keys) ed25519PublicToX25519(key);
    for (const key of [first, keys[1]!, keys.at(-1)!]) {
      expect(Buffer.from(ed25519PublicToX25519(key)).toString('hex')).toBe(expected(key));
    }
    // A key array rewritten in place is converted by its new bytes.
    const moving = keys[2]!.slice();
    ed25519PublicToX25519(moving);
    moving.set(keys[3]!);
    expect(Buffer.from(ed25519PublicToX25519(moving)).toString('hex')).toBe(expected(keys[3]!));
  });

  it('gives keys that agree on a Diffie-Hellman secret', () => {
    const a = identityX25519(generateIdentity());
    const b = identityX25519(generateIdentity());
    expect(x25519.getSharedSecret(a.secretKey, b.publicKey)).toEqual(
      x25519.getSharedSecret(b.secretKey, a.publicKey),
    );
    expect(x25519.getPublicKey(a.secretKey)).toEqual(a.publicKey);
  });

  it('refuses bytes that are not an Ed25519 point', () => {
    // y = 2 is not on the curve (x² has no square root).
    const bad = new Uint8Array(32);
    bad[0] = 2;
    expect(() => ed25519PublicToX25519(bad)).toThrow(KeyFormatError);
  });
});
