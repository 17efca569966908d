/**
 * The openssh-key-v1 private key format (OpenSSH PROTOCOL.key), Ed25519 only, plain and
 * passphrase-protected exactly as `ssh-keygen` writes it: bcrypt_pbkdf (16 rounds by
 * default) derives an AES-256 key and IV, the private section is encrypted with
 * `aes256-ctr`. Keys written by newer OpenSSH with `aes256-gcm@openssh.com` also load.
 * docs/security.md "Identities".
 */
import { ctr, gcm } from '@noble/ciphers/aes.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { randomBytes } from '@noble/hashes/utils.js';
import bcryptPbkdf from 'bcrypt-pbkdf';
import { KeyFormatError } from '../errors.js';
import { ED25519_KEY_TYPE, ed25519Blob } from './public-key.js';
import { bytesEqual, decodeBase64, encodeBase64, WireReader, WireWriter } from './wire.js';

const MAGIC = new TextEncoder().encode('openssh-key-v1\0');
const BEGIN = '-----BEGIN OPENSSH PRIVATE KEY-----';
const END = '-----END OPENSSH PRIVATE KEY-----';

/** bcrypt_pbkdf rounds `ssh-keygen` uses unless told otherwise (`-a`). */
export const DEFAULT_KDF_ROUNDS = 16;

/**
 * Most bcrypt_pbkdf rounds accepted when reading a key. Each round costs about 20 ms in
 * JavaScript; the cap stops a hostile file from pinning a CPU for hours.
 */
export const DEFAULT_MAX_KDF_ROUNDS = 1024;

/** Largest private key file text accepted (a real Ed25519 key is about 400 bytes). */
export const MAX_PRIVATE_KEY_TEXT = 64 * 1024;

/** The contents of an Ed25519 openssh-key-v1 private key. */
export interface OpenSSHPrivateKey {
  /** The 32-byte Ed25519 seed (RFC 8032 private key). */
  seed: Uint8Array;
  /** The 32-byte Ed25519 public key. */
  publicKey: Uint8Array;
  /** The comment stored inside the private section. */
  comment: string;
}

/** Options for reading a private key. */
export interface DecodePrivateKeyOptions {
  /** Passphrase, for an encrypted key. */
  passphrase?: string;
  /** Most bcrypt_pbkdf rounds accepted; default {@link DEFAULT_MAX_KDF_ROUNDS}. */
  maxRounds?: number;
}

/** Options for writing a private key. */
export interface EncodePrivateKeyOptions {
  /** Encrypt with this passphrase (aes256-ctr + bcrypt_pbkdf), as `ssh-keygen -N`. */
  passphrase?: string;
  /** bcrypt_pbkdf rounds, as `ssh-keygen -a`; default 16. */
  rounds?: number;
}

interface CipherSpec {
  blockSize: number;
  keyLength: number;
  ivLength: number;
  tagLength: number;
}

const CIPHERS: Record<string, CipherSpec> = {
  none: { blockSize: 8, keyLength: 0, ivLength: 0, tagLength: 0 },
  'aes256-ctr': { blockSize: 16, keyLength: 32, ivLength: 16, tagLength: 0 },
  'aes256-gcm@openssh.com': { blockSize: 16, keyLength: 32, ivLength: 12, tagLength: 16 },
};

function deriveKeyIv(passphrase: string, salt: Uint8Array, rounds: number, length: number) {
  const pass = new TextEncoder().encode(passphrase);
  const out = new Uint8Array(length);
  if (bcryptPbkdf.pbkdf(pass, pass.length, salt, salt.length, out, length, rounds) !== 0) {
    throw new KeyFormatError('bcrypt_pbkdf rejected its parameters');
  }
  return out;
}

/**
 * Reads an openssh-key-v1 private key file's text.
 * @throws {KeyFormatError} when the text is not an Ed25519 openssh-key-v1 key, is encrypted
 * and no passphrase was given, or the passphrase is wrong.
 */
