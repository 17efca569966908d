/**
 * Reading keys the way ssh-keygen does (docs/design.md §4, "Identities are OpenSSH Ed25519
 * keys"): a private key file (asking for its passphrase when it is encrypted), a `.pub`
 * file, a key line given on the command line, or a database file with one key per line.
 * Ed25519 keys go through `keyway`'s own parser; other SSH key types are only
 * fingerprinted, so `keyway fingerprint` lists a mixed authorized_keys file like ssh-keygen.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Identity, loadIdentity, type ParsedPublicKey, parsePublicKey } from 'keyway-rpc';
import { CliError } from './command.js';
import { readHidden, stdinIsTerminal } from './prompt.js';

/** The first line of an openssh-key-v1 private key file. */
export const PRIVATE_KEY_BEGIN = '-----BEGIN OPENSSH PRIVATE KEY-----';

/** Whether a command-line argument is a key line rather than a file name. */
export function isKeyLine(text: string): boolean {
  return /^(ssh|ecdsa|sk)-\S+\s+AAAA/.test(text.trim());
}

function needsPassphrase(error: unknown): boolean {
  return (
    error instanceof Error &&
    (error as { code?: unknown }).code === 'ERR_KEY_FORMAT' &&
    /passphrase is required/.test(error.message)
  );
}

/** The environment variable an encrypted key's passphrase may come from. */
export const PASSPHRASE_VARIABLE = 'KEYWAY_PASSPHRASE';

/**
 * Reads a private key. When it is encrypted and no passphrase was given, the passphrase
 * comes from `$KEYWAY_PASSPHRASE`, else is asked for on the terminal.
 * @param source - a path, or `{ text, label }` for a key read from standard input.
 * @param passphrase - from `-P`, if given.
 * @returns the identity, whether the key file was encrypted, and the passphrase that
 * opened it (for a caller that must open the file again elsewhere, as pool workers do).
 * @throws {CliError} when the key is encrypted, no passphrase was given and there is no
 * terminal to ask on; the secure layer's errors for bad files, modes or passphrases.
 */
export async function readPrivateKey(
  source: string | { text: string; label: string },
  passphrase: string | undefined,
): Promise<{ identity: Identity; encrypted: boolean; passphrase?: string }> {
  const label = typeof source === 'string' ? source : source.label;
  const load = (options: { passphrase?: string }): Promise<Identity> =>
    typeof source === 'string'
      ? loadIdentity(source, options)
      : Promise.resolve().then(() => Identity.fromOpenSSH(source.text, options));
  if (passphrase !== undefined) {
    // An empty -P means "no passphrase", as with ssh-keygen.
    const identity = await load(passphrase === '' ? {} : { passphrase });
    return passphrase === ''
      ? { identity, encrypted: false }
      : { identity, encrypted: true, passphrase };
  }
  try {
    return { identity: await load({}), encrypted: false };
  } catch (error) {
    if (!needsPassphrase(error)) throw error;
    const fromEnvironment = process.env[PASSPHRASE_VARIABLE];
    if (fromEnvironment !== undefined && fromEnvironment !== '') {
      return {
        identity: await load({ passphrase: fromEnvironment }),
        encrypted: true,
        passphrase: fromEnvironment,
      };
    }
    // Reading the key from stdin leaves no terminal to ask on.
    if (!stdinIsTerminal() || typeof source !== 'string') {
      throw new CliError(
        `${label}: the private key is encrypted\n  pass its passphrase with -P or $${PASSPHRASE_VARIABLE}, or run in a terminal to be asked`,
        { cause: error },
      );
    }
    const typed = await readHidden(`Enter passphrase for ${label}: `);
    return { identity: await load({ passphrase: typed }), encrypted: true, passphrase: typed };
  }
}

/** One key found in a file, with what `ssh-keygen -l` prints for it. */
export interface FoundKey {
  /** 1-based line number. */
  line: number;
  /** Key size in bits (256 for Ed25519). */
  bits: number;
  /** `SHA256:…`. */
  fingerprint: string;
  /** The comment ssh-keygen shows: the key's comment, else the field before the key. */
  comment: string;
  /** ssh-keygen's type label: `ED25519`, `RSA`, `ECDSA`, … */
  label: string;
  /** The parsed key, for `ssh-ed25519` lines. */
  ed25519?: ParsedPublicKey;
}

const TYPE_LABELS: Readonly<Record<string, { label: string; bits?: number }>> = {
  'ssh-ed25519': { label: 'ED25519', bits: 256 },
  'ssh-rsa': { label: 'RSA' },
  'ssh-dss': { label: 'DSA' },
  'ecdsa-sha2-nistp256': { label: 'ECDSA', bits: 256 },
  'ecdsa-sha2-nistp384': { label: 'ECDSA', bits: 384 },
  'ecdsa-sha2-nistp521': { label: 'ECDSA', bits: 521 },
  'sk-ssh-ed25519@openssh.com': { label: 'ED25519-SK', bits: 256 },
  'sk-ecdsa-sha2-nistp256@openssh.com': { label: 'ECDSA-SK', bits: 256 },
};

