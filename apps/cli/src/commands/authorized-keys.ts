/**
 * `keyway authorized-keys add|remove|list`: edits the server's authorized_keys database
 * (docs/design.md §2 CLI; docs/security.md "authorized_keys"). Saves are atomic, keep the
 * file's mode and the previous contents as `<file>.old`; options keyway cannot honour are
 * refused when adding, and `list` says why an existing line can never authorize.
 */
import { AuthorizedKeys, type AuthorizedKeysEntry } from 'keyway-rpc';
import { type OptionTable, parseOptions, stringOption, UsageError } from '../args.js';
import { CliError, type Command, EXIT_OK } from '../command.js';
import { readEd25519PublicKey } from '../keys.js';
import { resolveFile } from '../paths.js';

const USAGE = `usage: keyway authorized-keys <action> [--file path] ...

Edits an authorized_keys file (default ~/.keyway/authorized_keys), OpenSSH's format.

actions:
  add <keyfile|keyline> [--options text] [--comment c] [-P passphrase]
                       allow a client key (a .pub file, a private key file or a
                       line 'ssh-ed25519 AAAA…'), e.g.
                       --options 'from="10.0.0.0/8",keyway-services="Calc"'
  remove <keyfile|keyline|SHA256:fingerprint>
                       remove every line holding that key, keeping <file>.old
  list                 print each line's fingerprint, comment, options, and why a
                       line can never authorize

Options understood: from="…", expiry-time="YYYYMMDD[HHMM[SS]]", restrict (the
login may not use classic mode) and keyway-services="A,B"; any other option makes a
line fail closed.

options:
      --file <path>    the authorized_keys file
  -h, --help           show this help
`;

const FILE = { file: { type: 'string' } } as const;

const ACTIONS: Readonly<Record<string, { options: OptionTable; positionals: [number, number] }>> = {
  add: {
    options: {
      ...FILE,
      options: { type: 'string' },
      comment: { type: 'string' },
      passphrase: { type: 'string', short: 'P' },
    },
    positionals: [1, 1],
  },
  remove: { options: { ...FILE, passphrase: { type: 'string', short: 'P' } }, positionals: [1, 1] },
  list: { options: FILE, positionals: [0, 0] },
};

function describe(entry: AuthorizedKeysEntry, now: Date): string {
  const lines = [
    `${entry.line}: ${entry.fingerprint ?? '(unreadable key)'} ${entry.keyType}${entry.comment === '' ? '' : ` ${entry.comment}`}`,
  ];
  if (entry.optionsText !== '') lines.push(`    options: ${entry.optionsText}`);
  let never = entry.error;
  const expiry = entry.options.expiryTime;
  if (never === undefined && expiry !== undefined && expiry.getTime() < now.getTime()) {
    never = `expired at ${expiry.toISOString()}`;
  }
  if (never !== undefined) lines.push(`    never authorizes: ${never}`);
  return `${lines.join('\n')}\n`;
}

/** The `authorized-keys` command. */
export const authorizedKeysCommand: Command = {
  summary: 'edit authorized_keys: add, remove, list',
  usage: USAGE,
  async run(args, io) {
    const [action = '', ...rest] = args;
    const spec = Object.hasOwn(ACTIONS, action) ? ACTIONS[action] : undefined;
    if (spec === undefined) {
      throw new UsageError(action === '' ? 'missing action' : `unknown action '${action}'`);
    }
    const parsed = parseOptions(rest, spec.options, spec.positionals);
    const path = await resolveFile(stringOption(parsed, 'file'), 'authorized_keys');
    const db = await AuthorizedKeys.load(path);
    const arg = parsed.positionals[0] ?? '';
    const passphrase = stringOption(parsed, 'passphrase');
    switch (action) {
      case 'add': {
        const key = await readEd25519PublicKey(arg, passphrase);
        const optionsText = stringOption(parsed, 'options') ?? '';
        const duplicate = db
          .list()
          .find((e) => e.fingerprint === key.fingerprint && e.optionsText === optionsText);
        if (duplicate !== undefined) {
          io.out(
            `${path}: line ${duplicate.line} already holds this key with these options; nothing changed\n`,
          );
          return EXIT_OK;
        }
        const line = db.add(key.key, {
          comment: stringOption(parsed, 'comment') ?? key.comment,
          ...(optionsText === '' ? {} : { options: optionsText }),
        });
        await db.save(path);
        io.out(`Added ${key.fingerprint} to ${path} (line ${line})\n`);
        return EXIT_OK;
      }
      case 'remove': {
        const removed = /^SHA256:[A-Za-z0-9+/]{43}$/.test(arg)
          ? db.remove(arg)
          : db.remove((await readEd25519PublicKey(arg, passphrase)).key);
        if (removed === 0) throw new CliError(`no line of ${path} holds that key; nothing changed`);
        await db.save(path);
        io.out(
          `Removed ${removed} line${removed === 1 ? '' : 's'} from ${path}\nOriginal contents retained as ${path}.old\n`,
        );
        return EXIT_OK;
      }
      default: {
        const now = new Date();
        for (const entry of db.list()) io.out(describe(entry, now));
        return EXIT_OK;
      }
    }
  },
};
