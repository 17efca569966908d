/**
 * `authorized_keys`: the server's database of client keys, in OpenSSH's line format
 * (sshd(8) "AUTHORIZED_KEYS FILE FORMAT"): `[options] keytype base64 [comment]`. Options
 * `from="…"`, `expiry-time="…"`, `restrict` and keyway's `keyway-services="…"` are
 * honoured; any option keyway cannot honour makes the line fail closed (it never
 * authorizes, and `list()` says why). `restrict` marks the login restricted
 * (`credentials.restricted` once `publicKeyAuth` admits it), which classic mode refuses.
 * The file is re-read when it changes on disk, so a revoked key stops working without a
 * restart — also while this object holds unsaved edits: they are kept as a list of
 * operations and replayed over the new file text, so a line deleted on disk stays deleted.
 * docs/security.md "authorized_keys".
 */
import { promises as fs, type Stats } from 'node:fs';
import { matchHostAndAddress } from './cidr.js';
import { KeyFormatError } from './errors.js';
import { atomicWriteFile, readDatabaseFile } from './file-safety.js';
import {
  type AuthorizedKeyOptions,
  type AuthorizedKeyOptionsInput,
  formatKeyOptions,
  parseKeyOptions,
  splitOptions,
} from './openssh/key-options.js';
import {
  blobFingerprint,
  decodeKeyField,
  ED25519_KEY_TYPE,
  ed25519PublicLine,
  parsePublicKey,
  splitFields,
} from './openssh/public-key.js';
import { bytesEqual } from './openssh/wire.js';

export type { AuthorizedKeyOptions, AuthorizedKeyOptionsInput };

/** One key line of an authorized_keys database. */
export interface AuthorizedKeysEntry {
  /** 1-based line number in the file text. */
  line: number;
  /** Key type, e.g. `ssh-ed25519`. */
  keyType: string;
  /** The Ed25519 key, for `ssh-ed25519` lines. */
  publicKey?: Uint8Array;
  /** `SHA256:` fingerprint of the key, when it decodes. */
  fingerprint?: string;
  /** The comment after the key. */
  comment: string;
  /** The options text as written ('' for none). */
  optionsText: string;
  /** The parsed options (defaults when the line has an error in them). */
  options: AuthorizedKeyOptions;
  /** Why this line can never authorize, when it cannot. */
  error?: string;
}

/** What {@link AuthorizedKeys.authorize} checks besides the key. */
export interface AuthorizeOptions {
  /** The peer's IP address; required by lines with `from="…"`. */
  remoteAddress?: string;
  /** The service asked for; required by lines with `keyway-services="…"`. */
  service?: string;
  /** The time to check `expiry-time` against; default now. */
  now?: Date;
}

/** A line that authorized a key. */
export interface AuthorizedKeyMatch {
  /** `SHA256:` fingerprint of the key. */
  fingerprint: string;
  /** The line's comment (often `user@host`). */
  comment: string;
  /** The line's options, for the caller to enforce further (`restrict`, services). */
  options: AuthorizedKeyOptions;
  /** 1-based line number. */
  line: number;
}

/** Options for {@link AuthorizedKeys.add}. */
export interface AuthorizedKeysAddOptions {
  /** Options text (`restrict,from="10.0.0.0/8"`) or structured options. */
  options?: string | AuthorizedKeyOptionsInput;
  /** Comment after the key; default the comment of the given `.pub` line. */
  comment?: string;
}

interface Line {
  raw: string;
  entry?: Omit<AuthorizedKeysEntry, 'line'>;
}

/** An unsaved edit, kept to be replayed over the file when it changes on disk. */
type Edit =
  | { readonly op: 'add'; readonly line: Line }
  | { readonly op: 'remove'; readonly key: Uint8Array | string };

function holdsKey(entry: Omit<AuthorizedKeysEntry, 'line'>, key: Uint8Array | string): boolean {
  return typeof key === 'string'
    ? entry.fingerprint === key
    : entry.publicKey !== undefined &&
        entry.keyType === ED25519_KEY_TYPE &&
        bytesEqual(entry.publicKey, key);
}

