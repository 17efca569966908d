/**
 * Where `keyway` keeps its files by default: `~/.keyway/` (like `~/.ssh/`), created with
 * mode 0700 on first use, as is the directory of any file path the user names for a
 * file the CLI writes. docs/design.md §2, CLI.
 */
import { mkdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

/** `~/.keyway`. */
export function keywayDirectory(): string {
  return join(homedir(), '.keyway');
}

/** A default file inside `~/.keyway`. */
export function defaultFile(name: string): string {
  return join(keywayDirectory(), name);
}

/**
 * Creates the directory `path` will be written in, when it is missing, with mode 0700
 * (only the owner may list key files), as `~/.keyway` itself. Existing directories keep
 * their mode.
 */
export async function ensureParentDirectory(path: string): Promise<void> {
  const directory = dirname(resolve(path));
  try {
    await mkdir(directory, { recursive: true, mode: 0o700 });
  } catch (error) {
    // mkdir says EEXIST when a component is a file; what the user needs to hear is ENOTDIR.
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    throw Object.assign(new Error(`${directory}: not a directory`), {
      code: 'ENOTDIR',
      path: directory,
    });
  }
}

/**
 * Resolves a command's `--file`: the given path, or the default inside `~/.keyway`. The
 * file's directory (`~/.keyway`, or the one a given path names) is created with mode 0700
 * when it is missing, so that a first run needs no `mkdir`.
 */
export async function resolveFile(given: string | undefined, name: string): Promise<string> {
  const path = given ?? defaultFile(name);
  await ensureParentDirectory(path);
  return path;
}
