/**
 * Where `keyway` keeps its files by default: `~/.keyway/` (like `~/.ssh/`), created with
 * mode 0700 on first use. docs/design.md §2, CLI.
 */
import { mkdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** `~/.keyway`. */
export function keywayDirectory(): string {
  return join(homedir(), '.keyway');
}

/** A default file inside `~/.keyway`. */
export function defaultFile(name: string): string {
  return join(keywayDirectory(), name);
}

/**
 * Resolves a command's `--file`: the given path, or the default inside `~/.keyway`, which
 * is created with mode 0700 (only the owner may list key files) when it is missing. A path
 * the user named is used as given: its directory must exist.
 */
export async function resolveFile(given: string | undefined, name: string): Promise<string> {
  if (given !== undefined) return given;
  await mkdir(keywayDirectory(), { recursive: true, mode: 0o700 });
  return defaultFile(name);
}
