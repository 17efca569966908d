/**
 * Argument dispatch for the `keyway` command, kept apart from `main.ts` so that tests can
 * run commands in-process as well as in a child process.
 */

import { bench } from './commands/bench.js';
import { demo } from './commands/demo.js';
import { shell } from './commands/shell.js';

/** Where a command writes its output. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
}

/** Exit codes, as ssh-keygen users expect them. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

interface Command {
  summary: string;
  run(args: string[], io: CliIo): Promise<number>;
}

const COMMANDS: Readonly<Record<string, Command>> = Object.freeze({
  demo: {
    summary: 'start a key-authenticated server, call it, print channel throughput',
    run: demo,
  },
  bench: {
    summary: 'channel MB/s and calls/s beside node:tls and plain TCP',
    run: bench,
  },
  shell: {
    summary: 'a REPL whose `root` is a remote service (host:port)',
    run: shell,
  },
});

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(16)}${c.summary}`);
  return `usage: keyway <command> [options]\n\ncommands:\n${lines.join('\n')}\n\nRun \`keyway <command> --help\` for a command's options.\n`;
}

/**
 * Runs the `keyway` command line.
 * @param argv arguments after the program name
 * @param io where to write output
 * @returns the process exit code
 */
export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.out(usage());
    return name === undefined ? EXIT_USAGE : EXIT_OK;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (command === undefined) {
    io.err(`keyway: unknown command '${name}'\n\n${usage()}`);
    return EXIT_USAGE;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out(`usage: keyway ${name}\n\n${command.summary}\n`);
    return EXIT_OK;
  }
  return command.run(rest, io);
}
