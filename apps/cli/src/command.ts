/**
 * The shape every `keyway` subcommand shares (docs/design.md §2, CLI): where output goes, the
 * exit codes, and the error that carries a failure message with what to do next.
 */

/** Where a command writes its output. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
}

/** Exit codes, as ssh-keygen users expect them. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** One subcommand of `keyway`. */
export interface Command {
  /** One line for the command list. */
  summary: string;
  /** The full `--help` text. */
  usage: string;
  /** Runs the command; resolves to the exit code. */
  run(args: string[], io: CliIo): Promise<number>;
}

/**
 * A failure to report to the user: the message says what went wrong and what to do next.
 * The dispatcher prints it and exits 1 (or `exitCode`).
 */
export class CliError extends Error {
  /** Stable code. */
  readonly code = 'ERR_CLI';
  /** The process exit code to use. */
  readonly exitCode: number;
  constructor(message: string, options: { cause?: unknown; exitCode?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CliError';
    this.exitCode = options.exitCode ?? EXIT_FAILURE;
  }
}
