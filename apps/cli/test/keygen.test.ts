import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { available, keyway, keywayInTerminal, sshKeygen, tempDir } from './helpers.js';

const hasSshKeygen = available('ssh-keygen', ['-?']);
const hasPython = available('python3', ['--version']);

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterEach(() => cleanup());

describe('keyway keygen', () => {
  it('writes ~/.keyway/id_ed25519 (0600) and .pub, in a 0700 directory, and prints the fingerprint', async () => {
    const r = await keyway(['keygen', '-C', 'alice@laptop'], { home: dir });
    expect(r.code).toBe(0);
    const keyDir = join(dir, '.keyway');
    expect((await stat(keyDir)).mode & 0o777).toBe(0o700);
    expect((await stat(join(keyDir, 'id_ed25519'))).mode & 0o777).toBe(0o600);
    const pub = await readFile(join(keyDir, 'id_ed25519.pub'), 'utf8');
    expect(pub).toMatch(/^ssh-ed25519 AAAA\S+ alice@laptop\n$/);
    expect(r.stdout).toMatch(/The key fingerprint is:\nSHA256:[A-Za-z0-9+/]{43} alice@laptop\n$/);
  });

  it('refuses to overwrite without --force, and overwrites with it', async () => {
    const file = join(dir, 'id');
    expect((await keyway(['keygen', '-f', file, '-C', 'one'])).code).toBe(0);
    const first = await readFile(file, 'utf8');
    const again = await keyway(['keygen', '-f', file, '-C', 'two']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already exists');
    expect(again.stderr).toContain('--force');
    expect(await readFile(file, 'utf8')).toBe(first);
    const forced = await keyway(['keygen', '-f', file, '-C', 'two', '--force']);
    expect(forced.code).toBe(0);
    expect(await readFile(file, 'utf8')).not.toBe(first);
  });

  it.skipIf(!hasSshKeygen)('writes keys ssh-keygen reads, with and without -N', async () => {
    const plain = join(dir, 'plain');
    const enc = join(dir, 'enc');
    expect((await keyway(['keygen', '-f', plain, '-C', 'p@h', '-N', ''])).code).toBe(0);
    expect((await keyway(['keygen', '-f', enc, '-C', 'e@h', '-N', 'pass phrase'])).code).toBe(0);
    const y1 = await sshKeygen(['-y', '-P', '', '-f', plain]);
    expect(y1.stdout).toBe(await readFile(`${plain}.pub`, 'utf8'));
    const wrong = await sshKeygen(['-y', '-P', 'nope', '-f', enc]);
    expect(wrong.code).not.toBe(0);
    const y2 = await sshKeygen(['-y', '-P', 'pass phrase', '-f', enc]);
    expect(y2.stdout).toBe(await readFile(`${enc}.pub`, 'utf8'));
  });

  it('without -N and without a terminal, writes an unencrypted key', async () => {
    const file = join(dir, 'k');
    expect((await keyway(['keygen', '-f', file])).code).toBe(0);
    const y = await keyway(['pubkey', file]);
    expect(y.code).toBe(0);
    expect(y.stdout).toBe(await readFile(`${file}.pub`, 'utf8'));
  });

  it.skipIf(!hasPython)('on a terminal asks for the passphrase twice without echo', async () => {
    const r = await keywayInTerminal(
      ['keygen', '-f', 'tty', '-C', 't'],
      ['s3cret!', 's3cret!'],
      dir,
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Enter passphrase');
    expect(r.stdout).toContain('Enter same passphrase again');
    expect(r.stdout).not.toContain('s3cret!');
    const bad = await keyway(['pubkey', '-P', 'other', join(dir, 'tty')]);
    expect(bad.code).toBe(1);
    const good = await keyway(['pubkey', '-P', 's3cret!', join(dir, 'tty')]);
    expect(good.code).toBe(0);
    expect(good.stdout).toBe(await readFile(join(dir, 'tty.pub'), 'utf8'));
  });

  it.skipIf(!hasPython)(
    'on a terminal refuses two different passphrases and writes nothing',
    async () => {
      const r = await keywayInTerminal(['keygen', '-f', 'tty2'], ['one', 'two'], dir);
      expect(r.code).toBe(1);
      expect(r.stdout).toContain('do not match');
      await expect(stat(join(dir, 'tty2'))).rejects.toThrow();
    },
  );

  it('reports a directory that cannot exist (a path under a regular file)', async () => {
    const blocker = join(dir, 'file');
    await writeFile(blocker, 'x');
    const r = await keyway(['keygen', '-f', join(blocker, 'id')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('not a directory');
  });

  it('is a usage error (exit 2) for an unknown flag or a stray argument', async () => {
    const a = await keyway(['keygen', '--bits', '4096']);
    expect(a.code).toBe(2);
    expect(a.stderr).toContain("unknown option '--bits'");
    const b = await keyway(['keygen', 'extra']);
    expect(b.code).toBe(2);
    const c = await keyway(['keygen', '-f']);
    expect(c.code).toBe(2);
  });

  it('answers --help with its options', async () => {
    const r = await keyway(['keygen', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('usage: keyway keygen');
    expect(r.stdout).toContain('--force');
  });
});
