/**
 * The REPL of `keyway shell`, on Node's `repl` module: `root` is the remote service and
 * inputs run one after another. Three things make it a shell that never locks up:
 * - every error an input raises (a local ReferenceError, a remote RangeError, a denial)
 *   is printed (the remote name, message and the remote stack when the server sends one;
 *   never keyway's or the REPL's own frames) and the next input runs, as in
 *   rpyc_classic's shell;
 * - Ctrl-C during a pending input aborts its AbortSignal, which every call made through
 *   `root` in that input carries, so the server's `currentCall().signal` fires, and the
 *   prompt comes back at once; two Ctrl-C on an empty line leave, as in Node's REPL;
 * - the REPL's own error path (Node sends errors of `await` and of synchronous code to
 *   its domain, not to the eval callback, which left queued inputs waiting for ever) is
 *   taken over, so each input ends exactly once.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { AsyncCompleter } from 'node:readline';
import * as repl from 'node:repl';
import { inspect, types } from 'node:util';
import {
  type Connection,
  isRemote,
  KeywayError,
  listRemote,
  RemoteError,
  SecureError,
  withOptions,
} from 'keyway-rpc';
import type { CliIo } from './command.js';

/** How a remote object shows in the REPL. */
const REMOTE_OBJECT = Object.freeze({
  [Symbol.for('nodejs.util.inspect.custom')]: () =>
    '<remote object: call its methods; Tab lists them>',
});

/** The reason a call cancelled by Ctrl-C rejects with, and what the shell prints. */
const CANCELLED = 'call cancelled (Ctrl-C)';