// Every key type OpenSSH can write at the start of a line; anything else starts options.
const KEY_TYPES = new Set([
  'ssh-ed25519',
  'ssh-rsa',
  'ssh-dss',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
]);

function isKeyType(word: string): boolean {
  return KEY_TYPES.has(word) || (word.endsWith('-cert-v01@openssh.com') && word.length < 64);
}

function parseLine(raw: string): Line {
  const text = raw.trim();
  if (text === '' || text.startsWith('#')) return { raw };
  const empty: Omit<AuthorizedKeysEntry, 'line'> = {
    keyType: '',
    comment: '',
    optionsText: '',
    options: { restrict: false, flags: [] },
  };
  let optionsText = '';
  let keyPart = text;
  const first = splitFields(text, 1)?.[0] ?? '';
  if (!isKeyType(first)) {
    const split = splitOptions(text);
    if (split === undefined)
      return { raw, entry: { ...empty, error: 'unterminated quote in options' } };
    optionsText = split.options;
    keyPart = split.rest.trim();
  }
  const fields = splitFields(keyPart, 2);
  if (fields === undefined) return { raw, entry: { ...empty, optionsText, error: 'missing key' } };
  const [keyType = '', base64 = '', comment = ''] = fields;
  const entry: Omit<AuthorizedKeysEntry, 'line'> = { ...empty, keyType, comment, optionsText };
  const parsed = parseKeyOptions(optionsText);
  if ('error' in parsed) entry.error = parsed.error;
  else entry.options = parsed.options;
  if (!isKeyType(keyType)) {
    entry.error ??= `unknown key type "${keyType.slice(0, 40)}"`;
    return { raw, entry };
  }
  const decoded = decodeKeyField(keyType, base64);
  if ('error' in decoded) {
    entry.error ??= decoded.error;
  } else {
    entry.fingerprint = blobFingerprint(decoded.blob);
    if (decoded.key !== undefined) entry.publicKey = decoded.key;
    else entry.error ??= `key type ${keyType} is not supported (keyway keys are ssh-ed25519)`;
  }
  return { raw, entry };
}

function cloneOptions(options: AuthorizedKeyOptions): AuthorizedKeyOptions {
  const out: AuthorizedKeyOptions = { restrict: options.restrict, flags: [...options.flags] };
  if (options.from !== undefined) out.from = options.from;
  if (options.expiryTime !== undefined) out.expiryTime = new Date(options.expiryTime);
  if (options.services !== undefined) out.services = [...options.services];
  return out;
}

function toEntry(line: Line, index: number): AuthorizedKeysEntry {
  const entry = line.entry!;
  const out: AuthorizedKeysEntry = {
    line: index + 1,
    ...entry,
    options: cloneOptions(entry.options),
  };
  if (entry.publicKey !== undefined) out.publicKey = new Uint8Array(entry.publicKey);
  return out;
}

/** Why a line with the right key still does not authorize, or undefined when it does. */
function refusal(
  entry: Omit<AuthorizedKeysEntry, 'line'>,
  check: AuthorizeOptions,
): string | undefined {
  if (entry.error !== undefined) return entry.error;
  const { options } = entry;
  const now = check.now ?? new Date();
  // sshd compares whole seconds and accepts up to and including the expiry instant.
  if (
    options.expiryTime !== undefined &&
    Math.floor(now.getTime() / 1000) > Math.floor(options.expiryTime.getTime() / 1000)
  ) {
    return 'key expired';
  }
  if (options.from !== undefined) {
    if (check.remoteAddress === undefined) return 'from= needs the remote address';
    if (matchHostAndAddress(check.remoteAddress, options.from) !== 1) {
      return `remote address ${check.remoteAddress} not allowed by from="${options.from}"`;
    }
  }
  if (options.services !== undefined) {
    if (check.service === undefined) return 'keyway-services= needs the service name';
    if (!options.services.includes(check.service)) return `service "${check.service}" not allowed`;
  }
  return undefined;
}

