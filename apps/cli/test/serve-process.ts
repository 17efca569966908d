/**
 * Starts the real `keyway serve` in a child process for tests and waits for its banner:
 * the port it bound, its output so far, and a way to stop it with a signal.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { MAIN } from './helpers.js';

/** A running `keyway serve`. */
export interface Served {
  readonly child: ChildProcess;
  readonly port: number;
  stdout(): string;
  stderr(): string;
  /** Resolves once stderr contains `text` (or rejects after `timeoutMs`). */
  waitFor(text: string | RegExp, timeoutMs?: number): Promise<void>;
  /** Sends `signal` (default SIGINT) and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

const running = new Set<ChildProcess>();

/** Kills every server a test left running. */
export function killAll(): void {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
}

/** Starts `keyway serve ...args` with `HOME=home` and waits for the address line. */
export function serve(
  args: readonly string[],
  home: string,
  env: Readonly<Record<string, string>> = {},
): Promise<Served> {
  const child = spawn(process.execPath, [MAIN, 'serve', ...args], {
    env: { ...process.env, KEYWAY_DEBUG: '', NODE_DEBUG: '', HOME: home, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let stdout = '';
  let stderr = '';
  const waiters = new Set<() => void>();
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
    for (const wake of waiters) wake();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  void exited.then(() => running.delete(child));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${stderr}`)), 20_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      const match = / on \S+:(\d+)/.exec(stdout);
      if (!match) return;
      clearTimeout(timer);
      resolve({
        child,
        port: Number(match[1]),
        stdout: () => stdout,
        stderr: () => stderr,
        waitFor: (text, timeoutMs = 15_000) =>
          new Promise<void>((found, fail) => {
            const seen = () =>
              typeof text === 'string' ? stderr.includes(text) : text.test(stderr);
            if (seen()) {
              found();
              return;
            }
            const wake = () => {
              if (!seen()) return;
              waiters.delete(wake);
              clearTimeout(giveUp);
              found();
            };
            const giveUp = setTimeout(() => {
              waiters.delete(wake);
              fail(new Error(`stderr never showed ${String(text)}:\n${stderr}`));
            }, timeoutMs);
            waiters.add(wake);
          }),
        stop: async (signal = 'SIGINT') => {
          child.kill(signal);
          return exited;
        },
      });
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code}: ${stderr}`));
    });
  });
}
