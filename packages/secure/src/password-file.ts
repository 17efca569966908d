/**
 * `PasswordFile`: keyway's password database for `passwordAuth` (docs/security.md
 * "Authentication"). It stores OPAQUE-3DH registration records (RFC 9807 §5.1), never a
 * password or a hash of one: a record is the client's public key, a masking key and an
 * envelope MAC, all derived from the password through the server's OPRF key, which is
 * *not* in this file (keyway derives it from the host identity, see `deriveServerSetup`),
 * so a stolen file alone does not even allow offline guessing.
 *
 * Text format, one record per line, like OpenSSH's databases:
 *
 *     # comments and blank lines are ignored
 *     @server-key <base64url OPAQUE server public key the records were made with>
 *     <user> <ksf, e.g. scrypt:N=65536,r=8,p=1> <created, ISO 8601 UTC> <base64url record>
 *
 * Like sshd's StrictModes, a file writable by group or others, owned by someone other
 * than the current user or root, or below a directory others could change, is refused
 * (`readDatabaseFile` checks the open descriptor, so the file checked is the file read).
 * Saves are atomic (temporary file in the same directory, fsync, rename) with mode 0600.
 * A file loaded from disk is re-read when it changes there (`keyway passwd add` takes
 * effect on a running server), as `AuthorizedKeys` does.
 */
import { randomBytes } from 'node:crypto';
import type { Stats } from 'node:fs';
import { open, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { KeyFormatError, SecureError } from './errors.js';
import { readDatabaseFile } from './file-safety.js';
import { OpaqueClientRegistration } from './opaque/client.js';
import {
  checkKsfParams,
  DEFAULT_KSF_PARAMS,
  formatKsfParams,
  type KsfOptions,
  type KsfParams,
  parseKsfParams,
} from './opaque/ksf.js';
import {
  deserializeRegistrationRecord,
  type RegistrationRecord,
  serializeRegistrationRecord,
} from './opaque/messages.js';
import type { OpaqueServer } from './opaque/server.js';
import { checkElement, ctEqual } from './opaque/suite.js';

/** A password file operation was refused (wrong server key, no path to save to). */
export class PasswordFileError extends SecureError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_PASSWORD_FILE', message, options);
  }
}

/** One user's entry: everything the server needs to run OPAQUE for that user. */
export interface PasswordEntry {
  /** User name (the OPAQUE credential identifier, UTF-8). */
  readonly user: string;
  /** The OPAQUE registration record. */
  readonly record: RegistrationRecord;
  /** Parameters of the client's key stretching function for this record. */
  readonly ksf: KsfParams;
  /** When the record was registered. */
  readonly created: Date;
}

/** Options of {@link PasswordFile.register}. */
export interface RegisterOptions {
  /** KSF parameters for the new record; default {@link DEFAULT_KSF_PARAMS}. */
  ksf?: KsfParams;
  /** KSF provider options (scrypt implementation). */
  ksfOptions?: KsfOptions;
  /** Creation time to record; default now. */
  now?: Date;
}

const HEADER = [
  '# keyway password file: OPAQUE-3DH (RFC 9807, ristretto255-SHA512) registration records.',
  '# No passwords or password hashes are stored here. Edit with `keyway passwd`.',
];
const SERVER_KEY_TAG = '@server-key';
/** Longest accepted user name in UTF-8 bytes. */
export const MAX_USER_BYTES = 255;
const MAX_FILE_BYTES = 64 * 1024 * 1024;
const encoder = new TextEncoder();

/**
 * Checks a user name: 1..255 UTF-8 bytes, in Unicode NFC, no whitespace, control or
 * format characters, not starting with `#` or `@` (which the file format reserves).
 * @throws TypeError or RangeError naming the problem.
 */
export function checkUserName(user: string): string {
  if (typeof user !== 'string') throw new TypeError('user must be a string');
  const bytes = encoder.encode(user).length;
  if (bytes === 0 || bytes > MAX_USER_BYTES) {
    throw new RangeError(`user must be 1..${MAX_USER_BYTES} UTF-8 bytes`);
  }
  // Invisible format characters (bidi overrides, zero-width joiners) would let two names
  // look alike in `keyway passwd list`; NFC is required so a name has one byte form.
  if (
    /[\s\p{Cc}\p{Cf}]/u.test(user) ||
    user.startsWith('#') ||
    user.startsWith('@') ||
    user.normalize('NFC') !== user
  ) {
    throw new RangeError(
      'user must be NFC, without whitespace, control or format characters, not starting with # or @',
    );
  }
  return user;
}

