/**
 * `keyway shell host[:port]`: an interactive REPL connected to a remote root service, like
 * RPyC's classic `rpyc_classic.py` session but authenticated in the SSH model. `root` is
 * the remote root; `await` works at top level; history is kept in ~/.keyway/shell_history;
 * Tab completes the member names the remote's access gate exposes (`root.<Tab>`). How it
 * connects is in shell-connect.ts, the REPL in shell-repl.ts.
 */
import { flagOption, parseOptions, stringOption, UsageError } from '../args.js';
import { type Command, EXIT_OK } from '../command.js';
import { DEFAULT_PORT, parseHostPort } from '../hosts.js';
import { defaultFile } from '../paths.js';
import { openShellConnection, PASSWORD_VARIABLE } from '../shell-connect.js';
import { runShellRepl } from '../shell-repl.js';

export { describeError, remoteCompletions } from '../shell-repl.js';

const USAGE = `usage: keyway shell host[:port] [-i identity] [-P passphrase] [--known-hosts file]
                    [--accept-new] [-l user] [--timeout seconds]

Opens a REPL whose \`root\` is the remote root service (port ${DEFAULT_PORT} when none is
given). Await works at top level; Tab completes remote member names; an error is
printed and the shell carries on; Ctrl-C cancels the pending call (the server sees
its signal fire), twice on an empty line leaves, as do .exit and Ctrl-D.

options:
  -i <file>               client key (default ~/.keyway/id_ed25519 when it exists)
  -P, --passphrase <text> passphrase of an encrypted key; else $KEYWAY_PASSPHRASE,
                          else asked for on a terminal
      --known-hosts <f>   known_hosts file (default ~/.keyway/known_hosts)
      --accept-new        record an unknown server's key in known_hosts (a changed
                          key is still refused), as ssh -o StrictHostKeyChecking=accept-new
  -l <user>               log in with a password, asked for without echo once the
                          server's key is verified ($${PASSWORD_VARIABLE} without a terminal)
      --timeout <seconds> give up on a call after this long (default 30; 0 waits for ever)
  -h, --help              show this help
`;

const OPTIONS = {
  identity: { type: 'string', short: 'i' },
  passphrase: { type: 'string', short: 'P' },
  'known-hosts': { type: 'string' },
  'accept-new': { type: 'boolean' },
  user: { type: 'string', short: 'l' },
  timeout: { type: 'string' },
} as const;

/** `--timeout` in seconds (decimals allowed, 0 for none) as milliseconds. */
function parseTimeout(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const seconds = Number(text);
  if (!/^[0-9]{1,7}(\.[0-9]{1,3})?$/.test(text) || !Number.isFinite(seconds)) {
    throw new UsageError(`bad --timeout '${text}' (seconds, 0 for none)`);
  }
  return Math.round(seconds * 1000);
}

/** The `shell` command. */
export const shellCommand: Command = {
  summary: 'a REPL whose `root` is a remote service (host[:port])',
  usage: USAGE,
  async run(args, io) {
    const parsed = parseOptions(args, OPTIONS, [1, 1]);
    const { host, port } = parseHostPort(parsed.positionals[0]!);
    const conn = await openShellConnection(
      {
        host,
        port,
        identityPath: stringOption(parsed, 'identity'),
        passphrase: stringOption(parsed, 'passphrase'),
        knownHostsPath: stringOption(parsed, 'known-hosts'),
        acceptNew: flagOption(parsed, 'accept-new'),
        user: stringOption(parsed, 'user'),
        callTimeoutMs: parseTimeout(stringOption(parsed, 'timeout')),
      },
      io,
    );
    io.out(`connected to ${host}:${port}; \`root\` is the remote service (.exit to leave)\n`);
    try {
      await runShellRepl(conn, io, { historyPath: defaultFile('shell_history') });
    } finally {
      await conn.close();
    }
    return EXIT_OK;
  },
};