/** Stack lines of keyway itself and of Node's internals: never shown. */
const INTERNAL_FRAME =
  /node:internal|\(node:|at node:|[\\/]node_modules[\\/](?:@keyway|keyway-rpc|keyway-cli)[\\/]|[\\/](?:packages[\\/](?:core|secure|server|keyway)|apps[\\/]cli)[\\/](?:dist|src)[\\/]/;

function frames(stack: string | undefined): string[] {
  return (stack ?? '').split('\n').filter((line) => /^\s+at /.test(line));
}

/**
 * What the shell prints for an error an input raised, after `Uncaught `: `Name: message`,
 * then the remote stack for a remote error (when the server sends it), or the frames of
 * the typed code for a local error; keyway's own frames never.
 */
export function describeError(error: unknown): string {
  // Errors of the typed code come from the REPL's own context: another realm's Error.
  if (!(error instanceof Error) && !types.isNativeError(error)) return inspect(error);
  if (error instanceof RemoteError) {
    const stack = frames(error.remoteStack).filter((line) => !INTERNAL_FRAME.test(line));
    return [`${error.remoteName}: ${error.message}`, ...stack].join('\n');
  }
  // keyway's errors say all in their message; their stack is keyway's own.
  if (error instanceof KeywayError || error instanceof SecureError) {
    return `${error.name}: ${error.message}`;
  }
  const typed = frames(error.stack).filter((line) => /\bREPL\d+:/.test(line));
  return [`${error.name}: ${error.message}`, ...typed].join('\n');
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

/** The input being evaluated. */
interface Pending {
  readonly controller: AbortController;
  /** `root` as this input sees it: its calls carry the input's signal. */
  root: unknown;
  /** Node's eval has not called back yet (`await` or running code), vs. we wait on a call. */
  inNodeEval: boolean;
  /** Ends the input, once: prints an error, or hands a value to the REPL. */
  end(error: unknown, value?: unknown): void;
}

/** Options of {@link runShellRepl}. */
export interface ShellReplOptions {
  /** Where the history goes (terminal only). */
  historyPath: string;
}

/**
 * Runs the REPL on standard input until `.exit`, Ctrl-D, two Ctrl-C or the connection's
 * end.
 */
export async function runShellRepl(
  conn: Connection,
  io: CliIo,
  options: ShellReplOptions,
): Promise<void> {
  const server = repl.start({
    prompt: 'keyway> ',
    input: process.stdin,
    output: process.stdout,
    terminal: process.stdin.isTTY === true && process.stdout.isTTY === true,
    useGlobal: false,
    ignoreUndefined: true,
    // Lets Ctrl-C through while Node's eval awaits (it queues other keys meanwhile).
    breakEvalOnSigint: true,
  });
  let pending: Pending | undefined;
  Object.defineProperty(server.context, 'root', {
    get: () => pending?.root ?? conn.root,
    enumerable: true,
  });
  Object.defineProperty(server.context, 'conn', { value: conn, enumerable: true });

  const print = (error: unknown): void => {
    server.output.write(`Uncaught ${describeError(error)}\n`);
  };
  // Node's REPL sends errors of synchronous code and of `await` to its domain instead of
  // the eval callback: they end the pending input here. One outside any input (a
  // callback that throws later) is printed, and the prompt shown again.
  const domain = (server as unknown as { _domain: NodeJS.EventEmitter })._domain;
  domain.removeAllListeners('error');
  domain.on('error', (error: unknown) => {
    if (pending !== undefined) {
      pending.end(error);
      return;
    }
    print(error);
    server.displayPrompt();
  });

  // A remote call typed without `await` is awaited for the user, as RPyC's shell shows a
  // remote value; a remote object itself prints as what it is, not as engine internals.
  // Inputs run one after another, so that piped input prints its results in order.
  const localEval = server.eval;
  let previous: Promise<void> = Promise.resolve();
  (server as unknown as { eval: typeof localEval }).eval = (code, context, file, done) => {
    previous = previous.then(
      () =>
        new Promise<void>((next) => {
          const controller = new AbortController();
          let ended = false;
          const input: Pending = {
            controller,
            root: withOptions(conn.root, { signal: controller.signal }),
            inNodeEval: true,
            end(error, value) {
              if (ended) return;
              ended = true;
              if (pending === input) pending = undefined;
              if (error === null || error === undefined) {
                done(null, value);
              } else {
                if (controller.signal.aborted) server.output.write(`${CANCELLED}\n`);
                else print(error);
                done(null, undefined);
              }
              next();
            },
          };
          pending = input;
          localEval.call(server, code, context, file, (error, result) => {
            input.inNodeEval = false;
            // An incomplete line: the REPL asks for the rest.
            if (error instanceof repl.Recoverable) {
              if (pending === input) pending = undefined;
              ended = true;
              done(error, undefined);
              next();
              return;
            }
            if (error) return input.end(error);
            if (!isRemote(result)) return input.end(null, result);
            const thenable = result as { then?: unknown };
            if (typeof thenable.then !== 'function') return input.end(null, REMOTE_OBJECT);
            (result as PromiseLike<unknown>).then(
              (value) => input.end(null, isRemote(value) ? REMOTE_OBJECT : value),
              (failure: unknown) => input.end(failure),
            );
          });
        }),
    );
  };

  // Ctrl-C while an input is pending cancels its calls and ends it; otherwise Node's
  // handling (clear the line; two on an empty line leave).
  const [replSigint] = server.listeners('SIGINT') as (() => void)[];
  server.removeAllListeners('SIGINT');
  server.on('SIGINT', () => {
    const input = pending;
    if (input === undefined) {
      replSigint?.call(server);
      return;
    }
    input.controller.abort(new Error(CANCELLED));
    // Node's eval awaiting a promise ends its wait through its own handler; a call we
    // wait on ourselves ends here.
    if (input.inNodeEval) replSigint?.call(server);
    else input.end(new Error(CANCELLED));
  });

  // Tab on `root.` (or any dotted path to a remote object) asks the remote gate which
  // names it exposes; everything else completes as in a plain Node REPL.
  const localCompleter = server.completer as AsyncCompleter;
  const remoteCompleter: AsyncCompleter = (line, callback) => {
    const names = remoteCompletions(server.context, line);
    if (!names) {
      localCompleter.call(server, line, callback);
      return;
    }
    names.then(
      (result) => callback(null, result),
      () => callback(null, [[], line]),
    );
  };
  (server as unknown as { completer: AsyncCompleter }).completer = remoteCompleter;
  if (server.terminal) {
    try {
      mkdirSync(dirname(options.historyPath), { recursive: true, mode: 0o700 });
      server.setupHistory(options.historyPath, () => {});
    } catch {
      // No history is no reason to refuse a shell.
    }
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
}
