/**
 * A strict option parser for `keyway` subcommands (docs/design.md §2, CLI). Built on Node's
 * `util.parseArgs` in strict mode: an unknown flag, a missing value or a stray value is a
 * {@link UsageError}, which the dispatcher turns into exit code 2.
 */
import { parseArgs } from 'node:util';

/** One option a command accepts. */
export interface OptionSpec {
  /** `'string'` takes a value, `'boolean'` is a switch. */
  type: 'string' | 'boolean';
  /** One-letter alias, as ssh-keygen spells it (`-f`). */
  short?: string;
  /** The option may repeat; its values are collected in order. */
  multiple?: boolean;
}

/** The options table of one command, by long name. */
export type OptionTable = Readonly<Record<string, OptionSpec>>;

/** What {@link parseOptions} found. */
export interface ParsedArgs {
  /** Values by long name: a string, `true`, or a list for repeatable options. */
  values: Record<string, string | boolean | string[] | undefined>;
  /** Arguments that are not options, in order (`-` counts as one). */
  positionals: string[];
}

/** The command line was malformed; the message says what was wrong. Exit code 2. */
export class UsageError extends Error {
  /** Stable code. */
  readonly code = 'ERR_USAGE';
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * Parses `args` against `table`, refusing anything the table does not name.
 * @param args - arguments after the subcommand name.
 * @param table - accepted options.
 * @param positionals - how many positional arguments are allowed, `[min, max]`.
 * @returns the option values and the positional arguments.
 * @throws {UsageError} on an unknown option, a missing value, or a wrong positional count.
 */
export function parseOptions(
  args: readonly string[],
  table: OptionTable,
  positionals: readonly [number, number],
): ParsedArgs {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...args],
      options: table as Record<string, OptionSpec>,
      strict: true,
      allowPositionals: true,
    });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    // Node's text for an unknown flag goes on about positionals; the flag is what matters.
    const unknown = /^Unknown option '([^']+)'/.exec(message);
    throw new UsageError(unknown ? `unknown option '${unknown[1]}'` : message);
  }
  const [min, max] = positionals;
  if (parsed.positionals.length < min) {
    throw new UsageError(`missing argument (expected at least ${min})`);
  }
  if (parsed.positionals.length > max) {
    throw new UsageError(`unexpected argument '${parsed.positionals[max]}'`);
  }
  return {
    values: parsed.values as ParsedArgs['values'],
    positionals: parsed.positionals,
  };
}

/** A string option's value, or undefined. */
export function stringOption(parsed: ParsedArgs, name: string): string | undefined {
  const value = parsed.values[name];
  return typeof value === 'string' ? value : undefined;
}

/** A boolean option's value (false when absent). */
export function flagOption(parsed: ParsedArgs, name: string): boolean {
  return parsed.values[name] === true;
}

/** A repeatable string option's values (empty when absent). */
export function listOption(parsed: ParsedArgs, name: string): string[] {
  const value = parsed.values[name];
  return Array.isArray(value) ? value : typeof value === 'string' ? [value] : [];
}
