import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const main = join(import.meta.dirname, '..', 'dist', 'main.js');
const exec = promisify(execFile);

describe('keyway demo (the README main job)', () => {
  it('authenticates, calls the service, refuses strangers, measures throughput and cleans up', async () => {
    const { stdout } = await exec(process.execPath, [main, 'demo'], { timeout: 30_000 });
    expect(stdout).toMatch(/ThreadedServer listening on 127\.0\.0\.1:\d+ \(public-key auth\)/);
    expect(stdout).toContain('lab.add(2, 3)             -> 5');
    expect(stdout).toMatch(/counter\.increment\(\) x3 -> 3/);
    expect(stdout).toContain('the server called back 3, 2, 1');
    expect(stdout).toMatch(/lab\.whoami\(\)\s+-> publickey as SHA256:/);
    expect(stdout).toContain(
      'unknown client key        -> AuthenticationError: authentication failed',
    );
    expect(stdout).toMatch(/server not in known_hosts -> HostKeyError/);
    expect(stdout).toMatch(/keyway channel\s+\d+ MB\/s/);
    expect(stdout).toMatch(/plain TCP\s+\d+ MB\/s\s+keyway = [\d.]+x of this/);
    const dir = /Keys in (\S+)/.exec(stdout)?.[1];
    expect(dir).toBeDefined();
    const { existsSync } = await import('node:fs');
    expect(existsSync(dir as string)).toBe(false);
  }, 40_000);
});

describe('keyway bench', () => {
  it('measures channel and calls beside node:tls and TCP, as JSON', async () => {
    const { stdout } = await exec(process.execPath, [main, 'bench', '--json', '--seconds', '0.2'], {
      timeout: 60_000,
    });
    const result = JSON.parse(stdout) as {
      throughputMBps: Record<string, number | null>;
      callsPerSecond: Record<string, { sequential: number; inFlight100: number } | null>;
    };
    expect(result.throughputMBps.keyway).toBeGreaterThan(0);
    expect(result.throughputMBps.tcp).toBeGreaterThan(0);
    expect(result.callsPerSecond.keyway?.sequential).toBeGreaterThan(0);
    expect(result.callsPerSecond.keyway?.inFlight100).toBeGreaterThan(0);
    expect(result.callsPerSecond.tcp?.sequential).toBeGreaterThan(0);
  }, 70_000);

  it('rejects a bad --seconds with exit code 2', async () => {
    await expect(
      exec(process.execPath, [main, 'bench', '--seconds', 'lots']),
    ).rejects.toMatchObject({ code: 2 });
  });
});
