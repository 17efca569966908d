/**
 * `keyway init`: a first run's setup in one command. Creates `~/.keyway` (mode 0700), the
 * server's host key `~/.keyway/host_key` (never encrypted: a server starts unattended, as
 * sshd's host keys) and, when missing, the user's key `~/.keyway/id_ed25519` (encrypted
 * as `keyway keygen` would); keys that exist are kept. Then prints the commands that
 * take a new user from here to a shell on a running server.
 */
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { loadIdentity, parsePublicKey } from 'keyway-rpc';
import { parseOptions, stringOption } from '../args.js';
import { type Command, EXIT_OK } from '../command.js';
import { DEFAULT_PORT } from '../hosts.js';
import { PRIVATE_KEY_BEGIN } from '../keys.js';
import { defaultFile, ensureParentDirectory, keywayDirectory } from '../paths.js';
import { readNewSecret, stdinIsTerminal } from '../prompt.js';
import { defaultComment, exists, writeKeyPair } from './keygen.js';

const USAGE = `usage: keyway init [-N passphrase] [-C comment]

Sets up ~/.keyway (mode 0700) for a first run:
  ~/.keyway/host_key      this machine's server key (for keyway serve), not encrypted
  ~/.keyway/id_ed25519    your client key (for keyway shell), made when missing
Keys that exist are kept. Then prints the next steps.

options:
  -N, --passphrase <text>  encrypt the new client key ('' for none); asked for
                           without echo when omitted and stdin is a terminal
  -C, --comment <comment>  comment of the new client key (default user@host)
  -h, --help               show this help
`;

const OPTIONS = {
  passphrase: { type: 'string', short: 'N' },
  comment: { type: 'string', short: 'C' },
} as const;

/** A key file's fingerprint, read from its `.pub` (no passphrase needed). */
async function fingerprintOf(path: string): Promise<string> {
  try {
    return parsePublicKey((await readFile(`${path}.pub`, 'utf8')).trim()).fingerprint;
  } catch {
    // No readable .pub beside it: the private key itself, when it opens without a passphrase.
    const text = await readFile(path, 'utf8');
    if (!text.trimStart().startsWith(PRIVATE_KEY_BEGIN)) return '(not an OpenSSH key)';
    return (await loadIdentity(path).catch(() => undefined))?.fingerprint ?? '(encrypted)';
  }
}

/** The `init` command. */
export const initCommand: Command = {
  summary: 'first run: make ~/.keyway, a host key and your key, and print the next steps',
  usage: USAGE,
  async run(args, io) {
    const parsed = parseOptions(args, OPTIONS, [0, 0]);
    const hostKeyPath = defaultFile('host_key');
    const clientKeyPath = defaultFile('id_ed25519');
    await ensureParentDirectory(hostKeyPath);
    const lines: string[] = [];

    if (await exists(hostKeyPath)) {
      lines.push(`host key    ${hostKeyPath}  ${await fingerprintOf(hostKeyPath)} (kept)`);
    } else {
      const host = await writeKeyPair(hostKeyPath, `keyway-host@${hostname()}`, undefined);
      lines.push(`host key    ${hostKeyPath}  ${host.fingerprint} (new)`);
    }

    if (await exists(clientKeyPath)) {
      lines.push(`client key  ${clientKeyPath}  ${await fingerprintOf(clientKeyPath)} (kept)`);
    } else {
      let passphrase = stringOption(parsed, 'passphrase');
      if (passphrase === undefined && stdinIsTerminal()) {
        passphrase = await readNewSecret(
          `Enter passphrase for ${clientKeyPath} (empty for no passphrase): `,
          'Enter same passphrase again: ',
        );
      }
      const comment = stringOption(parsed, 'comment') ?? defaultComment();
      const client = await writeKeyPair(clientKeyPath, comment, passphrase);
      const encrypted = passphrase !== undefined && passphrase !== '';
      lines.push(
        `client key  ${clientKeyPath}  ${client.fingerprint} (new${encrypted ? ', encrypted' : ''})`,
      );
    }

    io.out(
      `keyway is set up in ${keywayDirectory()} (mode 0700):\n` +
        lines.map((line) => `  ${line}\n`).join('') +
        `\nNext steps:\n` +
        `  1. let your key log in to the servers you run here:\n` +
        `       keyway authorized-keys add ${clientKeyPath}.pub\n` +
        `  2. serve a module whose default export is a Service class (port ${DEFAULT_PORT}):\n` +
        `       keyway serve service.js\n` +
        `  3. in another terminal, open a shell on it (records its host key the first time):\n` +
        `       keyway shell 127.0.0.1 --accept-new\n` +
        `Clients on other machines check this host key with: keyway keyscan ${hostname()}:${DEFAULT_PORT}\n`,
    );
    return EXIT_OK;
  },
};
