import { chmod, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { available, keyway, keywayInTerminal, sshKeygen, tempDir } from './helpers.js';

const hasSshKeygen = available('ssh-keygen', ['-?']);
const hasPython = available('python3', ['--version']);

let dir: string;
let cleanup: () => Promise<void>;
const p = (name: string) => join(dir, name);

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  // One key of each kind keyway reads, made by keyway itself.
  await keyway(['keygen', '-f', p('plain'), '-C', 'plain@host', '-N', '']);
  await keyway(['keygen', '-f', p('enc'), '-C', 'enc@host', '-N', 'pw']);
  await keyway(['keygen', '-f', p('nocomment'), '-C', '', '-N', '']);
});
afterAll(() => cleanup());

describe.skipIf(!hasSshKeygen)('keyway fingerprint matches ssh-keygen -lf', () => {
  async function same(args: string[], file: string, input?: string) {
    const ours = await keyway([...args, file], input === undefined ? {} : { input });
    const theirs = await sshKeygen(['-l', '-f', file], input);
    expect(ours.code).toBe(0);
    expect(theirs.code).toBe(0);
    expect(ours.stdout).toBe(theirs.stdout);
    return ours.stdout;
  }

  it('for .pub files, with and without a comment', async () => {
    expect(await same(['fingerprint'], p('plain.pub'))).toMatch(
      /^256 SHA256:\S{43} plain@host \(ED25519\)\n$/,
    );
    expect(await same(['-l'], p('nocomment.pub'))).toContain(' no comment (ED25519)');
  });

  it('for private key files, with the .pub beside them and without', async () => {
    await same(['fingerprint'], p('plain'));
    await same(['fingerprint', '-P', 'pw'], p('enc'));
    await rename(p('enc.pub'), p('enc.pub.away'));
    try {
      await same(['fingerprint', '-P', 'pw'], p('enc'));
    } finally {
      await rename(p('enc.pub.away'), p('enc.pub'));
    }
  });

  it('for a key made by ssh-keygen', async () => {
    await sshKeygen(['-q', '-t', 'ed25519', '-f', p('theirs'), '-N', '', '-C', 'from ssh-keygen']);
    await same(['fingerprint'], p('theirs'));
    await same(['fingerprint'], p('theirs.pub'));
  });

  it('for authorized_keys and known_hosts files with other key types, options, markers and junk', async () => {
    await sshKeygen(['-q', '-t', 'rsa', '-b', '2048', '-f', p('rsa'), '-N', '', '-C', 'rsa@x']);
    await sshKeygen(['-q', '-t', 'ecdsa', '-f', p('ecdsa'), '-N', '', '-C', 'ec']);
    const ed = (await readFile(p('plain.pub'), 'utf8')).trim();
    const bare = ed.split(' ').slice(0, 2).join(' ');
    const rsa = (await readFile(p('rsa.pub'), 'utf8')).trim();
    const ecdsa = (await readFile(p('ecdsa.pub'), 'utf8')).trim();
    await writeFile(
      p('authorized_keys'),
      `# comment\n\nfrom="10.0.0.0/8",keyway-services="A B" ${bare}\n  ${rsa}\n${ecdsa}\nrestrict ${ed}\nnot a key\n`,
    );
    await writeFile(
      p('known_hosts'),
      `h1,h2 ${bare}\n[h]:2222 ${bare} cmt\n@revoked h3 ${bare}\n@cert-authority *.x ${bare}\n|1|abc|def ${rsa}\ngarbage\n`,
    );
    expect((await same(['fingerprint'], p('authorized_keys'))).split('\n')).toHaveLength(5);
    expect((await same(['fingerprint'], p('known_hosts'))).split('\n')).toHaveLength(4);
  });

  it('for standard input (-)', async () => {
    const text = await readFile(p('plain.pub'), 'utf8');
    await same(['fingerprint'], '-', text);
  });
});

describe('keyway fingerprint failures', () => {
  it('a missing file: exit 1, names the file', async () => {
    const r = await keyway(['fingerprint', p('missing.pub')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('missing.pub: no such file or directory');
  });

  it('a file without keys: exit 1, says so', async () => {
    await writeFile(p('junk'), 'hello\n');
    const r = await keyway(['fingerprint', p('junk')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('is not a public key file');
  });

  it('an encrypted key without -P and without a terminal: exit 1, says to pass -P', async () => {
    await rename(p('enc.pub'), p('enc.pub.away'));
    try {
      const r = await keyway(['fingerprint', p('enc')]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('-P');
    } finally {
      await rename(p('enc.pub.away'), p('enc.pub'));
    }
  });

  it('no argument is a usage error', async () => {
    expect((await keyway(['fingerprint'])).code).toBe(2);
  });
});

describe.skipIf(!hasSshKeygen)('keyway pubkey matches ssh-keygen -y', () => {
  it('for plain and encrypted keys, ours and ssh-keygen’s', async () => {
    for (const [file, pass] of [
      ['plain', ''],
      ['enc', 'pw'],
      ['theirs', ''],
    ] as const) {
      const ours = await keyway(['-y', '-P', pass, p(file)]);
      const theirs = await sshKeygen(['-y', '-P', pass, '-f', p(file)]);
      expect(ours.code).toBe(0);
      expect(ours.stdout).toBe(theirs.stdout);
    }
  });
});

describe('keyway pubkey failures', () => {
  it.skipIf(!hasPython)(
    'asks for the passphrase of an encrypted key on a terminal, without echo',
    async () => {
      const good = await keywayInTerminal(['pubkey', 'enc'], ['pw'], dir);
      expect(good.code).toBe(0);
      expect(good.stdout).toContain('Enter passphrase for enc: ');
      expect(good.stdout).toContain(await readFile(p('enc.pub'), 'utf8').then((t) => t.trim()));
      const bad = await keywayInTerminal(['pubkey', 'enc'], ['not it'], dir);
      expect(bad.code).toBe(1);
      expect(bad.stdout).toContain('incorrect passphrase');
      expect(bad.stdout).not.toContain('not it');
    },
  );

  it('a wrong passphrase: exit 1, says the passphrase is wrong', async () => {
    const r = await keyway(['pubkey', '-P', 'nope', p('enc')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('incorrect passphrase');
    expect(r.stderr).not.toContain('nope');
  });

  it('a key file readable by others: exit 1 with the chmod to run', async () => {
    await writeFile(p('open'), await readFile(p('plain'), 'utf8'));
    await chmod(p('open'), 0o644);
    const r = await keyway(['pubkey', p('open')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`chmod 600 '${p('open')}'`);
  });

  it('a corrupt key file: exit 1, says what is wrong', async () => {
    const text = await readFile(p('plain'), 'utf8');
    const lines = text.split('\n');
    lines[2] = `${lines[2]!.slice(0, 10)}!!!!${lines[2]!.slice(14)}`;
    await writeFile(p('corrupt'), lines.join('\n'), { mode: 0o600 });
    const r = await keyway(['pubkey', p('corrupt')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/corrupt: /);
    await writeFile(p('truncated'), text.slice(0, 120), { mode: 0o600 });
    const t = await keyway(['pubkey', p('truncated')]);
    expect(t.code).toBe(1);
    expect(t.stderr).toContain('OpenSSH');
  });
});