/** Records must use a real KSF; Identity exists for the RFC's test vectors only. */
function realKsf(params: KsfParams): KsfParams {
  if (params.algorithm === 'identity') {
    throw new RangeError('the identity KSF is for test vectors only, not for stored records');
  }
  return params;
}

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');
const B64URL = /^[A-Za-z0-9_-]+$/;

function unb64(text: string, what: string, line: number): Uint8Array {
  if (!B64URL.test(text)) throw new KeyFormatError(`line ${line}: ${what} is not base64url`);
  return new Uint8Array(Buffer.from(text, 'base64url'));
}

/** Makes a rename durable; some file systems refuse fsync on directories, which is fine. */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r').catch(() => undefined);
  if (!handle) return;
  try {
    await handle.sync();
  } catch {
    // not supported here; the rename itself is still atomic
  } finally {
    await handle.close();
  }
}

/**
 * The password database. Holds entries in insertion order; edits are in memory until
 * `save()`.
 * @example
 * const passwords = await PasswordFile.load('/etc/keyway/passwords');
 * await passwords.register(server, 'alice', 'correct horse battery staple');
 * await passwords.save();
 */
export class PasswordFile {
  #entries = new Map<string, PasswordEntry>();
  #serverPublicKey: Uint8Array | undefined;
  #path: string | undefined;
  /** How many records use each parameter set (by text form): the draw for unknown users. */
  #ksfCounts = new Map<string, { params: KsfParams; n: number }>();
  /** Cumulative counts in text order, rebuilt on the first draw after a change. */
  #ksfTable: { params: KsfParams; upTo: number }[] | undefined;
  /** The file's identity when last read or written; undefined if never on disk. */
  #stamp: string | undefined;
  /** Edited in memory since the last load or save: a change on disk must not drop them. */
  #dirty = false;
  #refreshing: Promise<void> | undefined;

  /** An empty database, optionally bound to the path `save()` writes by default. */
  constructor(path?: string) {
    this.#path = path;
  }

  /**
   * Loads a password file. A missing file is an empty database (re-read once it appears).
   * @throws FilePermissionError if the file is writable by group or others, owned by another
   *   user (not root), not a regular file, or below a directory that group or others may
   *   write (without the sticky bit) or that someone other than you or root owns.
   * @throws KeyFormatError on any malformed line (with its line number).
   */
  static async load(path: string): Promise<PasswordFile> {
    if (typeof path !== 'string' || path === '')
      throw new TypeError('path must be a non-empty string');
    const file = new PasswordFile(path);
    await file.#reload();
    return file;
  }

