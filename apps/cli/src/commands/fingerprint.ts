/**
 * `keyway fingerprint` (`-l`) and `keyway pubkey` (`-y`): print a key's fingerprint as
 * `ssh-keygen -lf` does, and a private key's public line as `ssh-keygen -y -f` does
 * (docs/design.md §2 CLI, §4: fingerprints print as `ssh-keygen -lf` prints them).
 */
import { readFile, stat } from 'node:fs/promises';
import { parseOptions, stringOption } from '../args.js';
import { CliError, type Command, EXIT_OK } from '../command.js';
import { fingerprintLine, PRIVATE_KEY_BEGIN, readPrivateKey, scanKeyLines } from '../keys.js';
import { readStdin } from '../prompt.js';

const FINGERPRINT_USAGE = `usage: keyway fingerprint [-P passphrase] file|-
       keyway -l [-P passphrase] file|-

Prints the fingerprint of each key in a .pub file, a private key file, an authorized_keys
or known_hosts file, or standard input (-), exactly as ssh-keygen -lf does:
  256 SHA256:… comment (ED25519)

options:
  -P, --passphrase <text>    passphrase of an encrypted private key (asked for on a
                             terminal when omitted)
  -h, --help                 show this help
`;

const PUBKEY_USAGE = `usage: keyway pubkey [-P passphrase] file
       keyway -y [-P passphrase] file

Prints the public key line of an OpenSSH private key, as ssh-keygen -y -f does.

options:
  -P, --passphrase <text>    passphrase of an encrypted private key (asked for on a
                             terminal when omitted)
  -h, --help                 show this help
`;

const OPTIONS = { passphrase: { type: 'string', short: 'P' } } as const;

async function fileExists(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** The `fingerprint` command. */
export const fingerprintCommand: Command = {
  summary: 'print key fingerprints (like ssh-keygen -lf)',
  usage: FINGERPRINT_USAGE,
  async run(args, io) {
    const parsed = parseOptions(args, OPTIONS, [1, 1]);
    const source = parsed.positionals[0]!;
    const passphrase = stringOption(parsed, 'passphrase');
    const label = source === '-' ? '(stdin)' : source;
    const text = source === '-' ? await readStdin() : await readFile(source, 'utf8');
    if (text.trimStart().startsWith(PRIVATE_KEY_BEGIN)) {
      // ssh-keygen prefers the .pub beside a private key: it holds the comment, which an
      // encrypted key keeps inside its encrypted part.
      if (source !== '-' && (await fileExists(`${source}.pub`))) {
        const keys = scanKeyLines(await readFile(`${source}.pub`, 'utf8'));
        if (keys[0] !== undefined) {
          io.out(`${fingerprintLine(keys[0])}\n`);
          return EXIT_OK;
        }
      }
      const { identity, encrypted } = await readPrivateKey(
        source === '-' ? { text, label } : source,
        passphrase,
      );
      io.out(
        `${fingerprintLine({
          bits: 256,
          fingerprint: identity.fingerprint,
          // Without a .pub, ssh-keygen reads only the public half of an encrypted key and
          // shows "no comment"; printing the same keeps the two outputs interchangeable.
          comment: encrypted ? '' : identity.comment,
          label: 'ED25519',
        })}\n`,
      );
      return EXIT_OK;
    }
    const keys = scanKeyLines(text);
    if (keys.length === 0) {
      throw new CliError(
        `${label} is not a public key file\n  give a .pub, private key, authorized_keys or known_hosts file`,
      );
    }
    io.out(keys.map((key) => `${fingerprintLine(key)}\n`).join(''));
    return EXIT_OK;
  },
};

/** The `pubkey` command. */
export const pubkeyCommand: Command = {
  summary: "print a private key's public key line (like ssh-keygen -y -f)",
  usage: PUBKEY_USAGE,
  async run(args, io) {
    const parsed = parseOptions(args, OPTIONS, [1, 1]);
    const path = parsed.positionals[0]!;
    const { identity } = await readPrivateKey(path, stringOption(parsed, 'passphrase'));
    io.out(`${identity.publicKeyLine()}\n`);
    return EXIT_OK;
  },
};
