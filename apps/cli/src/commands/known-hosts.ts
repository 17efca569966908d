/**
 * `keyway known-hosts add|find|remove|hash|list`: edits the client's known_hosts database
 * (docs/design.md §2 CLI; docs/security.md "known_hosts") the way `ssh-keygen -F/-R/-H`
 * do: atomic saves that keep the file's mode and the previous contents as `<file>.old`.
 */
import { KnownHosts, type KnownHostsEntry } from 'keyway-rpc';
import { flagOption, type OptionTable, parseOptions, stringOption, UsageError } from '../args.js';
import { CliError, type CliIo, type Command, EXIT_FAILURE, EXIT_OK } from '../command.js';
import { DEFAULT_PORT, parseHostPort } from '../hosts.js';
import { readEd25519PublicKey } from '../keys.js';
import { resolveFile } from '../paths.js';

const USAGE = `usage: keyway known-hosts <action> [--file path] ...

Edits a known_hosts file (default ~/.keyway/known_hosts), OpenSSH's format.

actions:
  add <host[:port]> <keyfile|keyline> [--hash] [--comment c] [-P passphrase]
                       record a server's key (a .pub file, a private key file or
                       a line 'ssh-ed25519 AAAA…'); --hash writes the name hashed
  find <host[:port]>   print the lines for a host with their line numbers (like
                       ssh-keygen -F); exit 1 when there are none
  remove <host[:port]> remove a host's keys (like ssh-keygen -R), keeping <file>.old
  hash                 hash every host name (like ssh-keygen -H), keeping <file>.old
  list                 print each key line's number, hosts and fingerprint

Hosts are written host, host:port, [host]:port or [ipv6]:port; without a port,
keyway's ${DEFAULT_PORT} is meant, as for every keyway command (write host:22 for
OpenSSH's port).

options:
      --file <path>    the known_hosts file
  -h, --help           show this help
`;

const FILE = { file: { type: 'string' } } as const;

const ACTIONS: Readonly<Record<string, { options: OptionTable; positionals: [number, number] }>> = {
  add: {
    options: {
      ...FILE,
      hash: { type: 'boolean' },
      comment: { type: 'string' },
      passphrase: { type: 'string', short: 'P' },
    },
    positionals: [2, 2],
  },
  find: { options: FILE, positionals: [1, 1] },
  remove: { options: FILE, positionals: [1, 1] },
  hash: { options: FILE, positionals: [0, 0] },
  list: { options: FILE, positionals: [0, 0] },
};

const MARKER_LABELS: Readonly<Record<string, string>> = {
  revoked: 'REVOKED',
  'cert-authority': 'CA',
};

function updated(io: CliIo, path: string): void {
  io.out(`${path} updated.\nOriginal contents retained as ${path}.old\n`);
}

function describe(entry: KnownHostsEntry): string {
  const marker = entry.marker === undefined ? '' : `@${entry.marker} `;
  const key =
    entry.fingerprint === undefined ? entry.keyType : `${entry.fingerprint} ${entry.keyType}`;
  const comment = entry.comment === '' ? '' : ` ${entry.comment}`;
  const error = entry.error === undefined ? '' : `  (never matches: ${entry.error})`;
  return `${entry.line}: ${marker}${entry.hosts} ${key}${comment}${error}`;
}

/** The `known-hosts` command. */
export const knownHostsCommand: Command = {
  summary: 'edit known_hosts: add, find, remove, hash, list (like ssh-keygen -F/-R/-H)',
  usage: USAGE,
  async run(args, io) {
    const [action = '', ...rest] = args;
    const spec = Object.hasOwn(ACTIONS, action) ? ACTIONS[action] : undefined;
    if (spec === undefined) {
      throw new UsageError(action === '' ? 'missing action' : `unknown action '${action}'`);
    }
    const parsed = parseOptions(rest, spec.options, spec.positionals);
    const path = await resolveFile(stringOption(parsed, 'file'), 'known_hosts');
    const db = await KnownHosts.load(path);
    const [first = '', second = ''] = parsed.positionals;
    switch (action) {
      case 'add': {
        const { host, port } = parseHostPort(first);
        const key = await readEd25519PublicKey(second, stringOption(parsed, 'passphrase'));
        const before = db.check(host, port, key.key);
        const comment = stringOption(parsed, 'comment');
        const line = db.add(host, port, key.key, {
          hash: flagOption(parsed, 'hash'),
          ...(comment === undefined ? {} : { comment }),
        });
        if (before.status === 'match') {
          io.out(`${path}: line ${line} already has this key for ${first}; nothing changed\n`);
          return EXIT_OK;
        }
        await db.save(path);
        io.out(`Added ${key.fingerprint} for ${first} to ${path} (line ${line})\n`);
        if (before.status === 'mismatch') {
          io.err(
            `note: ${first} already had another key (line ${before.line}); both are now listed\n`,
          );
        }
        return EXIT_OK;
      }
      case 'find': {
        const { host, port } = parseHostPort(first);
        const found = db.find(host, port);
        if (found.length === 0) return EXIT_FAILURE;
        const lines = db.toString().split('\n');
        const name = port === 22 ? host : `[${host}]:${port}`;
        for (const entry of found) {
          const marker =
            entry.marker === undefined ? '' : (MARKER_LABELS[entry.marker] ?? entry.marker);
          io.out(`# Host ${name} found: line ${entry.line} ${marker}\n${lines[entry.line - 1]}\n`);
        }
        return EXIT_OK;
      }
      case 'remove': {
        const { host, port } = parseHostPort(first);
        const removed = db.remove(host, port);
        if (removed === 0) throw new CliError(`${first} not found in ${path}; nothing changed`);
        await db.save(path);
        io.out(`Removed ${removed} line${removed === 1 ? '' : 's'} for ${first}\n`);
        updated(io, path);
        return EXIT_OK;
      }
      case 'hash': {
        const before = db.toString();
        db.hash();
        if (db.toString() === before) {
          io.out(`${path}: nothing to hash\n`);
          return EXIT_OK;
        }
        await db.save(path);
        updated(io, path);
        io.err(
          `WARNING: ${path}.old contains unhashed entries\nDelete this file to ensure privacy of hostnames\n`,
        );
        return EXIT_OK;
      }
      default: {
        for (const entry of db.list()) io.out(`${describe(entry)}\n`);
        return EXIT_OK;
      }
    }
  },
};
