/**
 * `keyway keygen`: makes an Ed25519 identity in OpenSSH format, as `ssh-keygen -t
 * ed25519` does (docs/design.md §2 CLI; docs/security.md "Identities"): the private key
 * (mode 0600, optionally encrypted with bcrypt_pbkdf + aes256-ctr) and the `.pub` line
 * beside it.
 */
import { stat } from 'node:fs/promises';
import { hostname, userInfo } from 'node:os';
import { generateIdentity, type Identity } from 'keyway-rpc';
import { flagOption, parseOptions, stringOption } from '../args.js';
import { CliError, type Command, EXIT_OK } from '../command.js';
import { resolveFile } from '../paths.js';
import { readNewSecret, stdinIsTerminal } from '../prompt.js';
import { writeKeyFile } from '../write-file.js';

const USAGE = `usage: keyway keygen [-f file] [-C comment] [-N passphrase] [--force]

Makes an Ed25519 key pair in OpenSSH format: the private key (mode 0600) and file.pub.

options:
  -f, --file <file>          private key file (default ~/.keyway/id_ed25519)
  -C, --comment <comment>    comment stored with the key (default user@host)
  -N, --passphrase <text>    encrypt the private key ('' for none); asked for without
                             echo when omitted and stdin is a terminal
      --force                overwrite an existing key
  -h, --help                 show this help
`;

const OPTIONS = {
  file: { type: 'string', short: 'f' },
  comment: { type: 'string', short: 'C' },
  passphrase: { type: 'string', short: 'N' },
  force: { type: 'boolean' },
} as const;

/** Whether `path` exists (any other stat failure is thrown). */
export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/** `user@host`, ssh-keygen's default key comment. */
export function defaultComment(): string {
  try {
    return `${userInfo().username}@${hostname()}`;
  } catch {
    // No passwd entry for this uid (some containers): ssh-keygen falls back the same way.
    return hostname();
  }
}

/**
 * Makes a key pair and writes `path` (0600, encrypted when `passphrase` is not empty) and
 * `path.pub` (0644), each atomically.
 * @returns the new identity.
 */
export async function writeKeyPair(
  path: string,
  comment: string,
  passphrase: string | undefined,
): Promise<Identity> {
  const identity = generateIdentity(comment);
  const files = identity.toOpenSSH(
    passphrase === undefined || passphrase === '' ? {} : { passphrase },
  );
  await writeKeyFile(path, files.privateKey, 0o600);
  await writeKeyFile(`${path}.pub`, files.publicKey, 0o644);
  return identity;
}

/** The `keygen` command. */
export const keygenCommand: Command = {
  summary: 'make an Ed25519 key pair in OpenSSH format (like ssh-keygen -t ed25519)',
  usage: USAGE,
  async run(args, io) {
    const parsed = parseOptions(args, OPTIONS, [0, 0]);
    const path = await resolveFile(stringOption(parsed, 'file'), 'id_ed25519');
    const pubPath = `${path}.pub`;
    if (!flagOption(parsed, 'force')) {
      for (const target of [path, pubPath]) {
        if (await exists(target)) {
          throw new CliError(
            `${target} already exists\n  choose another file with -f, or pass --force to overwrite it`,
          );
        }
      }
    }
    const comment = stringOption(parsed, 'comment') ?? defaultComment();
    let passphrase = stringOption(parsed, 'passphrase');
    if (passphrase === undefined && stdinIsTerminal()) {
      passphrase = await readNewSecret(
        'Enter passphrase (empty for no passphrase): ',
        'Enter same passphrase again: ',
      );
    }
    io.out('Generating public/private ed25519 key pair.\n');
    const identity = await writeKeyPair(path, comment, passphrase);
    io.out(
      `Your identification has been saved in ${path}\n` +
        `Your public key has been saved in ${pubPath}\n` +
        `The key fingerprint is:\n${identity.fingerprint} ${identity.comment}\n`,
    );
    return EXIT_OK;
  },
};
