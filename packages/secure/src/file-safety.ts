/**
 * File safety for key material and key databases, modelled on OpenSSH: private key files
 * readable by group or others are refused ("UNPROTECTED PRIVATE KEY FILE"), databases
 * (known_hosts, authorized_keys, password files) writable by group or others, or below a
 * directory that others could change, are refused, as sshd's StrictModes does. Databases
 * are saved atomically: a temporary file in the same directory, flushed, then renamed
 * over the old one, keeping its mode, with the previous contents kept as `<file>.old` (as
 * `ssh-keygen -R/-H` do). docs/security.md "Files and permissions".
 */
import { randomBytes } from 'node:crypto';
import { promises as fs, type Stats } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { FilePermissionError, KeyFormatError } from './errors.js';

// POSIX permission bits do not describe access on Windows; OpenSSH for Windows uses ACLs.
const POSIX = process.platform !== 'win32';
const STICKY = 0o1000;

function octal(mode: number): string {
  return `0${(mode & 0o777).toString(8).padStart(3, '0')}`;
}

function checkOwner(path: string, stats: Stats): void {
  const uid = process.getuid?.();
  if (uid === undefined || !POSIX) return;
  if (stats.uid !== uid && stats.uid !== 0) {
    throw new FilePermissionError(`${path} is owned by uid ${stats.uid}, not by you or root`);
  }
}

/**
 * Refuses a private key file that group or others may read or write, as `ssh` does. (Who
 * owns it does not matter: only its owner, or root, can read a 0600 file.)
 * @throws {FilePermissionError} when the mode has any of 0o077 set.
 */
export function assertPrivateKeyFileSafe(path: string, stats: Stats): void {
  if (!POSIX) return;
  if ((stats.mode & 0o077) !== 0) {
    throw new FilePermissionError(
      `UNPROTECTED PRIVATE KEY FILE: permissions ${octal(stats.mode)} for ${path} are too open; ` +
        'it must not be accessible by others (chmod 600)',
    );
  }
}

/** Every directory from `dir` up to the root, `dir` first. */
function ancestors(dir: string): string[] {
  const out: string[] = [];
  for (let d = resolve(dir); ; d = dirname(d)) {
    out.push(d);
    if (dirname(d) === d) return out;
  }
}

/**
 * Refuses a directory chain others could change, as sshd's StrictModes does for every
 * directory up the path: each must be owned by you or root, and not writable by group or
 * others unless it has the sticky bit (like /tmp, where others cannot replace files they
 * do not own).
 * @throws {FilePermissionError} naming the first unsafe directory.
 */
export async function assertDirectoriesSafe(path: string): Promise<void> {
  if (!POSIX) return;
  const dirs = new Set(ancestors(dirname(path)));
  // A symbolic link on the way leads somewhere else: that place's directories count too.
  const real = await fs.realpath(path).catch(() => undefined);
  if (real !== undefined) for (const d of ancestors(dirname(real))) dirs.add(d);
  for (const dir of dirs) {
    const stats = await fs.stat(dir);
    checkOwner(`directory ${dir} of ${path}`, stats);
    if ((stats.mode & 0o022) !== 0 && (stats.mode & STICKY) === 0) {
      throw new FilePermissionError(
        `bad permissions ${octal(stats.mode)} for directory ${dir} of ${path}: writable by group or others`,
      );
    }
  }
}

/**
 * Refuses a key database that is not a regular file, that group or others may write, that
 * someone other than you or root owns, or below a directory others could change (so could
 * swap the file), as sshd's StrictModes does.
 * @throws {FilePermissionError} on any of these.
 */
export async function assertDatabaseFileSafe(path: string, stats: Stats): Promise<void> {
  if (!POSIX) return;
  if (!stats.isFile()) throw new FilePermissionError(`${path} is not a regular file`);
  if ((stats.mode & 0o022) !== 0) {
    throw new FilePermissionError(
      `bad permissions ${octal(stats.mode)} for ${path}: writable by group or others (chmod go-w)`,
    );
  }
  checkOwner(path, stats);
  await assertDirectoriesSafe(path);
}

/**
 * Reads a key database, or returns undefined when it does not exist. The checks run on
 * the open descriptor (`fstat`), so the file checked is the file read.
 * @param options.maxBytes - refuse a larger file (`KeyFormatError`); default no bound.
 * @throws {FilePermissionError} when {@link assertDatabaseFileSafe} refuses it.
 */
export async function readDatabaseFile(
  path: string,
  options: { maxBytes?: number } = {},
): Promise<{ text: string; stats: Stats } | undefined> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    // Stat the open handle, so the checked file is the one read.
    const stats = await handle.stat();
    await assertDatabaseFileSafe(path, stats);
    if (options.maxBytes !== undefined && stats.size > options.maxBytes) {
      throw new KeyFormatError(`${path} is larger than ${options.maxBytes} bytes`);
    }
    return { text: await handle.readFile('utf8'), stats };
  } finally {
    await handle.close();
  }
}

/** Reads a private key file after checking its permissions on the open handle. */
export async function readPrivateKeyFile(path: string): Promise<string> {
  const handle = await fs.open(path, 'r');
  try {
    assertPrivateKeyFileSafe(path, await handle.stat());
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

/** Options for {@link atomicWriteFile}. */
export interface AtomicWriteOptions {
  /** Mode of a newly created file; an existing file keeps its own. Default 0o600. */
  mode?: number;
  /** Keep the previous contents as `<path>.old`. Default true. */
  backup?: boolean;
}

/**
 * Replaces a file atomically: readers see the old or the new contents, never a mix.
 * The existing file's mode is kept; its previous contents are kept as `<path>.old`.
 */
export async function atomicWriteFile(
  path: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions = {},
): Promise<void> {
  let mode = options.mode ?? 0o600;
  let existed = false;
  try {
    mode = (await fs.stat(path)).mode & 0o7777;
    existed = true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await fs.open(temp, 'wx', mode);
  try {
    try {
      await handle.writeFile(data);
      // The umask may have narrowed the mode given to open; set it exactly.
      await handle.chmod(mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (existed && options.backup !== false) {
      const old = `${path}.old`;
      await fs.copyFile(path, old);
      await fs.chmod(old, mode);
    }
    await fs.rename(temp, path);
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw error;
  }
}
