import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const main = join(import.meta.dirname, '..', 'dist', 'main.js');
const exec = promisify(execFile);

async function keyway(...args: string[]) {
  try {
    const { stdout, stderr } = await exec(process.execPath, [main, ...args], { timeout: 20_000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

describe('keyway command', () => {
  it('prints usage and exits 2 without a command', async () => {
    const r = await keyway();
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/^usage: keyway <command>/);
  });

  it('rejects an unknown command with exit code 2', async () => {
    const r = await keyway('frobnicate');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown command 'frobnicate'");
  });

  it('answers --help for a command', async () => {
    const r = await keyway('demo', '--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('usage: keyway demo');
  });

  it.each([
    'keygen',
    'fingerprint',
    'pubkey',
    'keyscan',
    'known-hosts',
    'authorized-keys',
    'passwd',
    'serve',
  ])('lists %s and answers its --help with exit 0', async (name) => {
    const list = await keyway();
    expect(list.stdout).toContain(`  ${name} `);
    const r = await keyway(name, '--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^usage: keyway ${name}`));
  });

  it('accepts ssh-keygen letters -l and -y as command names', async () => {
    expect((await keyway('-l', '--help')).stdout).toContain('usage: keyway fingerprint');
    expect((await keyway('-y', '--help')).stdout).toContain('usage: keyway pubkey');
  });
});
