/**
 * Argument dispatch for the `keyway` command (docs/design.md §2, CLI), kept apart from
 * `main.ts` so that tests can run commands in-process as well as in a child process.
 * Every command has `--help`; exit codes are 0 (success), 1 (failure), 2 (usage error).
 */
import { readFileSync } from 'node:fs';
import { UsageError } from './args.js';
import {
  CliError,
  type CliIo,
  type Command,
  EXIT_FAILURE,
  EXIT_OK,
  EXIT_USAGE,
} from './command.js';
import { authorizedKeysCommand } from './commands/authorized-keys.js';
import { BENCH_USAGE, bench } from './commands/bench.js';
import { demo } from './commands/demo.js';
import { fingerprintCommand, pubkeyCommand } from './commands/fingerprint.js';
import { initCommand } from './commands/init.js';
import { keygenCommand } from './commands/keygen.js';
import { keyscanCommand } from './commands/keyscan.js';
import { knownHostsCommand } from './commands/known-hosts.js';
import { passwdCommand } from './commands/passwd.js';
import { serveCommand } from './commands/serve.js';
import { shellCommand } from './commands/shell.js';
import { explainError } from './errors.js';

export { type CliIo, EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from './command.js';

const demoCommand: Command = {
  summary: 'start a key-authenticated server, call it, print channel throughput',
  usage:
    'usage: keyway demo\n\nMakes keys in a temporary directory, starts a key-authenticated server,\n' +
    'calls it (a remote object, a callback), shows what a wrong key gets, and prints\n' +
    'channel throughput beside node:tls and plain TCP. Cleans up after itself.\n',
  run: demo,
};

const benchCommand: Command = {
  summary: 'channel MB/s and calls/s beside node:tls and plain TCP',
  usage: BENCH_USAGE,
  run: bench,
};

const COMMANDS: Readonly<Record<string, Command>> = Object.freeze({
  init: initCommand,
  keygen: keygenCommand,
  fingerprint: fingerprintCommand,
  pubkey: pubkeyCommand,
  keyscan: keyscanCommand,
  'known-hosts': knownHostsCommand,
  'authorized-keys': authorizedKeysCommand,
  passwd: passwdCommand,
  serve: serveCommand,
  shell: shellCommand,
  bench: benchCommand,
  demo: demoCommand,
});

/** ssh-keygen's letters for the commands that mirror it. */
const ALIASES: Readonly<Record<string, string>> = Object.freeze({
  '-l': 'fingerprint',
  '-y': 'pubkey',
});

/** The version in the CLI's package.json, which ships beside `dist/`. */
function version(): string {
  const text = readFileSync(new URL('../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(16)}${c.summary}`);
  return `usage: keyway <command> [options]\n\ncommands:\n${lines.join('\n')}\n\nRun \`keyway <command> --help\` for a command's options, \`keyway --version\` for the version.\nNew here? Run \`keyway init\`.\n`;
}

/**
 * Runs the `keyway` command line.
 * @param argv arguments after the program name
 * @param io where to write output
 * @returns the process exit code
 */
export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const [given, ...rest] = argv;
  if (given === undefined || given === '--help' || given === '-h' || given === 'help') {
    io.out(usage());
    return given === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (given === '--version' || given === '-V') {
    io.out(`keyway ${version()}\n`);
    return EXIT_OK;
  }
  const name = Object.hasOwn(ALIASES, given) ? ALIASES[given]! : given;
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (command === undefined) {
    io.err(`keyway: unknown command '${given}'\n\n${usage()}`);
    return EXIT_USAGE;
  }
  // `--` ends options: a value after it that happens to read `--help` is not a request.
  const end = rest.indexOf('--');
  const options = end === -1 ? rest : rest.slice(0, end);
  if (options.includes('--help') || options.includes('-h')) {
    io.out(command.usage);
    return EXIT_OK;
  }
  try {
    return await command.run(rest, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`keyway ${name}: ${error.message}\nRun 'keyway ${name} --help' for usage.\n`);
      return EXIT_USAGE;
    }
    io.err(`keyway ${name}: ${explainError(error)}\n`);
    return error instanceof CliError ? error.exitCode : EXIT_FAILURE;
  }
}
