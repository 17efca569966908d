import { chmod, copyFile, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { available, keyway, makeKey, sshKeygen, tempDir } from './helpers.js';

const hasSshKeygen = available('ssh-keygen', ['-?']);

let dir: string;
let cleanup: () => Promise<void>;
const p = (name: string) => join(dir, name);
let keyA: string;
let keyB: string;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  await makeKey(p('a'), 'a@host');
  await makeKey(p('b'), 'b@host');
  keyA = (await readFile(p('a.pub'), 'utf8')).trim();
  keyB = (await readFile(p('b.pub'), 'utf8')).trim();
});
afterAll(() => cleanup());

/** Builds a known_hosts file with keyway (once) and returns the path of a fresh copy. */
let template: string | undefined;
async function build(name: string): Promise<string> {
  if (template === undefined) {
    const file = p('template');
    const add = async (...args: string[]) => {
      const r = await keyway(['known-hosts', 'add', ...args, '--file', file]);
      expect(r.code, r.stderr).toBe(0);
    };
    await add('plain.example:22', p('a.pub'));
    await add('db.example:18861', keyB);
    await add('[::1]:2222', p('a'));
    await add('secret.example:18861', p('b.pub'), '--hash');
    template = file;
  }
  await copyFile(template, p(name));
  return p(name);
}

