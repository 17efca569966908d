/**
 * Ed25519 identities in OpenSSH formats (docs/security.md "Identities"; docs/design.md
 * §4). An `Identity` is what `ssh-keygen -t ed25519` makes: it loads from and saves to
 * openssh-key-v1 files, prints `.pub` lines and `SHA256:` fingerprints byte-identical to
 * `ssh-keygen -lf`. The secret seed lives in a `#private` field, never in `inspect`, JSON
 * or errors. The Noise handshake uses the X25519 form of the key (the birational map
 * libsodium's `crypto_sign_ed25519_sk_to_curve25519` and age use) as its static key, and
 * the Ed25519 key signs the handshake hash under a keyway label, so that the exact key
 * bytes are proven (docs/security.md, "One key, one identity").
 */

import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { readPrivateKeyFile } from '#platform/files';
import type { CryptoProvider } from './crypto/provider.js';
import { KeyFormatError } from './errors.js';
import {
  type DecodePrivateKeyOptions,
  decodePrivateKey,
  type EncodePrivateKeyOptions,
  encodePrivateKey,
} from './openssh/private-key.js';
import { ed25519Fingerprint, ed25519PublicLine } from './openssh/public-key.js';

/** Options for reading an identity from text or a file. */
export interface LoadIdentityOptions {
  /** Passphrase of an encrypted key (`ssh-keygen -N`). */
  passphrase?: string;
  /** Most bcrypt_pbkdf rounds accepted (default 1024) so a hostile file cannot hang us. */
  maxRounds?: number;
}

/** Options for writing an identity as OpenSSH files. */
export interface IdentityToOpenSSHOptions {
  /** Encrypt the private key with this passphrase (bcrypt_pbkdf + aes256-ctr). */
  passphrase?: string;
  /** bcrypt_pbkdf rounds (`ssh-keygen -a`); default 16. */
  rounds?: number;
}

/** The two file texts of an identity, as `ssh-keygen` writes `id_ed25519` and `.pub`. */
export interface OpenSSHKeyFiles {
  /** openssh-key-v1 private key file text. */
  privateKey: string;
  /** `ssh-ed25519 AAAA… comment` followed by a newline. */
  publicKey: string;
}

const inspectSymbol = Symbol.for('nodejs.util.inspect.custom');
let readSeed: (identity: Identity) => Uint8Array;

/**
 * An Ed25519 key pair in OpenSSH's formats. Make one with {@link generateIdentity}, read
 * one with {@link loadIdentity} or {@link Identity.fromOpenSSH}.
 * @example
 * const id = generateIdentity('alice@laptop');
 * id.fingerprint;          // 'SHA256:…'
 * id.publicKeyLine();      // 'ssh-ed25519 AAAA… alice@laptop'
 */
export class Identity {
  static {
    readSeed = (identity) => identity.#seed;
  }

  /** The Ed25519 public key, 32 bytes. */
  readonly publicKey: Uint8Array;
  /** The key's comment (often `user@host`). */
  readonly comment: string;
  readonly #seed: Uint8Array;