  static #stampOf(stats: Stats | undefined): string {
    return stats === undefined
      ? 'missing'
      : `${stats.ino}:${stats.size}:${stats.mtimeMs}:${stats.ctimeMs}`;
  }

  async #reload(): Promise<void> {
    const path = this.#path!;
    const read = await readDatabaseFile(path, { maxBytes: MAX_FILE_BYTES });
    const fresh = PasswordFile.parse(read?.text ?? '');
    // Edited here while the file was read: those edits win until they are saved.
    if (this.#dirty) return;
    this.#entries = fresh.#entries;
    this.#ksfCounts = fresh.#ksfCounts;
    this.#ksfTable = undefined;
    this.#serverPublicKey = fresh.#serverPublicKey;
    this.#stamp = PasswordFile.#stampOf(read?.stats);
  }

  /**
   * Re-reads the file if it changed on disk since it was loaded or saved, unless there
   * are unsaved edits here. `passwordAuth` calls it before each login, so that
   * `keyway passwd add` and `remove` take effect on a running server. A database that was
   * never loaded from a path has nothing to re-read.
   * @throws FilePermissionError or KeyFormatError when the changed file is refused; the
   *   records held so far are kept, and the next call tries again.
   */
  async refresh(): Promise<void> {
    if (this.#stamp === undefined || this.#dirty) return;
    this.#refreshing ??= this.#refreshNow().finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  async #refreshNow(): Promise<void> {
    let stats: Stats | undefined;
    try {
      stats = await stat(this.#path!);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    if (PasswordFile.#stampOf(stats) !== this.#stamp) await this.#reload();
  }

  /**
   * Parses the text form.
   * @throws KeyFormatError on any malformed line.
   */
  static parse(text: string): PasswordFile {
    if (typeof text !== 'string') throw new TypeError('text must be a string');
    const file = new PasswordFile();
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const n = i + 1;
      const line = lines[i]!.replace(/\r$/, '');
      if (line.trim() === '' || line.startsWith('#')) continue;
      const fields = line.split(' ');
      if (fields[0] === SERVER_KEY_TAG) {
        if (fields.length !== 2 || file.#serverPublicKey !== undefined) {
          throw new KeyFormatError(`line ${n}: malformed or repeated ${SERVER_KEY_TAG}`);
        }
        const key = unb64(fields[1]!, 'server key', n);
        try {
          file.#serverPublicKey = checkElement(key, 'server key');
        } catch (cause) {
          throw new KeyFormatError(`line ${n}: invalid server key`, { cause });
        }
        continue;
      }
      if (fields.length !== 4) throw new KeyFormatError(`line ${n}: expected 4 fields`);
      const [user, ksfText, createdText, recordText] = fields as [string, string, string, string];
      try {
        checkUserName(user);
      } catch (cause) {
        throw new KeyFormatError(`line ${n}: invalid user name`, { cause });
      }
      if (file.#entries.has(user)) throw new KeyFormatError(`line ${n}: duplicate user`);
      let ksf: KsfParams;
      let record: RegistrationRecord;
      try {
        ksf = realKsf(parseKsfParams(ksfText));
        record = deserializeRegistrationRecord(unb64(recordText, 'record', n));
      } catch (cause) {
        throw new KeyFormatError(`line ${n}: invalid KSF parameters or record`, { cause });
      }
      const created = new Date(createdText);
      if (!/^\d{4}-\d\d-\d\dT[\d:.]+Z$/.test(createdText) || Number.isNaN(created.getTime())) {
        throw new KeyFormatError(`line ${n}: invalid creation time`);
      }
      file.#put(Object.freeze({ user, record, ksf, created }));
    }
    return file;
  }

  /** The path `save()` writes when called without one. */
  get path(): string | undefined {
    return this.#path;
  }

  /** The OPAQUE server public key the records were registered against, if known. */
  get serverPublicKey(): Uint8Array | undefined {
    return this.#serverPublicKey?.slice();
  }

  /** Number of users. */
  get size(): number {
    return this.#entries.size;
  }

  /** The entry for `user`, or `undefined` (then run OPAQUE with a fake record). */
  get(user: string): PasswordEntry | undefined {
    return this.#entries.get(user);
  }

  /** Whether `user` has a record. */
  has(user: string): boolean {
    return this.#entries.has(user);
  }

  /** All entries, in insertion order. */
  list(): PasswordEntry[] {
    return [...this.#entries.values()];
  }

  /**
   * Adds or replaces `user`'s record.
   * @param ksf - the KSF parameters the record was made with.
   * @param options.created - creation time, default now.
   * @param options.serverPublicKey - the server key the record was made with; checked
   *   against (or recorded as) the file's `@server-key`.
   * @throws PasswordFileError if `serverPublicKey` differs from the file's.
   */
  add(
    user: string,
    record: RegistrationRecord,
    ksf: KsfParams,
    options: { created?: Date; serverPublicKey?: Uint8Array } = {},
  ): PasswordEntry {
    checkUserName(user);
    // Round-trip through the codec: refuses records with bad sizes or invalid elements.
    const checked = deserializeRegistrationRecord(serializeRegistrationRecord(record));
    const params = realKsf(parseKsfParams(formatKsfParams(ksf)));
    if (options.serverPublicKey !== undefined) this.#bindServerKey(options.serverPublicKey);
    const created = options.created ?? new Date();
    if (!(created instanceof Date) || Number.isNaN(created.getTime())) {
      throw new TypeError('created must be a valid Date');
    }
    const entry = Object.freeze({ user, record: checked, ksf: params, created: new Date(created) });
    this.#put(entry);
    this.#dirty = true;
    return entry;
  }

  /**
   * Registers `user` with `password` locally: runs the OPAQUE registration client and
   * server in this process (what `keyway passwd add` does) and stores the record. The
   * password is used only in memory and never stored.
   * @throws PasswordFileError if the file's records were made with another server key.
   */
  async register(
    server: OpaqueServer,
    user: string,
    password: string | Uint8Array,
    options: RegisterOptions = {},
  ): Promise<PasswordEntry> {
    checkUserName(user);
    const ksf = realKsf(checkKsfParams(options.ksf ?? DEFAULT_KSF_PARAMS));
    this.#bindServerKey(server.publicKey, true);
    const { request, registration } = OpaqueClientRegistration.start(password);
    const response = server.createRegistrationResponse(request, user);
    const { record, exportKey } = await registration.finish(response, {
      ksf,
      ...(options.ksfOptions ? { ksfOptions: options.ksfOptions } : {}),
    });
    exportKey.fill(0);
    return this.add(user, record, ksf, {
      serverPublicKey: server.publicKey,
      ...(options.now ? { created: options.now } : {}),
    });
  }

  #bindServerKey(key: Uint8Array, dryRun = false): void {
    if (this.#serverPublicKey === undefined) {
      if (!dryRun) {
        this.#serverPublicKey = checkElement(key.slice(), 'server key');
        this.#dirty = true;
      }
      return;
    }
    if (!ctEqual(this.#serverPublicKey, key)) {
      throw new PasswordFileError(
        'the password file was made for a different server key (host identity changed?)',
      );
    }
  }

  #put(entry: PasswordEntry): void {
    const old = this.#entries.get(entry.user);
    if (old) this.#countKsf(old.ksf, -1);
    this.#entries.set(entry.user, entry);
    this.#countKsf(entry.ksf, 1);
  }

  #countKsf(params: KsfParams, delta: number): void {
    const key = formatKsfParams(params);
    const c = this.#ksfCounts.get(key) ?? { params, n: 0 };
    c.n += delta;
    if (c.n > 0) this.#ksfCounts.set(key, c);
    else this.#ksfCounts.delete(key);
    this.#ksfTable = undefined;
  }

  /**
   * KSF parameters to announce for a user name that has no record, drawn like a real
   * user's: a keyed hash of the name picks a point among the records, so each parameter
   * set is announced for the share of unknown names that it has among the records, and the
   * same name gets the same parameters on every probe. The hash key must be secret (a
   * prober who knew it could tell which names get drawn parameters). The work does not
   * depend on the number of records: the distribution is kept up to date by every change.
   * An empty database announces {@link DEFAULT_KSF_PARAMS}.
   * @param user - the name asked for
   * @param key - a secret of at least 16 bytes (`passwordAuth` derives one from the host key)
   */
  fakeKsfParams(user: string, key: Uint8Array): KsfParams {
    if (typeof user !== 'string') throw new TypeError('user must be a string');
    if (!(key instanceof Uint8Array) || key.length < 16) {
      throw new TypeError('key must be a Uint8Array of at least 16 bytes');
    }
    this.#ksfTable ??= this.#buildKsfTable();
    const table = this.#ksfTable;
    const total = table.at(-1)?.upTo ?? 0;
    const digest = hmac(sha256, key, encoder.encode(user));
    // 48 bits of the digest as a point in [0, total): uniform enough for any file size.
    const point = (Buffer.from(digest).readUIntBE(0, 6) / 2 ** 48) * total;
    let lo = 0;
    let hi = table.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (point < table[mid]!.upTo) hi = mid;
      else lo = mid + 1;
    }
    return table[lo]?.params ?? DEFAULT_KSF_PARAMS;
  }

  #buildKsfTable(): { params: KsfParams; upTo: number }[] {
    // Text order, so that a name's draw moves only when the shares themselves move.
    const keys = [...this.#ksfCounts.keys()].sort();
    let upTo = 0;
    return keys.map((k) => {
      const c = this.#ksfCounts.get(k)!;
      upTo += c.n;
      return { params: c.params, upTo };
    });
  }

  /** Removes `user`; returns whether there was such a user. */
  remove(user: string): boolean {
    const old = this.#entries.get(user);
    if (!old) return false;
    this.#entries.delete(user);
    this.#countKsf(old.ksf, -1);
    this.#dirty = true;
    return true;
  }

  /** The text form written by `save()`. */
  toString(): string {
    const out = [...HEADER];
    if (this.#serverPublicKey) out.push(`${SERVER_KEY_TAG} ${b64(this.#serverPublicKey)}`);
    for (const e of this.#entries.values()) {
      out.push(
        [
          e.user,
          formatKsfParams(e.ksf),
          e.created.toISOString(),
          b64(serializeRegistrationRecord(e.record)),
        ].join(' '),
      );
    }
    return `${out.join('\n')}\n`;
  }

  /**
   * Writes the file atomically with mode 0600: a temporary file beside it, fsync, rename.
   * @param path - destination; default the path it was loaded from or constructed with.
   * @throws PasswordFileError if there is no path.
   */
  async save(path?: string): Promise<void> {
    const target = path ?? this.#path;
    if (target === undefined) throw new PasswordFileError('no path to save the password file to');
    const tmp = join(dirname(target), `.${basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
    const handle = await open(tmp, 'wx', 0o600);
    try {
      await handle.writeFile(this.toString(), 'utf8');
      // The mode given to open() is masked by umask; set it explicitly.
      await handle.chmod(0o600);
      await handle.sync();
      await handle.close();
      await rename(tmp, target);
      await syncDirectory(dirname(target));
    } catch (cause) {
      await handle.close().catch(() => {});
      await unlink(tmp).catch(() => {});
      throw cause;
    }
    this.#path = target;
    this.#stamp = PasswordFile.#stampOf(await stat(target));
    this.#dirty = false;
  }

  /** Shows counts only. */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `PasswordFile { users: ${this.#entries.size} }`;
  }
}