/** Reads RFC 4251 `string`/`mpint` fields of a key blob; undefined when truncated. */
function blobFields(blob: Buffer, count: number): Buffer[] | undefined {
  const out: Buffer[] = [];
  let offset = 0;
  for (let i = 0; i < count; i++) {
    if (offset + 4 > blob.length) return undefined;
    const size = blob.readUInt32BE(offset);
    offset += 4;
    if (offset + size > blob.length) return undefined;
    out.push(blob.subarray(offset, offset + size));
    offset += size;
  }
  return out;
}

function bitLength(mpint: Buffer): number {
  let i = 0;
  while (i < mpint.length && mpint[i] === 0) i++;
  if (i === mpint.length) return 0;
  return (mpint.length - i - 1) * 8 + (32 - Math.clz32(mpint[i]!));
}

/** A key at the start of `text`: `type base64 [comment]`, or undefined. */
function keyAt(
  text: string,
): (Omit<FoundKey, 'line' | 'comment'> & { comment: string }) | undefined {
  const match = /^(\S+)[ \t]+([A-Za-z0-9+/]+={0,2})(?:[ \t]+(.*))?$/.exec(text);
  if (!match) return undefined;
  const [, type = '', base64 = '', rest = ''] = match;
  const known = TYPE_LABELS[type];
  if (known === undefined) return undefined;
  const comment = rest.trim();
  if (type === 'ssh-ed25519') {
    try {
      const parsed = parsePublicKey(`${type} ${base64}`);
      return {
        bits: 256,
        fingerprint: parsed.fingerprint,
        comment,
        label: known.label,
        ed25519: { ...parsed, comment },
      };
    } catch {
      return undefined;
    }
  }
  const blob = Buffer.from(base64, 'base64');
  const fields = blobFields(blob, type === 'ssh-rsa' ? 3 : type === 'ssh-dss' ? 2 : 1);
  if (fields === undefined || fields[0]?.toString('latin1') !== type) return undefined;
  let bits = known.bits ?? 0;
  if (type === 'ssh-rsa') bits = bitLength(fields[2]!);
  if (type === 'ssh-dss') bits = bitLength(fields[1]!);
  const digest = createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
  return { bits, fingerprint: `SHA256:${digest}`, comment, label: known.label };
}

/** The first blank-separated field of a line, honouring double quotes (options). */
function skipField(text: string): { field: string; rest: string } {
  let i = 0;
  let quoted = false;
  for (; i < text.length; i++) {
    const c = text[i];
    if (c === '\\' && quoted) i++;
    else if (c === '"') quoted = !quoted;
    else if (!quoted && (c === ' ' || c === '\t')) break;
  }
  return { field: text.slice(0, i), rest: text.slice(i).trim() };
}

/**
 * Every key in a `.pub`, authorized_keys or known_hosts text, as `ssh-keygen -l` lists
 * them: comment and blank lines, marker lines (`@revoked`, `@cert-authority`) and lines
 * without a readable key are skipped; a line's first field (options or host names) is
 * skipped when the line does not start with a key, and shown as the comment when the key
 * has none.
 */
export function scanKeyLines(text: string): FoundKey[] {
  const out: FoundKey[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith('@')) return;
    let found = keyAt(line);
    if (found === undefined) {
      const { field, rest } = skipField(line);
      found = keyAt(rest);
      if (found !== undefined && found.comment === '') found.comment = field;
    }
    if (found !== undefined) out.push({ line: index + 1, ...found });
  });
  return out;
}

/** `256 SHA256:… comment (ED25519)`, as `ssh-keygen -l` prints a key. */
export function fingerprintLine(key: {
  bits: number;
  fingerprint: string;
  comment: string;
  label: string;
}): string {
  return `${key.bits} ${key.fingerprint} ${key.comment === '' ? 'no comment' : key.comment} (${key.label})`;
}

/**
 * An Ed25519 public key named on the command line: a key line, a `.pub` file, or a
 * private key file (whose public half is used).
 * @throws {CliError} when the argument holds no Ed25519 key.
 */
export async function readEd25519PublicKey(
  arg: string,
  passphrase: string | undefined,
): Promise<ParsedPublicKey> {
  if (isKeyLine(arg)) return parsePublicKey(arg);
  const text = await readFile(arg, 'utf8');
  if (text.trimStart().startsWith(PRIVATE_KEY_BEGIN)) {
    const { identity } = await readPrivateKey(arg, passphrase);
    return parsePublicKey(identity.publicKeyLine());
  }
  const keys = scanKeyLines(text);
  const ed = keys.find((k) => k.ed25519 !== undefined)?.ed25519;
  if (ed === undefined) {
    throw new CliError(
      `${arg}: no ssh-ed25519 public key found\n  give a .pub file, a private key file or a key line 'ssh-ed25519 AAAA…'`,
    );
  }
  return ed;
}