describe('keyway known-hosts', () => {
  it('adds lines in OpenSSH form: [host]:port, IPv6 in brackets, hashed names; a new file is 0600', async () => {
    const file = await build('kh1');
    expect((await stat(p('template'))).mode & 0o777).toBe(0o600);
    const lines = (await readFile(file, 'utf8')).trim().split('\n');
    const bare = (k: string) => k.split(' ').slice(0, 2).join(' ');
    expect(lines[0]).toBe(`plain.example ${bare(keyA)}`);
    expect(lines[1]).toBe(`[db.example]:18861 ${bare(keyB)}`);
    expect(lines[2]).toBe(`[::1]:2222 ${bare(keyA)}`);
    expect(lines[3]).toMatch(/^\|1\|[A-Za-z0-9+/=]{28}\|[A-Za-z0-9+/=]{28} ssh-ed25519 /);
  });

  it('adding the same key again changes nothing', async () => {
    const file = await build('kh2');
    const before = await readFile(file, 'utf8');
    const r = await keyway(['known-hosts', 'add', 'plain.example:22', keyA, '--file', file]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('nothing changed');
    expect(await readFile(file, 'utf8')).toBe(before);
  });

  it.skipIf(!hasSshKeygen)(
    'find prints what ssh-keygen -F prints, hashed names included',
    async () => {
      const file = await build('kh3');
      for (const [ours, theirs] of [
        ['plain.example:22', 'plain.example'],
        ['db.example:18861', '[db.example]:18861'],
        ['[::1]:2222', '[::1]:2222'],
        ['[secret.example]:18861', '[secret.example]:18861'],
      ] as const) {
        const a = await keyway(['known-hosts', 'find', ours, '--file', file]);
        const b = await sshKeygen(['-F', theirs, '-f', file]);
        expect(a.code).toBe(0);
        expect(a.stdout).toBe(b.stdout);
      }
    },
  );

  it('find exits 1 when the host is not there', async () => {
    const file = await build('kh4');
    const r = await keyway(['known-hosts', 'find', 'nowhere.example', '--file', file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect((await keyway(['known-hosts', 'find', 'db.example:22', '--file', file])).code).toBe(1);
  });

  it('a host written without a port means keyway`s port 18861, as for every command', async () => {
    const file = await build('kh4b');
    const found = await keyway(['known-hosts', 'find', 'db.example', '--file', file]);
    expect(found.code).toBe(0);
    expect(found.stdout).toContain('# Host [db.example]:18861 found: line 2');
    const added = await keyway(['known-hosts', 'add', 'new.example', keyA, '--file', file]);
    expect(added.code, added.stderr).toBe(0);
    expect(await readFile(file, 'utf8')).toContain('[new.example]:18861 ssh-ed25519 ');
  });

  it.skipIf(!hasSshKeygen)(
    'remove leaves the same file as ssh-keygen -R, and keeps .old',
    async () => {
      const file = await build('kh5');
      await copyFile(file, p('kh5-theirs'));
      const original = await readFile(file, 'utf8');
      const a = await keyway(['known-hosts', 'remove', 'db.example:18861', '--file', file]);
      expect(a.code).toBe(0);
      const b = await sshKeygen(['-R', '[db.example]:18861', '-f', p('kh5-theirs')]);
      expect(b.code).toBe(0);
      expect(await readFile(file, 'utf8')).toBe(await readFile(p('kh5-theirs'), 'utf8'));
      expect(await readFile(`${file}.old`, 'utf8')).toBe(original);
      // A hashed entry goes too.
      await keyway(['known-hosts', 'remove', '[secret.example]:18861', '--file', file]);
      await sshKeygen(['-R', '[secret.example]:18861', '-f', p('kh5-theirs')]);
      expect(await readFile(file, 'utf8')).toBe(await readFile(p('kh5-theirs'), 'utf8'));
      const again = await keyway(['known-hosts', 'remove', 'db.example:18861', '--file', file]);
      expect(again.code).toBe(1);
      expect(again.stderr).toContain('not found');
    },
  );

  it.skipIf(!hasSshKeygen)('hash hashes every name; ssh-keygen -F still finds them', async () => {
    const file = await build('kh6');
    const r = await keyway(['known-hosts', 'hash', '--file', file]);
    expect(r.code).toBe(0);
    const text = await readFile(file, 'utf8');
    expect(text).not.toContain('example');
    expect(text).not.toContain('::1');
    expect(await readFile(`${file}.old`, 'utf8')).toContain('plain.example');
    for (const host of ['plain.example', '[db.example]:18861', '[::1]:2222']) {
      const found = await sshKeygen(['-F', host, '-f', file]);
      expect(found.code, host).toBe(0);
      expect(found.stdout).toContain('# Host');
    }
  });

  it('list prints every line with its fingerprint', async () => {
    const file = await build('kh7');
    const r = await keyway(['known-hosts', 'list', '--file', file]);
    expect(r.code).toBe(0);
    const fpA = (await keyway(['fingerprint', p('a.pub')])).stdout.split(' ')[1];
    expect(r.stdout.split('\n')[0]).toBe(`1: plain.example ${fpA} ssh-ed25519`);
    expect(r.stdout.trim().split('\n')).toHaveLength(4);
  });

  it('uses ~/.keyway/known_hosts by default', async () => {
    const home = p('home');
    const r = await keyway(['known-hosts', 'add', 'h.example', keyA], { home });
    expect(r.code).toBe(0);
    expect(await readFile(join(home, '.keyway', 'known_hosts'), 'utf8')).toContain('h.example');
  });

  it('refuses a file writable by others, with the chmod to run', async () => {
    const file = await build('kh8');
    await chmod(file, 0o666);
    const r = await keyway(['known-hosts', 'list', '--file', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`chmod go-w '${file}'`);
  });

  it('reports a file under a regular file (not a directory) and a bad key file', async () => {
    await writeFile(p('plainfile'), 'x');
    const r = await keyway(['known-hosts', 'add', 'h', keyA, '--file', p('plainfile/known_hosts')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('not a directory');
    const missing = await keyway(['known-hosts', 'add', 'h', p('nope.pub'), '--file', p('kh9')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no such file');
  });

  it('usage errors exit 2: bad host syntax, unknown action, flag of another action', async () => {
    for (const args of [
      ['known-hosts', 'find', 'host:99999'],
      ['known-hosts', 'find', '[::1'],
      ['known-hosts', 'frobnicate'],
      ['known-hosts'],
      ['known-hosts', 'find', 'h', '--hash'],
      ['known-hosts', 'add', 'h'],
    ]) {
      const r = await keyway(args, { home: p('home2') });
      expect(r.code, args.join(' ')).toBe(2);
    }
  });
});