  /**
   * Builds an identity from a 32-byte Ed25519 seed (RFC 8032 private key).
   * @throws {TypeError} when `seed` is not a Uint8Array or `comment` not a string.
   * @throws {RangeError} when `seed` is not 32 bytes.
   */
  constructor(seed: Uint8Array, comment = '') {
    if (!(seed instanceof Uint8Array)) throw new TypeError('seed must be a Uint8Array');
    if (seed.length !== 32) throw new RangeError('seed must be 32 bytes');
    if (typeof comment !== 'string') throw new TypeError('comment must be a string');
    if (/[\r\n]/.test(comment)) throw new RangeError('comment must be a single line');
    this.#seed = new Uint8Array(seed);
    this.publicKey = ed25519.getPublicKey(this.#seed);
    this.comment = comment;
  }

  /**
   * Reads an openssh-key-v1 private key (what `ssh-keygen -t ed25519` writes).
   * @throws {KeyFormatError} on a malformed or non-Ed25519 key, a missing passphrase for
   * an encrypted key, or a wrong passphrase.
   */
  static fromOpenSSH(text: string, options: LoadIdentityOptions = {}): Identity {
    const decodeOptions: DecodePrivateKeyOptions = {};
    if (options.passphrase !== undefined) {
      if (typeof options.passphrase !== 'string')
        throw new TypeError('passphrase must be a string');
      decodeOptions.passphrase = options.passphrase;
    }
    if (options.maxRounds !== undefined) decodeOptions.maxRounds = options.maxRounds;
    const key = decodePrivateKey(text, decodeOptions);
    try {
      return new Identity(key.seed, key.comment.replace(/[\r\n]/g, ' '));
    } finally {
      key.seed.fill(0);
    }
  }

  /** `SHA256:…` fingerprint, exactly as `ssh-keygen -lf` prints it. */
  get fingerprint(): string {
    return ed25519Fingerprint(this.publicKey);
  }

  /** The `.pub` line: `ssh-ed25519 AAAA… comment` (no newline). */
  publicKeyLine(): string {
    return ed25519PublicLine(this.publicKey, this.comment);
  }

  /**
   * The private and public key file texts, readable by `ssh-keygen -y -f`.
   * @throws {RangeError} on a bad `rounds` value.
   */
  toOpenSSH(options: IdentityToOpenSSHOptions = {}): OpenSSHKeyFiles {
    const encodeOptions: EncodePrivateKeyOptions = {};
    if (options.passphrase !== undefined) {
      if (typeof options.passphrase !== 'string')
        throw new TypeError('passphrase must be a string');
      encodeOptions.passphrase = options.passphrase;
    }
    if (options.rounds !== undefined) encodeOptions.rounds = options.rounds;
    return {
      privateKey: encodePrivateKey(
        { seed: this.#seed, publicKey: this.publicKey, comment: this.comment },
        encodeOptions,
      ),
      publicKey: `${this.publicKeyLine()}\n`,
    };
  }

  /** JSON shows only public parts. */
  toJSON(): { type: 'ssh-ed25519'; fingerprint: string; comment: string } {
    return { type: 'ssh-ed25519', fingerprint: this.fingerprint, comment: this.comment };
  }

  /** `util.inspect` shows only public parts. */
  [inspectSymbol](): string {
    return `Identity { ssh-ed25519 ${this.fingerprint}${this.comment ? ` ${JSON.stringify(this.comment)}` : ''} }`;
  }
}

/**
 * Makes a new random Ed25519 identity.
 * @param comment - stored with the key, shown after the `.pub` line (e.g. `user@host`).
 */
export function generateIdentity(comment = ''): Identity {
  const seed = ed25519.utils.randomSecretKey();
  try {
    return new Identity(seed, comment);
  } finally {
    seed.fill(0);
  }
}

/**
 * Reads an OpenSSH Ed25519 private key file, like `ssh -i`.
 * @throws {FilePermissionError} when group or others may access the file (chmod 600).
 * @throws {KeyFormatError} on a malformed key or a missing or wrong passphrase.
 * @example
 * const id = await loadIdentity(`${homedir()}/.ssh/id_ed25519`, { passphrase });
 */
export async function loadIdentity(
  path: string,
  options: LoadIdentityOptions = {},
): Promise<Identity> {
  if (typeof path !== 'string') throw new TypeError('path must be a string');
  const text = await readPrivateKeyFile(path);
  try {
    return Identity.fromOpenSSH(text, options);
  } catch (error) {
    if (error instanceof KeyFormatError) {
      throw new KeyFormatError(`${path}: ${error.message}`, { cause: error });
    }
    throw error;
  }
}

/**
 * The X25519 key pair of an identity, by the birational map from Ed25519 (libsodium's
 * `crypto_sign_ed25519_sk_to_curve25519` / `_pk_to_curve25519`). For the Noise handshake.
 * Internal: not exported from the package.
 */
export function identityX25519(identity: Identity): {
  secretKey: Uint8Array;
  publicKey: Uint8Array;
} {
  const pair = sharedIdentityX25519(identity);
  return { secretKey: pair.secretKey.slice(), publicKey: pair.publicKey.slice() };
}

/**
 * The same pair as {@link identityX25519}, as the very arrays kept for the identity, for
 * the handshake's static key: the same arrays every time let a crypto provider keep the
 * key it imported from them (the node:crypto provider does, per array), where a fresh
 * copy per handshake would be imported again. The caller must never change them.
 * Internal: not exported from the package.
 */
export function sharedIdentityX25519(identity: Identity): {
  readonly secretKey: Uint8Array;
  readonly publicKey: Uint8Array;
} {
  // A server converts its host key on every handshake: compute the pair once per identity.
  let pair = x25519Pairs.get(identity);
  if (pair === undefined) {
    pair = {
      secretKey: ed25519.utils.toMontgomerySecret(readSeed(identity)),
      publicKey: ed25519.utils.toMontgomery(identity.publicKey),
    };
    x25519Pairs.set(identity, pair);
  }
  return pair;
}

const x25519Pairs = new WeakMap<Identity, { secretKey: Uint8Array; publicKey: Uint8Array }>();

/**
 * Signs `message` with the identity's Ed25519 key (RFC 8032). For the handshake's hello
 * signatures, whose messages start with a keyway domain-separation label. Internal: not
 * exported from the package.
 */
export function identitySign(
  identity: Identity,
  message: Uint8Array,
  provider: CryptoProvider,
): Uint8Array {
  return provider.sign(readSeed(identity), message);
}

/**
 * The identity's 32-byte Ed25519 seed, as a copy, for deriving keyway-specific secrets
 * with domain separation (the OPAQUE server setup of `passwordAuth`). Internal: not
 * exported from the package.
 */
export function identitySeed(identity: Identity): Uint8Array {
  return readSeed(identity).slice();
}

/**
 * Peer keys whose X25519 form was computed lately, least recently used first. The map
 * is pure JavaScript (~0.1–0.4 ms a key) and a server meets the same client keys over and
 * over; each entry is 64 hex characters and 32 bytes, so the bound keeps it near 150 KiB.
 */
export const X25519_CACHE_SIZE = 1024;
const x25519OfKey = new Map<string, Uint8Array>();

/**
 * The X25519 public key of an Ed25519 public key (libsodium's
 * `crypto_sign_ed25519_pk_to_curve25519`), remembered for the last
 * {@link X25519_CACHE_SIZE} keys. Internal: not exported from the package.
 * @returns a fresh copy: the caller may change it
 * @throws {KeyFormatError} when the bytes are not a valid Ed25519 point.
 */
export function ed25519PublicToX25519(publicKey: Uint8Array): Uint8Array {
  if (!(publicKey instanceof Uint8Array)) throw new TypeError('publicKey must be a Uint8Array');
  if (publicKey.length !== 32) throw new RangeError('publicKey must be 32 bytes');
  const id = bytesToHex(publicKey);
  let converted = x25519OfKey.get(id);
  if (converted !== undefined) {
    // Most recently used goes last, so the first entry is the one to evict.
    x25519OfKey.delete(id);
  } else {
    try {
      converted = ed25519.utils.toMontgomery(publicKey);
    } catch (cause) {
      // Not remembered: a bad key costs its sender a conversion each time, nothing more.
      throw new KeyFormatError('not a valid Ed25519 public key', { cause });
    }
    if (x25519OfKey.size >= X25519_CACHE_SIZE) {
      x25519OfKey.delete(x25519OfKey.keys().next().value as string);
    }
  }
  x25519OfKey.set(id, converted);
  return converted.slice();
}
