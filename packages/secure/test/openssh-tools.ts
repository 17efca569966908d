/**
 * Helpers for interop tests that run the real OpenSSH tools in a private temp directory.
 * When `ssh-keygen` is not installed those suites are skipped (and say so).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** True when `ssh-keygen` can be run. */
export const hasSshKeygen =
  spawnSync('ssh-keygen', ['-?'], { stdio: 'ignore' }).error === undefined;

if (!hasSshKeygen) console.warn('ssh-keygen not found: OpenSSH interop tests are skipped');

/** Runs ssh-keygen and returns its stdout; throws with stderr on a non-zero exit. */
export function sshKeygen(args: string[]): string {
  return execFileSync('ssh-keygen', args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 30_000,
  });
}

/** A private (0700) temp directory, removed by the returned cleanup function. */
export function tempDir(): { dir: string; path: (name: string) => string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'keyway-secure-'));
  return {
    dir,
    path: (name) => join(dir, name),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
