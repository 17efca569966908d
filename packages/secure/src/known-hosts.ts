/**
 * `known_hosts`: the client's database of server keys, in OpenSSH's line format
 * (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"): `[@marker] hostpatterns keytype base64 [comment]`,
 * host patterns with `*`, `?` and `!`, `[host]:port` for ports other than 22, hashed names
 * `|1|salt|hmac` (HMAC-SHA1 keyed by the salt, as `ssh-keygen -H` writes), `@revoked`
 * lines, several keys per host. Comments, blank lines and lines we cannot use are kept
 * as they are on save. docs/security.md "known_hosts".
 */

import { hmac } from '@noble/hashes/hmac.js';
import { sha1 } from '@noble/hashes/legacy.js';
import { randomBytes } from '@noble/hashes/utils.js';
import { atomicWriteFile, readDatabaseFile } from '#platform/files';
import { matchPatternList } from './cidr.js';
import {
  blobFingerprint,
  decodeKeyField,
  ED25519_KEY_TYPE,
  ed25519Blob,
  splitFields,
} from './openssh/public-key.js';
import { bytesEqual, decodeBase64, encodeBase64 } from './openssh/wire.js';

/** One key line of a known_hosts database. */
export interface KnownHostsEntry {
  /** 1-based line number in the file text. */
  line: number;
  /** `'revoked'`, `'cert-authority'` (kept, not used), or undefined for a plain line. */
  marker?: string;
  /** The host pattern field as written: patterns, `[host]:port`, or `|1|salt|hmac`. */
  hosts: string;
  /** True for a hashed (`|1|…`) host field. */
  hashed: boolean;
  /** Key type, e.g. `ssh-ed25519`. */
  keyType: string;
  /** The Ed25519 key, for `ssh-ed25519` lines. */
  publicKey?: Uint8Array;
  /** `SHA256:` fingerprint of the key blob, when it decodes. */
  fingerprint?: string;
  /** The comment after the key. */
  comment: string;
  /** Why the line can never match, when it cannot. */
  error?: string;
}

/** Result of {@link KnownHosts.check}. */
export interface KnownHostsCheck {
  /**
   * `match`: a line lists this key for the host. `revoked`: an `@revoked` line lists this
   * key (wins over a match). `mismatch`: the host is known with other Ed25519 keys only.
   * `unknown`: no Ed25519 key is listed for the host.
   */
  status: 'match' | 'unknown' | 'mismatch' | 'revoked';
  /** The deciding line, for every status but `unknown`. */
  line?: number;
}

/** Options for {@link KnownHosts.add}. */
export interface KnownHostsAddOptions {
  /** Write the host name hashed (`|1|salt|hmac`), as `HashKnownHosts yes`. */
  hash?: boolean;
  /** Comment after the key. */
  comment?: string;
}

interface Line {
  raw: string;
  entry?: Omit<KnownHostsEntry, 'line'> & { keyText?: string; hashedName?: HashedName };
}

type Sha1 = ReturnType<typeof sha1.create>;

/**
 * A `|1|salt|hmac` host name. Every lookup computes one HMAC per hashed line, so the
 * HMAC key pads are hashed once, on first use, and cloned per lookup (about 4x faster
 * than a fresh HMAC each time).
 */
class HashedName {
  readonly #salt: Uint8Array;
  readonly #mac: Uint8Array;
  #inner: Sha1 | undefined;
  #outer: Sha1 | undefined;

  constructor(salt: Uint8Array, mac: Uint8Array) {
    this.#salt = salt;
    this.#mac = mac;
  }

