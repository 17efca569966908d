/**
 * Runs the built `keyway` command as a child process, the way a user does, against a
 * temporary HOME so that `~/.keyway` defaults never touch the real one.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateIdentity } from 'keyway-rpc';

export const MAIN = join(import.meta.dirname, '..', 'dist', 'main.js');

/** What a run printed and how it ended. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options for {@link keyway}. */
export interface RunOptions {
  /** Text written to the child's stdin (then closed); default nothing. */
  input?: string;
  /** HOME for the child (default a directory that does not exist). */
  home?: string;
  /** Working directory. */
  cwd?: string;
  /** More environment variables. */
  env?: Record<string, string>;
}

/** Runs `node dist/main.js ...args` and collects its output. */
export function keyway(args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], {
      cwd: options.cwd,
      env: {
        ...process.env,
        HOME: options.home ?? join(tmpdir(), 'keyway-no-home'),
        ...options.env,
      },
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: 20_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.on('error', () => {});
    child.stdin.end(options.input ?? '');
  });
}

/** Runs the real `ssh-keygen`; resolves with its exit code and output. */
export function sshKeygen(args: readonly string[], input = ''): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(
      'ssh-keygen',
      [...args],
      { timeout: 20_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
    // A program that never reads stdin closes it early; that is not a failure.
    child.stdin?.on('error', () => {});
    child.stdin?.end(input);
  });
}

/** Whether a program can be run here. */
export function available(program: string, args: string[]): boolean {
  try {
    execFileSync(program, args, { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch (error) {
    // ssh-keygen exits 1 for `-?`-style probes but exists; only a missing binary counts.
    return (error as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}

/** A fresh temporary directory and a function that removes it. */
export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'keyway-cli-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Runs `keyway` inside a pseudo-terminal (python3's pty), typing `lines` one by one. */
export function keywayInTerminal(
  args: readonly string[],
  lines: readonly string[],
  cwd: string,
): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(
      'python3',
      [join(import.meta.dirname, 'pty-run.py'), lines.join('|'), process.execPath, MAIN, ...args],
      { cwd, timeout: 30_000, env: { ...process.env, HOME: cwd } },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/**
 * Writes a fresh key pair in-process (the same library `keyway keygen` uses), for tests
 * whose subject is another command: one child process fewer per key.
 */
export async function makeKey(path: string, comment: string, passphrase = ''): Promise<void> {
  const files = generateIdentity(comment).toOpenSSH(passphrase === '' ? {} : { passphrase });
  await writeFile(path, files.privateKey, { mode: 0o600 });
  await writeFile(`${path}.pub`, files.publicKey, { mode: 0o644 });
}

/** One step of a {@link keywayPty} script. */
export type PtyStep = { expect: string; timeout?: number } | { send: string } | { sleep: number };

/**
 * Runs `keyway` in a pseudo-terminal driven by `script` (see pty-session.py): waits for
 * text, types keys. Exit code 124 means a step was not met or the command did not exit;
 * `stdout` is everything the terminal showed.
 */
export function keywayPty(
  args: readonly string[],
  script: readonly PtyStep[],
  options: { home: string; env?: Record<string, string> },
): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(
      'python3',
      [
        join(import.meta.dirname, 'pty-session.py'),
        JSON.stringify(script),
        process.execPath,
        MAIN,
        ...args,
      ],
      {
        cwd: options.home,
        timeout: 60_000,
        env: { ...process.env, HOME: options.home, ...options.env },
      },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
