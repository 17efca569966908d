import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { available, keyway, keywayInTerminal, makeKey, tempDir } from './helpers.js';

const hasPython = available('python3', ['--version']);

// Cheap key stretching keeps the test fast; the default (N=65536) is for real records.
const KSF = 'scrypt:N=1024,r=8,p=1';
const PASSWORD = 'correct horse battery staple';

let dir: string;
let cleanup: () => Promise<void>;
const p = (name: string) => join(dir, name);

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  await makeKey(p('host'), 'host');
  await makeKey(p('host-enc'), 'host', 'hostpw');
  await makeKey(p('other-host'), 'other');
});
afterAll(() => cleanup());

function add(user: string, file: string, ...extra: string[]) {
  return keyway(
    ['passwd', 'add', user, '--host-key', p('host'), '--ksf', KSF, '--file', file, ...extra],
    {
      input: `${PASSWORD}\n`,
    },
  );
}

describe('keyway passwd', () => {
  it('adds users from stdin; the file holds no password, is 0600, and list shows users and KSF', async () => {
    const file = p('pw1');
    const a = await add('alice', file);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toBe(`Added alice in ${file} (${KSF})\n`);
    const b = await add('bob', file, '--password-stdin');
    expect(b.code, b.stderr).toBe(0);
    for (const r of [a, b]) expect(r.stdout + r.stderr).not.toContain(PASSWORD);
    const text = await readFile(file, 'utf8');
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toContain('horse');
    expect(text).not.toContain(Buffer.from(PASSWORD).toString('base64'));
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const list = await keyway(['passwd', 'list', '--file', file]);
    expect(list.code).toBe(0);
    const rows = list.stdout.trim().split('\n');
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatch(new RegExp(`^alice\\t${KSF}\\t\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z$`));
    expect(rows[1]).toMatch(/^bob\t/);
  });

  it('replaces a user, removes one, and says when there is nobody to remove', async () => {
    const file = p('pw2');
    await add('carol', file);
    const again = await add('carol', file);
    expect(again.stdout).toContain('Replaced carol');
    const rm = await keyway(['passwd', 'remove', 'carol', '--file', file]);
    expect(rm.code).toBe(0);
    expect((await keyway(['passwd', 'list', '--file', file])).stdout).toBe('');
    const none = await keyway(['passwd', 'remove', 'carol', '--file', file]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('no user carol');
  });

  it('uses an encrypted host key with -P; a wrong -P fails before reading a password', async () => {
    const file = p('pw3');
    const ok = await keyway(
      [
        'passwd',
        'add',
        'dave',
        '--host-key',
        p('host-enc'),
        '-P',
        'hostpw',
        '--ksf',
        KSF,
        '--file',
        file,
      ],
      { input: 'pw\n' },
    );
    expect(ok.code, ok.stderr).toBe(0);
    const bad = await keyway(
      [
        'passwd',
        'add',
        'erin',
        '--host-key',
        p('host-enc'),
        '-P',
        'nope',
        '--ksf',
        KSF,
        '--file',
        file,
      ],
      { input: 'pw\n' },
    );
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('incorrect passphrase');
  });

  it('refuses records for another host key', async () => {
    const file = p('pw4');
    await add('frank', file);
    const r = await keyway(
      ['passwd', 'add', 'gina', '--host-key', p('other-host'), '--ksf', KSF, '--file', file],
      { input: 'pw\n' },
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('different server key');
  });

  it('failures: empty stdin, missing host key, corrupt file, file writable by others', async () => {
    const empty = await keyway(
      ['passwd', 'add', 'h', '--host-key', p('host'), '--ksf', KSF, '--file', p('pw5')],
      { input: '' },
    );
    expect(empty.code).toBe(1);
    expect(empty.stderr).toContain('no input');
    const noKey = await keyway(
      ['passwd', 'add', 'h', '--host-key', p('missing'), '--ksf', KSF, '--file', p('pw5')],
      { input: 'pw\n' },
    );
    expect(noKey.code).toBe(1);
    expect(noKey.stderr).toContain('missing: no such file');
    await writeFile(p('pw6'), 'alice not-a-ksf 2020 xyz\n', { mode: 0o600 });
    const corrupt = await keyway(['passwd', 'list', '--file', p('pw6')]);
    expect(corrupt.code).toBe(1);
    expect(corrupt.stderr).toContain('line 1');
    await add('ivan', p('pw7'));
    await chmod(p('pw7'), 0o666);
    const open = await keyway(['passwd', 'list', '--file', p('pw7')]);
    expect(open.code).toBe(1);
    expect(open.stderr).toContain(`chmod go-w '${p('pw7')}'`);
  });

  it.skipIf(!hasPython)('on a terminal reads the password twice without echo', async () => {
    const args = ['passwd', 'add', 'tina', '--host-key', 'host', '--ksf', KSF, '--file', 'pw8'];
    const r = await keywayInTerminal(args, ['tty pass word', 'tty pass word'], dir);
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toContain('New password for tina');
    expect(r.stdout).toContain('Retype new password');
    expect(r.stdout).not.toContain('tty pass word');
    expect(await readFile(p('pw8'), 'utf8')).not.toContain('tty pass word');
    const mismatch = await keywayInTerminal(
      [...args.slice(0, 2), 'uma', ...args.slice(3)],
      ['one', 'two'],
      dir,
    );
    expect(mismatch.code).toBe(1);
    expect(mismatch.stdout).toContain('do not match');
    expect((await keyway(['passwd', 'list', '--file', p('pw8')])).stdout).not.toContain('uma');
  });

  it('usage errors exit 2: no --host-key, bad --ksf, bad user name, unknown action', async () => {
    for (const args of [
      ['passwd', 'add', 'alice'],
      ['passwd', 'add', 'alice', '--host-key', p('host'), '--ksf', 'scrypt:N=1000,r=8,p=1'],
      ['passwd', 'add', 'alice', '--host-key', p('host'), '--ksf', 'identity'],
      ['passwd', 'add', '@alice', '--host-key', p('host')],
      ['passwd', 'change', 'alice'],
      ['passwd', 'list', '--host-key', p('host')],
    ]) {
      const r = await keyway(args, { input: 'pw\n', home: p('home') });
      expect(r.code, args.join(' ')).toBe(2);
    }
  });
});
