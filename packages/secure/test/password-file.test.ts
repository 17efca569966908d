/**
 * PasswordFile: records only (the saved file is grepped for the password and its plain
 * hashes), strict permissions, atomic 0600 saves, strict parsing, and records that still
 * log in after a save/load round trip.
 */
import { createHash } from 'node:crypto';
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FilePermissionError, KeyFormatError } from '../src/errors.js';
import { OpaqueClientLogin } from '../src/opaque/client.js';
import type { KsfParams } from '../src/opaque/ksf.js';
import { deriveServerSetup, OpaqueServer } from '../src/opaque/server.js';
import { PasswordFile, PasswordFileError } from '../src/password-file.js';

const cheap: KsfParams = { algorithm: 'scrypt', N: 1024, r: 8, p: 1 };
const server = new OpaqueServer(deriveServerSetup(new Uint8Array(32).fill(9)));
let dir = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keyway-passwords-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('PasswordFile', () => {
  it('a missing file is an empty database bound to its path', async () => {
    const f = await PasswordFile.load(join(dir, 'missing'));
    expect(f.size).toBe(0);
    expect(f.list()).toEqual([]);
    expect(f.path).toBe(join(dir, 'missing'));
  });

  it('never contains the password or a plain hash of it', async () => {
    const password = 'Tr0ub4dor&3-correct-horse';
    const path = join(dir, 'grep');
    const f = await PasswordFile.load(path);
    await f.register(server, 'alice', password); // default KSF: scrypt N=2^16, r=8, p=1
    await f.save();
    const text = await readFile(path, 'utf8');
    expect(text).toMatch(/^alice scrypt:N=65536,r=8,p=1 \d{4}-/m);
    const pw = Buffer.from(password, 'utf8');
    const forms = [password, pw.toString('hex'), pw.toString('base64'), pw.toString('base64url')];
    for (const algo of ['md5', 'sha1', 'sha256', 'sha512']) {
      const d = createHash(algo).update(pw).digest();
      forms.push(d.toString('hex'), d.toString('base64'), d.toString('base64url'));
    }
    for (const form of forms) expect(text.toLowerCase()).not.toContain(form.toLowerCase());
  });

  it('saves atomically with mode 0600 and loads back records that log in', async () => {
    const path = join(dir, 'roundtrip');
    const f = new PasswordFile(path);
    const created = new Date('2026-01-02T03:04:05.000Z');
    await f.register(server, 'alice', 'pw-a', { ksf: cheap, now: created });
    await f.register(server, 'bob', 'pw-b', { ksf: cheap });
    await f.save();
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await readdir(dir)).filter((n) => n.endsWith('.tmp'))).toEqual([]);

    const g = await PasswordFile.load(path);
    expect(g.list().map((e) => e.user)).toEqual(['alice', 'bob']);
    expect(g.get('alice')!.created).toEqual(created);
    expect(g.get('alice')!.ksf).toEqual(cheap);
    expect(g.serverPublicKey).toEqual(server.publicKey);
    expect(g.toString()).toBe(f.toString());

    const entry = g.get('alice')!;
    const { ke1, login } = OpaqueClientLogin.start('pw-a');
    const { ke2, login: srv } = server.startLogin(ke1, 'alice', entry.record);
    const { ke3, sessionKey } = await login.finish(ke2, { ksf: entry.ksf });
    expect(srv.finish(ke3).sessionKey).toEqual(sessionKey);

    expect(g.remove('alice')).toBe(true);
    expect(g.remove('alice')).toBe(false);
    await g.save();
    expect((await PasswordFile.load(path)).list().map((e) => e.user)).toEqual(['bob']);
  });

  it('re-registering a user replaces the record, keeping other users', async () => {
    const f = new PasswordFile();
    const first = await f.register(server, 'alice', 'old', { ksf: cheap });
    await f.register(server, 'carol', 'x', { ksf: cheap });
    const second = await f.register(server, 'alice', 'new', { ksf: cheap });
    expect(f.size).toBe(2);
    expect(f.get('alice')).toBe(second);
    expect(second.record.clientPublicKey).not.toEqual(first.record.clientPublicKey);
  });

  it('refuses files writable by group or others', async () => {
    const path = join(dir, 'perm');
    await new PasswordFile().save(path);
    for (const mode of [0o620, 0o602, 0o666]) {
      await chmod(path, mode);
      await expect(PasswordFile.load(path)).rejects.toThrow(FilePermissionError);
    }
    await chmod(path, 0o644);
    await expect(PasswordFile.load(path)).resolves.toBeInstanceOf(PasswordFile);
  });

  it('refuses records made for another server key', async () => {
    const f = new PasswordFile();
    await f.register(server, 'alice', 'pw', { ksf: cheap });
    const other = new OpaqueServer(deriveServerSetup(new Uint8Array(32).fill(10)));
    await expect(f.register(other, 'bob', 'pw', { ksf: cheap })).rejects.toThrow(PasswordFileError);
    expect(f.has('bob')).toBe(false);
  });

  it('refuses the identity KSF for stored records', async () => {
    await expect(
      new PasswordFile().register(server, 'alice', 'pw', { ksf: { algorithm: 'identity' } }),
    ).rejects.toThrow(/identity KSF/);
  });

  it('save() without a path is a typed error; bad user names are refused', async () => {
    await expect(new PasswordFile().save()).rejects.toThrow(PasswordFileError);
    const f = new PasswordFile();
    for (const bad of [
      '',
      'a b',
      '#x',
      '@x',
      'tab\t',
      'x'.repeat(256),
      'e\u0301',
      'a\u202eb',
      'z\u200dw',
    ]) {
      await expect(f.register(server, bad, 'pw', { ksf: cheap }), bad).rejects.toThrow();
    }
  });

  it('accepts non-ASCII NFC user names and keeps them through save/load', async () => {
    const f = new PasswordFile();
    await f.register(server, 'jos\u00e9', 'pw', { ksf: cheap });
    await f.register(server, '\u30e6\u30fc\u30b6', 'pw', { ksf: cheap });
    expect(
      PasswordFile.parse(f.toString())
        .list()
        .map((e) => e.user),
    ).toEqual(['jos\u00e9', '\u30e6\u30fc\u30b6']);
  });

  it('parses strictly, naming the line', async () => {
    const f = new PasswordFile();
    await f.register(server, 'alice', 'pw', { ksf: cheap });
    const good = f.toString();
    const line = good.split('\n').find((l) => l.startsWith('alice '))!;
    const [user, ksf, created, record] = line.split(' ') as [string, string, string, string];
    const bad = [
      `${user} ${ksf} ${created}`,
      `${user} ${ksf} ${created} ${record} extra`,
      `${user} scrypt:N=3,r=8,p=1 ${created} ${record}`,
      `${user} ${ksf} yesterday ${record}`,
      `${user} identity ${created} ${record}`,
      `${user} ${ksf} ${created} ${record.slice(0, -2)}`,
      `${user} ${ksf} ${created} ${record.replace(/^./, '!')}`,
      `${line}\n${line}`,
      '@server-key AAAA',
      '@server-key',
    ];
    for (const text of bad) {
      expect(() => PasswordFile.parse(`# c\n${text}\n`), text).toThrow(KeyFormatError);
      expect(() => PasswordFile.parse(`# c\n${text}\n`), text).toThrow(/^line [23]: /);
    }
    expect(PasswordFile.parse(good).list()).toHaveLength(1);
    expect(PasswordFile.parse(good.replaceAll('\n', '\r\n')).list()).toHaveLength(1);
  });

  it('load reports a malformed file as KeyFormatError', async () => {
    const path = join(dir, 'bad');
    await writeFile(path, 'alice nonsense\n', { mode: 0o600 });
    await expect(PasswordFile.load(path)).rejects.toThrow(KeyFormatError);
  });
});