export function decodePrivateKey(
  text: string,
  options: DecodePrivateKeyOptions = {},
): OpenSSHPrivateKey {
  if (typeof text !== 'string') throw new TypeError('text must be a string');
  if (text.length > MAX_PRIVATE_KEY_TEXT) throw new KeyFormatError('private key file too large');
  const begin = text.indexOf(BEGIN);
  const end = text.indexOf(END, begin + BEGIN.length);
  if (begin < 0 || end < 0) {
    throw new KeyFormatError('not an OpenSSH private key (missing BEGIN/END lines)');
  }
  const bytes = decodeBase64(text.slice(begin + BEGIN.length, end).replace(/\s+/g, ''));
  if (bytes === undefined) throw new KeyFormatError('private key body is not valid base64');
  if (bytes.length < MAGIC.length || !bytesEqual(bytes.subarray(0, MAGIC.length), MAGIC)) {
    throw new KeyFormatError('not an openssh-key-v1 private key');
  }
  const reader = new WireReader(bytes.subarray(MAGIC.length));
  const cipherName = reader.text('cipher name');
  const kdfName = reader.text('kdf name');
  const kdfOptions = reader.string('kdf options');
  const count = reader.uint32('key count');
  if (count !== 1) throw new KeyFormatError(`expected one key, found ${count}`);
  const outerPublic = reader.string('public key');
  const cipher = CIPHERS[cipherName];
  if (cipher === undefined || !Object.hasOwn(CIPHERS, cipherName)) {
    throw new KeyFormatError(`unsupported cipher "${cipherName.slice(0, 40)}"`);
  }
  const sealed = reader.string('private section');
  const tag = reader.raw(cipher.tagLength, 'authentication tag');
  if (reader.remaining !== 0) throw new KeyFormatError('trailing bytes after private key');
  if (sealed.length % cipher.blockSize !== 0) {
    throw new KeyFormatError('private section is not a whole number of cipher blocks');
  }

  let plain: Uint8Array;
  if (cipherName === 'none') {
    if (kdfName !== 'none' || kdfOptions.length !== 0) {
      throw new KeyFormatError('unencrypted key with a kdf');
    }
    plain = sealed;
  } else {
    if (kdfName !== 'bcrypt') throw new KeyFormatError(`unsupported kdf "${kdfName.slice(0, 40)}"`);
    const kdf = new WireReader(kdfOptions);
    const salt = kdf.string('kdf salt');
    const rounds = kdf.uint32('kdf rounds');
    if (kdf.remaining !== 0) throw new KeyFormatError('trailing bytes after kdf options');
    const maxRounds = options.maxRounds ?? DEFAULT_MAX_KDF_ROUNDS;
    if (rounds < 1 || rounds > maxRounds) {
      throw new KeyFormatError(`kdf rounds ${rounds} outside 1..${maxRounds}`);
    }
    if (salt.length < 1 || salt.length > 1024) throw new KeyFormatError('bad kdf salt length');
    if (options.passphrase === undefined || options.passphrase === '') {
      throw new KeyFormatError('private key is encrypted; a passphrase is required');
    }
    const keyIv = deriveKeyIv(options.passphrase, salt, rounds, cipher.keyLength + cipher.ivLength);
    const key = keyIv.subarray(0, cipher.keyLength);
    const iv = keyIv.subarray(cipher.keyLength);
    if (cipher.tagLength > 0) {
      const joined = new Uint8Array(sealed.length + tag.length);
      joined.set(sealed);
      joined.set(tag, sealed.length);
      try {
        plain = gcm(key, iv).decrypt(joined);
      } catch (cause) {
        throw new KeyFormatError('incorrect passphrase for private key', { cause });
      }
    } else {
      plain = ctr(key, iv).decrypt(sealed);
    }
  }
  return readPrivateSection(plain, outerPublic, cipher.blockSize, cipherName !== 'none');
}

