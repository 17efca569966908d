/**
 * `keyway shell host:port`: an interactive REPL connected to a remote root service, like
 * RPyC's classic `rpyc_classic.py` session but authenticated in the SSH model. `root` is
 * the remote root; `await` works at top level; history is kept in ~/.keyway/shell_history;
 * Tab completes the member names the remote's access gate exposes (`root.<Tab>`).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { AsyncCompleter } from 'node:readline';
import * as repl from 'node:repl';
import { parseArgs } from 'node:util';
import {
  type Connection,
  connect,
  isRemote,
  KnownHosts,
  listRemote,
  loadIdentity,
} from 'keyway-rpc';
import { type CliIo, EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from '../cli.js';

export const SHELL_USAGE = `usage: keyway shell host:port [-i identity] [--known-hosts file] [--accept-new] [-l user]

Opens a REPL whose \`root\` is the remote root service. Await works at top level; Tab
completes remote member names; .exit or Ctrl-D leaves.
  -i file            client key (default ~/.keyway/id_ed25519 when it exists)
  --known-hosts f    known_hosts file (default ~/.keyway/known_hosts)
  --accept-new       record an unknown server's key in known_hosts (a changed key is refused)
  -l user            log in with a password (asked without echo, or $KEYWAY_PASSWORD)
`;

/** How a remote object shows in the REPL. */
const REMOTE_OBJECT = Object.freeze({
  [Symbol.for('nodejs.util.inspect.custom')]: () =>
    '<remote object: call its methods; Tab lists them>',
});

/** Splits `host:port` or `[v6]:port`. */
export function parseHostPort(text: string): { host: string; port: number } | undefined {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:[\]]+):(\d+)$/.exec(text);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  return { host: m[1] as string, port };
}

/** Reads a line without echo from a terminal. */
async function askHidden(prompt: string, io: CliIo): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY)
    throw new Error('a password is needed: set KEYWAY_PASSWORD or run in a terminal');
  io.err(prompt);
  stdin.setRawMode(true);
  stdin.resume();
  let text = '';
  try {
    for await (const chunk of stdin as AsyncIterable<Buffer>) {
      for (const c of chunk.toString('utf8')) {
        if (c === '\r' || c === '\n') return text;
        if (c === '\u0003') throw new Error('interrupted');
        if (c === '\u007f') text = text.slice(0, -1);
        else text += c;
      }
    }
    return text;
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    io.err('\n');
  }
}