/**
 * An authorized_keys database. Load one with {@link AuthorizedKeys.load}; ask it about a
 * client's key with {@link AuthorizedKeys.authorize}.
 * @example
 * const keys = await AuthorizedKeys.load('authorized_keys');
 * const who = await keys.authorize(clientKey, { remoteAddress: '192.0.2.7', service: 'calc' });
 * if (who === undefined) throw new AuthenticationError('key not authorized');
 */
export class AuthorizedKeys {
  #lines: Line[] = [];
  #path: string | undefined;
  #stamp: string | undefined;
  /** Edits made since the last load or save, in order. */
  #edits: Edit[] = [];

  /**
   * Reads an authorized_keys file; a missing file is an empty database.
   * @throws {FilePermissionError} when group or others may write the file or its directory.
   */
  static async load(path: string): Promise<AuthorizedKeys> {
    if (typeof path !== 'string') throw new TypeError('path must be a string');
    const db = new AuthorizedKeys();
    db.#path = path;
    await db.#reload();
    return db;
  }

  /** Parses authorized_keys text. Never throws for content: unusable lines are kept, inert. */
  static parse(text: string): AuthorizedKeys {
    if (typeof text !== 'string') throw new TypeError('text must be a string');
    const db = new AuthorizedKeys();
    db.#setText(text);
    return db;
  }