function readPrivateSection(
  plain: Uint8Array,
  outerPublic: Uint8Array,
  blockSize: number,
  encrypted: boolean,
): OpenSSHPrivateKey {
  const reader = new WireReader(plain);
  const check1 = reader.uint32('check int');
  const check2 = reader.uint32('check int');
  if (check1 !== check2) {
    // A wrong passphrase decrypts to noise; the repeated check int is how OpenSSH tells.
    throw new KeyFormatError(
      encrypted ? 'incorrect passphrase for private key' : 'private key check ints differ',
    );
  }
  const type = reader.text('key type');
  if (type !== ED25519_KEY_TYPE) {
    throw new KeyFormatError(`unsupported private key type "${type.slice(0, 40)}"`);
  }
  const publicKey = reader.string('ed25519 public key');
  const secret = reader.string('ed25519 private key');
  const comment = reader.text('comment');
  if (publicKey.length !== 32) throw new KeyFormatError('ed25519 public key is not 32 bytes');
  if (secret.length !== 64) throw new KeyFormatError('ed25519 private key is not 64 bytes');
  const padding = reader.rest();
  if (padding.length >= blockSize) throw new KeyFormatError('too much padding');
  for (let i = 0; i < padding.length; i++) {
    if (padding[i] !== i + 1) throw new KeyFormatError('bad padding in private section');
  }
  if (!bytesEqual(secret.subarray(32), publicKey)) {
    throw new KeyFormatError('private key does not hold its own public key');
  }
  if (!bytesEqual(ed25519Blob(publicKey), outerPublic)) {
    throw new KeyFormatError('private key does not match its public key');
  }
  const seed = new Uint8Array(secret.subarray(0, 32));
  if (!bytesEqual(ed25519.getPublicKey(seed), publicKey)) {
    throw new KeyFormatError('ed25519 seed does not give the stored public key');
  }
  return { seed, publicKey: new Uint8Array(publicKey), comment };
}

/**
 * Writes an Ed25519 key as openssh-key-v1 file text, byte-compatible with `ssh-keygen`.
 * @throws {RangeError} for a wrong seed length or a rounds value outside 1..2^32-1.
 */
export function encodePrivateKey(
  key: OpenSSHPrivateKey,
  options: EncodePrivateKeyOptions = {},
): string {
  if (key.seed.length !== 32) throw new RangeError('seed must be 32 bytes');
  // As ssh-keygen: an empty passphrase means an unencrypted key.
  const encrypted = options.passphrase !== undefined && options.passphrase !== '';
  const rounds = options.rounds ?? DEFAULT_KDF_ROUNDS;
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 0xffffffff) {
    throw new RangeError('rounds must be an integer from 1');
  }
  const cipherName = encrypted ? 'aes256-ctr' : 'none';
  const cipher = CIPHERS[cipherName]!;
  const checkBytes = randomBytes(4);
  const checkInt = new DataView(checkBytes.buffer, checkBytes.byteOffset, 4).getUint32(0);
  const secret = new Uint8Array(64);
  secret.set(key.seed);
  secret.set(key.publicKey, 32);
  const section = new WireWriter()
    .uint32(checkInt)
    .uint32(checkInt)
    .string(ED25519_KEY_TYPE)
    .string(key.publicKey)
    .string(secret)
    .string(key.comment);
  const padLength = (cipher.blockSize - (section.length % cipher.blockSize)) % cipher.blockSize;
  const padding = new Uint8Array(padLength);
  for (let i = 0; i < padLength; i++) padding[i] = i + 1;
  let body: Uint8Array = section.raw(padding).finish();
  secret.fill(0);

  let kdfName = 'none';
  let kdfOptions: Uint8Array = new Uint8Array(0);
  if (encrypted) {
    const salt = randomBytes(16);
    kdfName = 'bcrypt';
    kdfOptions = new WireWriter().string(salt).uint32(rounds).finish();
    const keyIv = deriveKeyIv(
      options.passphrase!,
      salt,
      rounds,
      cipher.keyLength + cipher.ivLength,
    );
    const plain = body;
    body = ctr(keyIv.subarray(0, cipher.keyLength), keyIv.subarray(cipher.keyLength)).encrypt(
      plain,
    );
    plain.fill(0);
    keyIv.fill(0);
  }
  const bytes = new WireWriter()
    .raw(MAGIC)
    .string(cipherName)
    .string(kdfName)
    .string(kdfOptions)
    .uint32(1)
    .string(ed25519Blob(key.publicKey))
    .string(body)
    .finish();
  const base64 = encodeBase64(bytes);
  const lines: string[] = [BEGIN];
  // ssh-keygen wraps the armored body at 70 columns.
  for (let i = 0; i < base64.length; i += 70) lines.push(base64.slice(i, i + 70));
  lines.push(END, '');
  return lines.join('\n');
}