  matches(name: Uint8Array): boolean {
    if (this.#inner === undefined || this.#outer === undefined) {
      // RFC 2104 with a key (the 20-byte salt) shorter than SHA-1's 64-byte block.
      const pad = new Uint8Array(64);
      pad.set(this.#salt);
      this.#inner = sha1.create().update(pad.map((b) => b ^ 0x36));
      this.#outer = sha1.create().update(pad.map((b) => b ^ 0x5c));
    }
    const innerDigest = this.#inner.clone().update(name).digest();
    return bytesEqual(this.#outer.clone().update(innerDigest).digest(), this.#mac);
  }
}

const HASH_MAGIC = '|1|';
const MARKERS = new Set(['@revoked', '@cert-authority']);

/** The name OpenSSH looks up: `host`, or `[host]:port` when the port is not 22. */
export function knownHostsName(host: string, port: number): string {
  if (typeof host !== 'string' || host === '' || /[\s,]/.test(host)) {
    throw new TypeError('host must be a non-empty name without spaces or commas');
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError('port must be an integer from 1 to 65535');
  }
  const lower = host.toLowerCase();
  return port === 22 ? lower : `[${lower}]:${port}`;
}

function hashName(name: string, salt: Uint8Array): Uint8Array {
  return hmac(sha1, salt, new TextEncoder().encode(name));
}

function hashedField(name: string): string {
  const salt = randomBytes(20);
  return `${HASH_MAGIC}${encodeBase64(salt)}|${encodeBase64(hashName(name, salt))}`;
}

function parseLine(raw: string): Line {
  const text = raw.trim();
  if (text === '' || text.startsWith('#')) return { raw };
  const base = { hosts: '', hashed: false, keyType: '', comment: '' };
  let marker: string | undefined;
  let fields = splitFields(text, 3);
  if (text.startsWith('@')) {
    const withMarker = splitFields(text, 4);
    marker = withMarker?.[0]?.slice(1);
    if (withMarker === undefined || !MARKERS.has(withMarker[0] ?? '')) {
      return { raw, entry: { ...base, marker, error: 'unknown marker or missing fields' } };
    }
    fields = withMarker.slice(1);
  }
  if (fields === undefined) return { raw, entry: { ...base, error: 'missing fields' } };
  const [hosts = '', keyType = '', base64 = '', comment = ''] = fields;
  const entry: Line['entry'] = { hosts, hashed: hosts.startsWith(HASH_MAGIC), keyType, comment };
  if (marker !== undefined) entry.marker = marker;
  entry.keyText = text.slice(text.indexOf(keyType, text.indexOf(hosts) + hosts.length));
  if (entry.hashed) {
    const parts = hosts.slice(HASH_MAGIC.length).split('|');
    const salt = decodeBase64(parts[0] ?? '');
    const mac = decodeBase64(parts[1] ?? '');
    if (parts.length !== 2 || salt?.length !== 20 || mac?.length !== 20) {
      entry.error = 'malformed hashed host name';
    } else {
      entry.hashedName = new HashedName(salt, mac);
    }
  }
  const decoded = decodeKeyField(keyType, base64);
  if ('error' in decoded) {
    entry.error ??= decoded.error;
  } else {
    entry.fingerprint = blobFingerprint(decoded.blob);
    if (decoded.key !== undefined) entry.publicKey = decoded.key;
  }
  return { raw, entry };
}

/** A looked-up name, with its UTF-8 bytes encoded once for all hashed lines. */
interface Lookup {
  name: string;
  bytes: Uint8Array;
}

function lookup(host: string, port: number): Lookup {
  const name = knownHostsName(host, port);
  return { name, bytes: new TextEncoder().encode(name) };
}

function hostMatches(entry: NonNullable<Line['entry']>, name: Lookup): boolean {
  if (entry.error !== undefined) return false;
  if (!entry.hashed) return matchPatternList(name.name, entry.hosts) === 1;
  return entry.hashedName?.matches(name.bytes) === true;
}

function toEntry(line: Line, index: number): KnownHostsEntry {
  const { keyText: _keyText, hashedName: _hashedName, ...entry } = line.entry!;
  const out: KnownHostsEntry = { line: index + 1, ...entry };
  if (entry.publicKey !== undefined) out.publicKey = new Uint8Array(entry.publicKey);
  return out;
}

/**
 * A known_hosts database. Load one with {@link KnownHosts.load}; check a server's key
 * with {@link KnownHosts.check}.
 * @example
 * const hosts = await KnownHosts.load(`${homedir()}/.keyway/known_hosts`);
 * hosts.check('db.example.com', 18861, serverKey).status; // 'match' | 'unknown' | …
 */
export class KnownHosts {
  #lines: Line[] = [];
  #path: string | undefined;

  /**
   * Reads a known_hosts file; a missing file is an empty database.
   * @throws {FilePermissionError} when group or others may write the file or its directory.
   */
  static async load(path: string): Promise<KnownHosts> {
    if (typeof path !== 'string') throw new TypeError('path must be a string');
    const file = await readDatabaseFile(path);
    const db = KnownHosts.parse(file?.text ?? '');
    db.#path = path;
    return db;
  }

  /** Parses known_hosts text. Never throws for content: unusable lines are kept, inert. */
  static parse(text: string): KnownHosts {
    if (typeof text !== 'string') throw new TypeError('text must be a string');
    const db = new KnownHosts();
    const raws = text.split(/\r?\n/);
    if (raws.length > 0 && raws[raws.length - 1] === '') raws.pop();
    db.#lines = raws.map(parseLine);
    return db;
  }

  /** The file this database was loaded from, if any. */
  get path(): string | undefined {
    return this.#path;
  }

  /**
   * Checks a server's Ed25519 key for `host` at `port`.
   * @returns the status and the deciding line.
   */
  check(host: string, port: number, publicKey: Uint8Array): KnownHostsCheck {
    if (!(publicKey instanceof Uint8Array)) throw new TypeError('publicKey must be a Uint8Array');
    const name = lookup(host, port);
    let match: number | undefined;
    let mismatch: number | undefined;
    for (const [index, line] of this.#lines.entries()) {
      const entry = line.entry;
      if (entry?.publicKey === undefined || !hostMatches(entry, name)) continue;
      const same = bytesEqual(entry.publicKey, publicKey);
      if (entry.marker === 'revoked') {
        if (same) return { status: 'revoked', line: index + 1 };
      } else if (entry.marker === undefined) {
        if (same) match ??= index + 1;
        else mismatch ??= index + 1;
      }
    }
    if (match !== undefined) return { status: 'match', line: match };
    if (mismatch !== undefined) return { status: 'mismatch', line: mismatch };
    return { status: 'unknown' };
  }

  /** Every key line that applies to `host` at `port` (any key type, markers included). */
  find(host: string, port: number): KnownHostsEntry[] {
    const name = lookup(host, port);
    const out: KnownHostsEntry[] = [];
    this.#lines.forEach((line, index) => {
      if (line.entry !== undefined && hostMatches(line.entry, name)) out.push(toEntry(line, index));
    });
    return out;
  }