/** Resolves a dotted path such as `root.tools` in the REPL context, without evaluating code. */
function resolvePath(context: Record<string, unknown>, path: string): unknown {
  let value: unknown = context;
  for (const part of path.split('.')) {
    if (value === null || (typeof value !== 'object' && typeof value !== 'function'))
      return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/**
 * Completions for a line ending in `path.prefix` where `path` names a remote object in
 * `context`: the names the remote gate exposes that start with `prefix`.
 * @returns undefined when the line does not end in a remote path (complete locally)
 */
export function remoteCompletions(
  context: Record<string, unknown>,
  line: string,
): Promise<[string[], string]> | undefined {
  const m = /([A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*)\.([\w$]*)$/.exec(line);
  if (!m) return undefined;
  const path = m[1] as string;
  const prefix = m[2] as string;
  const holder = resolvePath(context, path);
  if (!isRemote(holder)) return undefined;
  return listRemote(holder).then((names) => [
    names.filter((n) => n.startsWith(prefix)).map((n) => `${path}.${n}`),
    `${path}.${prefix}`,
  ]);
}

/** Runs the shell. @returns the exit code */
export async function shell(args: string[], io: CliIo): Promise<number> {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        identity: { type: 'string', short: 'i' },
        'known-hosts': { type: 'string' },
        'accept-new': { type: 'boolean' },
        user: { type: 'string', short: 'l' },
      },
    });
  } catch (error) {
    io.err(`keyway shell: ${(error as Error).message}\n\n${SHELL_USAGE}`);
    return EXIT_USAGE;
  }
  const target =
    parsed.positionals.length === 1 ? parseHostPort(parsed.positionals[0] as string) : undefined;
  if (!target) {
    io.err(`keyway shell: give one host:port\n\n${SHELL_USAGE}`);
    return EXIT_USAGE;
  }
  const home = join(homedir(), '.keyway');
  const values = parsed.values as Record<string, string | boolean | undefined>;
  const identityPath = (values.identity as string | undefined) ?? join(home, 'id_ed25519');
  const knownHostsPath = (values['known-hosts'] as string | undefined) ?? join(home, 'known_hosts');
  let conn: Connection;
  try {
    const identity =
      values.identity !== undefined || existsSync(identityPath)
        ? await loadIdentity(identityPath)
        : undefined;
    const username = values.user as string | undefined;
    const password =
      username === undefined
        ? undefined
        : (process.env.KEYWAY_PASSWORD ?? (await askHidden(`${username}'s password: `, io)));
    conn = await connect(target.host, target.port, {
      identity,
      knownHosts: await KnownHosts.load(knownHostsPath),
      hostKeyPolicy: values['accept-new'] ? 'accept-new' : 'strict',
      username,
      password,
    });
  } catch (error) {
    io.err(`keyway shell: ${(error as Error).message}\n`);
    return EXIT_FAILURE;
  }
  io.out(
    `connected to ${target.host}:${target.port}; \`root\` is the remote service (.exit to leave)\n`,
  );
  const server = repl.start({
    prompt: 'keyway> ',
    input: process.stdin,
    output: process.stdout,
    terminal: process.stdin.isTTY === true && process.stdout.isTTY === true,
    useGlobal: false,
    ignoreUndefined: true,
  });
  Object.defineProperty(server.context, 'root', { value: conn.root, enumerable: true });
  Object.defineProperty(server.context, 'conn', { value: conn, enumerable: true });
  // A remote call typed without `await` is awaited for the user, as RPyC's shell shows a
  // remote value; a remote object itself prints as what it is, not as engine internals.
  // Inputs run one after another, so that piped input prints its results in order.
  const localEval = server.eval;
  let previous: Promise<void> = Promise.resolve();
  (server as unknown as { eval: typeof localEval }).eval = (code, context, file, done) => {
    previous = previous.then(
      () =>
        new Promise<void>((next) => {
          const finish = (error: Error | null, value: unknown) => {
            done(error, value);
            next();
          };
          localEval.call(server, code, context, file, (error, result) => {
            if (error || !isRemote(result)) return finish(error, result);
            const thenable = result as { then?: unknown };
            if (typeof thenable.then !== 'function') return finish(null, REMOTE_OBJECT);
            (result as PromiseLike<unknown>).then(
              (value) => finish(null, isRemote(value) ? REMOTE_OBJECT : value),
              (failure: Error) => finish(failure, undefined),
            );
          });
        }),
    );
  };
  // Tab on `root.` (or any dotted path to a remote object) asks the remote gate which
  // names it exposes; everything else completes as in a plain Node REPL.
  const localCompleter = server.completer as AsyncCompleter;
  const remoteCompleter: AsyncCompleter = (line, callback) => {
    const pending = remoteCompletions(server.context, line);
    if (!pending) {
      localCompleter.call(server, line, callback);
      return;
    }
    pending.then(
      (result) => callback(null, result),
      () => callback(null, [[], line]),
    );
  };
  (server as unknown as { completer: AsyncCompleter }).completer = remoteCompleter;
  if (server.terminal) {
    mkdirSync(home, { recursive: true, mode: 0o700 });
    server.setupHistory(join(home, 'shell_history'), () => {});
  }
  let leaving = false;
  await new Promise<void>((resolve) => {
    server.on('exit', () => {
      leaving = true;
      // Inputs still running (piped input ahead of .exit) finish before we hang up.
      void previous.then(resolve);
    });
    conn.closed.then((reason) => {
      if (leaving) return;
      io.err(`\nconnection closed${reason ? `: ${reason.message}` : ''}\n`);
      server.close();
    });
  });
  await conn.close();
  return EXIT_OK;
}
