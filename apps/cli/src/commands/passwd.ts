/**
 * `keyway passwd add|remove|list`: edits the OPAQUE password file that `passwordAuth`
 * reads (docs/design.md §2 CLI, §4 "Password login without the classic weakness").
 * The password is read without echo (or from a pipe), used in memory for the OPAQUE
 * registration against the server's host key, and never stored, printed or logged.
 */
import {
  checkUserName,
  formatKsfParams,
  type KsfParams,
  opaqueServerFor,
  PasswordFile,
  parseKsfParams,
} from 'keyway-rpc';
import { flagOption, type OptionTable, parseOptions, stringOption, UsageError } from '../args.js';
import { CliError, type Command, EXIT_OK } from '../command.js';
import { readPrivateKey } from '../keys.js';
import { resolveFile } from '../paths.js';
import { readNewSecret, readSecretLine, stdinIsTerminal } from '../prompt.js';

const USAGE = `usage: keyway passwd <action> [--file path] ...

Edits a password file (default ~/.keyway/passwords) of OPAQUE registration records:
the server stores no password and no password hash.

actions:
  add <user> --host-key <file> [-P passphrase] [--ksf params] [--password-stdin]
                       register (or replace) a user's password; it is read twice
                       without echo on a terminal, or as one line from stdin
  remove <user>        remove a user
  list                 print users, their KSF parameters and creation times

options:
      --file <path>          the password file
      --host-key <file>      the server's private host key (the OPAQUE server key
                             is derived from it; records only work with that key)
  -P, --passphrase <text>    passphrase of an encrypted host key (asked for on a
                             terminal when omitted)
      --ksf <params>         key stretching, default scrypt:N=65536,r=8,p=1
                             (also argon2id:m=65536,t=3,p=4)
      --password-stdin       read the password from stdin even on a terminal
  -h, --help                 show this help
`;

const FILE = { file: { type: 'string' } } as const;

const ACTIONS: Readonly<Record<string, { options: OptionTable; positionals: [number, number] }>> = {
  add: {
    options: {
      ...FILE,
      'host-key': { type: 'string' },
      passphrase: { type: 'string', short: 'P' },
      ksf: { type: 'string' },
      'password-stdin': { type: 'boolean' },
    },
    positionals: [1, 1],
  },
  remove: { options: FILE, positionals: [1, 1] },
  list: { options: FILE, positionals: [0, 0] },
};

function checkedUser(user: string): string {
  try {
    return checkUserName(user);
  } catch (error) {
    throw new UsageError(`bad user name: ${(error as Error).message}`);
  }
}

function ksfOption(text: string | undefined): KsfParams | undefined {
  if (text === undefined) return undefined;
  try {
    const params = parseKsfParams(text);
    if (params.algorithm === 'identity')
      throw new Error('the identity KSF is for test vectors only');
    return params;
  } catch (error) {
    throw new UsageError(`bad --ksf '${text}': ${(error as Error).message}`);
  }
}

async function readPassword(user: string, fromStdin: boolean): Promise<string> {
  if (fromStdin || !stdinIsTerminal()) return readSecretLine();
  const password = await readNewSecret(`New password for ${user}: `, 'Retype new password: ');
  if (password === '') throw new CliError('empty password refused; nothing was changed');
  return password;
}

/** The `passwd` command. */
export const passwdCommand: Command = {
  summary: 'edit the OPAQUE password file: add, remove, list',
  usage: USAGE,
  async run(args, io) {
    const [action = '', ...rest] = args;
    const spec = Object.hasOwn(ACTIONS, action) ? ACTIONS[action] : undefined;
    if (spec === undefined) {
      throw new UsageError(action === '' ? 'missing action' : `unknown action '${action}'`);
    }
    const parsed = parseOptions(rest, spec.options, spec.positionals);
    switch (action) {
      case 'add': {
        const user = checkedUser(parsed.positionals[0]!);
        const hostKeyPath = stringOption(parsed, 'host-key');
        if (hostKeyPath === undefined) {
          throw new UsageError("'add' needs --host-key <file>, the server's private host key");
        }
        const ksf = ksfOption(stringOption(parsed, 'ksf'));
        const path = await resolveFile(stringOption(parsed, 'file'), 'passwords');
        // Load both files before asking for the password, so a typo in a path costs
        // nothing typed.
        const passwords = await PasswordFile.load(path);
        const { identity } = await readPrivateKey(hostKeyPath, stringOption(parsed, 'passphrase'));
        const password = await readPassword(user, flagOption(parsed, 'password-stdin'));
        const replaced = passwords.has(user);
        const entry = await passwords.register(
          opaqueServerFor(identity),
          user,
          password,
          ksf === undefined ? {} : { ksf },
        );
        await passwords.save(path);
        io.out(
          `${replaced ? 'Replaced' : 'Added'} ${user} in ${path} (${formatKsfParams(entry.ksf)})\n`,
        );
        return EXIT_OK;
      }
      case 'remove': {
        const user = checkedUser(parsed.positionals[0]!);
        const path = await resolveFile(stringOption(parsed, 'file'), 'passwords');
        const passwords = await PasswordFile.load(path);
        if (!passwords.remove(user))
          throw new CliError(`no user ${user} in ${path}; nothing changed`);
        await passwords.save(path);
        io.out(`Removed ${user} from ${path}\n`);
        return EXIT_OK;
      }
      default: {
        const path = await resolveFile(stringOption(parsed, 'file'), 'passwords');
        const passwords = await PasswordFile.load(path);
        for (const entry of passwords.list()) {
          io.out(`${entry.user}\t${formatKsfParams(entry.ksf)}\t${entry.created.toISOString()}\n`);
        }
        return EXIT_OK;
      }
    }
  },
};