  /**
   * Records `publicKey` for `host` at `port` (nothing is added if that line exists).
   * @returns the line number of the new or existing entry.
   */
  add(
    host: string,
    port: number,
    publicKey: Uint8Array,
    options: KnownHostsAddOptions = {},
  ): number {
    const name = knownHostsName(host, port);
    const blob = ed25519Blob(publicKey);
    if (
      /[*?!]/.test(name) ||
      name.startsWith('|') ||
      name.startsWith('@') ||
      name.startsWith('#')
    ) {
      throw new TypeError('host must be a name, not a pattern');
    }
    const comment = options.comment ?? '';
    if (typeof comment !== 'string' || /[\r\n]/.test(comment)) {
      throw new TypeError('comment must be a single-line string');
    }
    const existing = this.check(host, port, publicKey);
    if (existing.status === 'match' && existing.line !== undefined) return existing.line;
    const hosts = options.hash === true ? hashedField(name) : name;
    const keyText = `${ED25519_KEY_TYPE} ${encodeBase64(blob)}${comment === '' ? '' : ` ${comment}`}`;
    this.#lines.push(parseLine(`${hosts} ${keyText}`));
    return this.#lines.length;
  }

  /**
   * Removes the plain (unmarked) lines that apply to `host` at `port`, as
   * `ssh-keygen -R`; `@revoked` and `@cert-authority` lines stay.
   * @returns how many lines were removed.
   */
  remove(host: string, port: number): number {
    const name = lookup(host, port);
    const before = this.#lines.length;
    this.#lines = this.#lines.filter(
      (line) =>
        line.entry === undefined ||
        line.entry.marker !== undefined ||
        !hostMatches(line.entry, name),
    );
    return before - this.#lines.length;
  }

  /**
   * Hashes every plain host name, as `ssh-keygen -H`: a line naming several hosts becomes
   * one hashed line per host. Lines with wildcards or negations, marker lines and unusable
   * lines stay as they are (a hash cannot express a pattern).
   */
  hash(): void {
    const out: Line[] = [];
    for (const line of this.#lines) {
      const entry = line.entry;
      const names = entry?.hosts.split(',') ?? [];
      if (
        entry === undefined ||
        entry.error !== undefined ||
        entry.hashed ||
        entry.marker !== undefined ||
        entry.keyText === undefined ||
        names.some((name) => name === '' || /[*?!]/.test(name))
      ) {
        out.push(line);
        continue;
      }
      for (const name of names)
        out.push(parseLine(`${hashedField(name.toLowerCase())} ${entry.keyText}`));
    }
    this.#lines = out;
  }

  /** Every key line, usable or not (an unusable one carries `error`). */
  list(): KnownHostsEntry[] {
    const out: KnownHostsEntry[] = [];
    this.#lines.forEach((line, index) => {
      if (line.entry !== undefined) out.push(toEntry(line, index));
    });
    return out;
  }

  /** The file text: unchanged lines byte-for-byte, a newline after each line. */
  toString(): string {
    return this.#lines.map((line) => `${line.raw}\n`).join('');
  }

  /**
   * Writes the database atomically (temp file + rename), keeping the file's mode and
   * the previous contents as `<path>.old`. A new file gets mode 0600.
   * @param path - where to write; default the path it was loaded from.
   */
  async save(path?: string): Promise<void> {
    const target = path ?? this.#path;
    if (target === undefined)
      throw new TypeError('save needs a path for a database not loaded from a file');
    await atomicWriteFile(target, this.toString());
    this.#path ??= target;
  }
}
