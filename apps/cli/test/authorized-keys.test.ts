import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyway, makeKey, tempDir } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
const p = (name: string) => join(dir, name);
let keyA: string;
let fpA: string;
let fpB: string;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  await makeKey(p('a'), 'a@host');
  await makeKey(p('b'), 'b@host', 'pw');
  keyA = (await readFile(p('a.pub'), 'utf8')).trim();
  fpA = (await keyway(['fingerprint', p('a.pub')])).stdout.split(' ')[1]!;
  fpB = (await keyway(['fingerprint', p('b.pub')])).stdout.split(' ')[1]!;
});
afterAll(() => cleanup());

describe('keyway authorized-keys', () => {
  it('adds keys with options and comments, lists them, removes by fingerprint and by key', async () => {
    const file = p('ak1');
    const opts = 'from="10.0.0.0/8",keyway-services="Calc"';
    const a = await keyway([
      'authorized-keys',
      'add',
      p('a.pub'),
      '--options',
      opts,
      '--file',
      file,
    ]);
    expect(a.code, a.stderr).toBe(0);
    const b = await keyway([
      'authorized-keys',
      'add',
      p('b'),
      '-P',
      'pw',
      '--comment',
      'bob',
      '--file',
      file,
    ]);
    expect(b.code, b.stderr).toBe(0);
    const text = await readFile(file, 'utf8');
    expect(text).toBe(
      `${opts} ${keyA}\n${(await readFile(p('b.pub'), 'utf8')).trim().replace(/ b@host$/, ' bob')}\n`,
    );
    expect((await stat(file)).mode & 0o777).toBe(0o600);

    const list = await keyway(['authorized-keys', 'list', '--file', file]);
    expect(list.stdout).toBe(
      `1: ${fpA} ssh-ed25519 a@host\n    options: ${opts}\n2: ${fpB} ssh-ed25519 bob\n`,
    );

    const byFp = await keyway(['authorized-keys', 'remove', fpB, '--file', file]);
    expect(byFp.code).toBe(0);
    expect(await readFile(`${file}.old`, 'utf8')).toBe(text);
    const byLine = await keyway(['authorized-keys', 'remove', keyA, '--file', file]);
    expect(byLine.code).toBe(0);
    expect(await readFile(file, 'utf8')).toBe('');
    const none = await keyway(['authorized-keys', 'remove', p('a.pub'), '--file', file]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('nothing changed');
  });

  it('refuses options keyway cannot honour, and changes nothing', async () => {
    const file = p('ak2');
    const r = await keyway([
      'authorized-keys',
      'add',
      keyA,
      '--options',
      'command="/bin/sh"',
      '--file',
      file,
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('command');
    await expect(stat(file)).rejects.toThrow();
  });

  it('list says why a line can never authorize', async () => {
    const file = p('ak3');
    const bare = keyA.split(' ').slice(0, 2).join(' ');
    await writeFile(
      file,
      `bogus-opt ${bare} x\nexpiry-time="20200101" ${bare} y\nssh-ed25519 AAAAnotbase64 z\n`,
      { mode: 0o600 },
    );
    const r = await keyway(['authorized-keys', 'list', '--file', file]);
    expect(r.code).toBe(0);
    const blocks = r.stdout.split(/\n(?=\d+: )/);
    expect(blocks[0]).toMatch(/never authorizes: .*bogus-opt/);
    expect(blocks[1]).toMatch(/never authorizes: expired at 2020-01-01/);
    expect(blocks[2]).toMatch(/never authorizes: /);
  });

  it('refuses a file writable by others with the chmod to run; reports missing key files', async () => {
    const file = p('ak4');
    await writeFile(file, `${keyA}\n`, { mode: 0o600 });
    await chmod(file, 0o620);
    const r = await keyway(['authorized-keys', 'list', '--file', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`chmod go-w '${file}'`);
    const missing = await keyway(['authorized-keys', 'add', p('none.pub'), '--file', p('ak5')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('none.pub: no such file');
    await writeFile(p('notakey.pub'), 'hello world\n');
    const junk = await keyway(['authorized-keys', 'add', p('notakey.pub'), '--file', p('ak5')]);
    expect(junk.code).toBe(1);
    expect(junk.stderr).toContain('no ssh-ed25519 public key');
  });

  it('usage errors exit 2', async () => {
    for (const args of [
      ['authorized-keys'],
      ['authorized-keys', 'add'],
      ['authorized-keys', 'list', 'extra'],
      ['authorized-keys', 'list', '--hash'],
    ]) {
      expect((await keyway(args, { home: p('home') })).code, args.join(' ')).toBe(2);
    }
  });
});