  #setText(text: string): void {
    const raws = text.split(/\r?\n/);
    if (raws.length > 0 && raws[raws.length - 1] === '') raws.pop();
    this.#lines = raws.map(parseLine);
  }

  static #stampOf(stats: Stats | undefined): string {
    return stats === undefined
      ? 'missing'
      : `${stats.ino}:${stats.size}:${stats.mtimeMs}:${stats.ctimeMs}`;
  }

  /** Reads the file, then replays the unsaved edits over it. */
  async #reload(): Promise<void> {
    const file = await readDatabaseFile(this.#path!);
    this.#setText(file?.text ?? '');
    this.#stamp = AuthorizedKeys.#stampOf(file?.stats);
    for (const edit of this.#edits) {
      if (edit.op === 'add') this.#lines.push(edit.line);
      else this.#removeLines(edit.key);
    }
  }

  #removeLines(key: Uint8Array | string): number {
    const before = this.#lines.length;
    this.#lines = this.#lines.filter(
      (line) => line.entry === undefined || !holdsKey(line.entry, key),
    );
    return before - this.#lines.length;
  }

  /**
   * Re-reads the file when it changed on disk. Unsaved edits are replayed over the new
   * text, so what was deleted on disk (a revocation) is gone here too.
   */
  async #refresh(): Promise<void> {
    if (this.#path === undefined) return;
    let stats: Stats | undefined;
    try {
      stats = await fs.stat(this.#path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    if (AuthorizedKeys.#stampOf(stats) !== this.#stamp) await this.#reload();
  }

  /** The file this database was loaded from, if any. */
  get path(): string | undefined {
    return this.#path;
  }

  /**
   * Finds the first line that lets `publicKey` in, re-reading the file first when its
   * size, times or inode changed (unsaved edits are replayed over what it now says).
   * @returns the authorizing line, or undefined when no line does.
   * @throws {FilePermissionError} when the changed file became writable by others.
   */
  async authorize(
    publicKey: Uint8Array,
    check: AuthorizeOptions = {},
  ): Promise<AuthorizedKeyMatch | undefined> {
    return (await this.explain(publicKey, check)).match;
  }

  /**
   * Like {@link AuthorizedKeys.authorize}, with the reason each line holding this key
   * refused it, for local logs (never for the peer).
   */
  async explain(
    publicKey: Uint8Array,
    check: AuthorizeOptions = {},
  ): Promise<{ match?: AuthorizedKeyMatch; refusals: Array<{ line: number; reason: string }> }> {
    if (!(publicKey instanceof Uint8Array)) throw new TypeError('publicKey must be a Uint8Array');
    // An invalid Date compares false with everything and would never expire a key.
    if (
      check.now !== undefined &&
      (!(check.now instanceof Date) || Number.isNaN(check.now.getTime()))
    ) {
      throw new TypeError('now must be a valid Date');
    }
    await this.#refresh();
    const refusals: Array<{ line: number; reason: string }> = [];
    for (const [index, line] of this.#lines.entries()) {
      const entry = line.entry;
      if (entry?.publicKey === undefined || !bytesEqual(entry.publicKey, publicKey)) continue;
      const reason = refusal(entry, check);
      if (reason !== undefined) {
        refusals.push({ line: index + 1, reason });
        continue;
      }
      return {
        match: {
          fingerprint: entry.fingerprint!,
          comment: entry.comment,
          options: cloneOptions(entry.options),
          line: index + 1,
        },
        refusals,
      };
    }
    return { refusals };
  }

  /**
   * Appends a key line.
   * @param key - a `.pub` line (`ssh-ed25519 AAAA… comment`) or a 32-byte Ed25519 key.
   * @returns the new line's number.
   * @throws {KeyFormatError} on a bad key line or options keyway cannot honour.
   */
  add(key: string | Uint8Array, options: AuthorizedKeysAddOptions = {}): number {
    let publicKey: Uint8Array;
    let comment = options.comment;
    if (typeof key === 'string') {
      const parsed = parsePublicKey(key);
      publicKey = parsed.key;
      comment ??= parsed.comment;
    } else {
      publicKey = key;
    }
    if (comment !== undefined && (typeof comment !== 'string' || /[\r\n]/.test(comment))) {
      throw new TypeError('comment must be a single-line string');
    }
    const optionsText =
      options.options === undefined
        ? ''
        : typeof options.options === 'string'
          ? options.options
          : formatKeyOptions(options.options);
    if (/[\s]/.test(splitOptions(optionsText)?.rest ?? ' ')) {
      throw new KeyFormatError('options text has a blank outside quotes or an unterminated quote');
    }
    const keyText = ed25519PublicLine(publicKey, comment ?? '');
    const line = parseLine(optionsText === '' ? keyText : `${optionsText} ${keyText}`);
    if (line.entry?.error !== undefined) throw new KeyFormatError(line.entry.error);
    this.#lines.push(line);
    if (this.#path !== undefined) this.#edits.push({ op: 'add', line });
    return this.#lines.length;
  }

  /**
   * Removes every line holding a key.
   * @param key - a 32-byte Ed25519 key, or a `SHA256:` fingerprint (any key type).
   * @returns how many lines were removed.
   */
  remove(key: Uint8Array | string): number {
    if (typeof key !== 'string' && !(key instanceof Uint8Array)) {
      throw new TypeError('key must be a Uint8Array or a SHA256: fingerprint');
    }
    const removed = this.#removeLines(key);
    // Kept even when nothing matched now: the line may come back in a re-read of the file.
    if (this.#path !== undefined) {
      this.#edits.push({ op: 'remove', key: typeof key === 'string' ? key : new Uint8Array(key) });
    }
    return removed;
  }

  /** Every key line, usable or not (an unusable one carries `error`). */
  list(): AuthorizedKeysEntry[] {
    const out: AuthorizedKeysEntry[] = [];
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
   * the previous contents as `<path>.old`. A new file gets mode 0600. Saving to the file
   * it was loaded from first re-reads that file if it changed, so the edits are applied
   * to what it says now and a line deleted there meanwhile is not written back.
   * @param path - where to write; default the path it was loaded from.
   * @throws {FilePermissionError} when the changed file became writable by others.
   */
  async save(path?: string): Promise<void> {
    const target = path ?? this.#path;
    if (target === undefined)
      throw new TypeError('save needs a path for a database not loaded from a file');
    if (target === this.#path) await this.#refresh();
    await atomicWriteFile(target, this.toString());
    if (this.#path === undefined || target === this.#path) {
      this.#path = target;
      this.#stamp = AuthorizedKeys.#stampOf(await fs.stat(target));
      this.#edits = [];
    }
  }
}
