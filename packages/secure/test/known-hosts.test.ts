import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { FilePermissionError } from '../src/errors.js';
import { generateIdentity } from '../src/identity.js';
import { KnownHosts } from '../src/known-hosts.js';
import { tempDir } from './openssh-tools.js';

const tmp = tempDir();
afterAll(tmp.cleanup);

const a = generateIdentity('a');
const b = generateIdentity('b');
const c = generateIdentity('c');
const keyOf = (line: string) => line.split(' ').slice(0, 2).join(' ');
const A = keyOf(a.publicKeyLine());
const B = keyOf(b.publicKeyLine());
const C = keyOf(c.publicKeyLine());

const SAMPLE = [
  '# servers we trust',
  '',
  `alpha.example.com,192.0.2.1 ${A} alpha key`,
  `[alpha.example.com]:2222 ${B}`,
  `*.lab.example.com,!evil.lab.example.com ${C}`,
  `@revoked * ${B}`,
  `beta ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ== rsa key`,
  `@cert-authority *.example.com ${C}`,
  'garbage line',
].join('\n');

describe('KnownHosts lookups', () => {
  const db = KnownHosts.parse(SAMPLE);

  it('matches plain names, addresses and patterns, case-insensitively', () => {
    expect(db.check('alpha.example.com', 22, a.publicKey)).toEqual({ status: 'match', line: 3 });
    expect(db.check('ALPHA.example.COM', 22, a.publicKey).status).toBe('match');
    expect(db.check('192.0.2.1', 22, a.publicKey).status).toBe('match');
    expect(db.check('web.lab.example.com', 22, c.publicKey)).toEqual({ status: 'match', line: 5 });
  });

  it('keeps ports apart: [host]:port is not host', () => {
    expect(db.check('alpha.example.com', 2222, a.publicKey)).toEqual({
      status: 'mismatch',
      line: 4,
    });
    expect(db.check('alpha.example.com', 2223, a.publicKey)).toEqual({ status: 'unknown' });
  });

  it('reports a changed key as mismatch and a negated host as unknown', () => {
    expect(db.check('alpha.example.com', 22, c.publicKey)).toEqual({ status: 'mismatch', line: 3 });
    expect(db.check('evil.lab.example.com', 22, c.publicKey)).toEqual({ status: 'unknown' });
  });

  it('lets @revoked win over a matching line', () => {
    expect(db.check('alpha.example.com', 2222, b.publicKey)).toEqual({
      status: 'revoked',
      line: 6,
    });
    expect(db.check('anything', 22, b.publicKey).status).toBe('revoked');
  });

  it('treats a host known only with other key types as unknown', () => {
    expect(db.check('beta', 22, a.publicKey)).toEqual({ status: 'unknown' });
    expect(db.find('beta', 22).map((e) => [e.line, e.keyType])).toEqual([
      [6, 'ssh-ed25519'],
      [7, 'ssh-rsa'],
    ]);
  });

  it('ignores @cert-authority lines for checks and keeps unusable lines inert', () => {
    expect(db.check('ca.example.com', 22, c.publicKey)).toEqual({ status: 'unknown' });
    const listed = db.list();
    expect(listed.map((e) => e.line)).toEqual([3, 4, 5, 6, 7, 8, 9]);
    expect(listed.find((e) => e.line === 9)?.error).toBeDefined();
    expect(listed.find((e) => e.line === 8)?.marker).toBe('cert-authority');
    expect(listed.find((e) => e.line === 3)?.fingerprint).toBe(a.fingerprint);
  });

  it('prints the text back byte-for-byte', () => {
    expect(db.toString()).toBe(`${SAMPLE}\n`);
  });
});

describe('KnownHosts edits', () => {
  it('adds plain and hashed lines, once, with [host]:port for other ports', () => {
    const db = KnownHosts.parse('# kept\n');
    expect(db.add('Server.Example', 22, a.publicKey, { comment: 'first' })).toBe(2);
    expect(db.add('server.example', 22, a.publicKey)).toBe(2);
    expect(db.add('server.example', 18861, b.publicKey, { hash: true })).toBe(3);
    const lines = db.toString().split('\n');
    expect(lines[1]).toBe(`server.example ${A} first`);
    expect(lines[2]).toMatch(/^\|1\|[A-Za-z0-9+/]{27}=\|[A-Za-z0-9+/]{27}= ssh-ed25519 /);
    expect(lines[2]).not.toContain('server');
    expect(db.check('server.example', 18861, b.publicKey)).toEqual({ status: 'match', line: 3 });
    expect(db.check('server.example', 22, b.publicKey).status).toBe('mismatch');
  });

  it('refuses patterns, bad ports and bad keys', () => {
    const db = new KnownHosts();
    expect(() => db.add('*.example', 22, a.publicKey)).toThrow(TypeError);
    expect(() => db.add('a,b', 22, a.publicKey)).toThrow(TypeError);
    expect(() => db.add('host', 0, a.publicKey)).toThrow(RangeError);
    expect(() => db.add('host', 70000, a.publicKey)).toThrow(RangeError);
    expect(() => db.add('host', 22, new Uint8Array(31))).toThrow(RangeError);
    expect(() => db.add('host', 22, a.publicKey, { comment: 'x\ny' })).toThrow(TypeError);
  });

  it('removes plain lines for a host but keeps marker lines', () => {
    const db = KnownHosts.parse(SAMPLE);
    expect(db.remove('alpha.example.com', 2222)).toBe(1);
    expect(db.check('alpha.example.com', 2222, b.publicKey).status).toBe('revoked');
    expect(db.remove('web.lab.example.com', 22)).toBe(1);
    expect(db.remove('nobody', 22)).toBe(0);
    expect(db.toString()).toContain('@revoked *');
    expect(db.toString()).toContain('# servers we trust');
  });

  it('hashes plain names one line per name and keeps patterns and markers', () => {
    const db = KnownHosts.parse(SAMPLE);
    db.hash();
    const text = db.toString();
    expect(text).not.toContain('alpha.example.com');
    expect(text).not.toContain('192.0.2.1');
    expect(text).toContain('*.lab.example.com,!evil.lab.example.com');
    expect(text).toContain(`@revoked * ${B}`);
    expect(db.check('alpha.example.com', 22, a.publicKey).status).toBe('match');
    expect(db.check('192.0.2.1', 22, a.publicKey).status).toBe('match');
    expect(db.check('alpha.example.com', 2222, a.publicKey).status).toBe('mismatch');
    expect(db.list().filter((e) => e.hashed)).toHaveLength(4);
    expect(db.list().find((e) => e.hashed && e.comment === 'alpha key')).toBeDefined();
  });

  it('treats a malformed hashed name as unusable', () => {
    const db = KnownHosts.parse(`|1|AAAA|BBBB ${A}\n|1|x ${A}`);
    expect(db.list().every((e) => e.error === 'malformed hashed host name')).toBe(true);
    expect(db.check('AAAA', 22, a.publicKey).status).toBe('unknown');
  });
});

describe('KnownHosts files', () => {
  it('reads a missing file as empty and saves with mode 0600, then keeps mode and .old', async () => {
    const path = tmp.path('known_hosts');
    const db = await KnownHosts.load(path);
    expect(db.list()).toEqual([]);
    db.add('one', 22, a.publicKey);
    await db.save();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    chmodSync(path, 0o644);
    const again = await KnownHosts.load(path);
    again.add('two', 22, b.publicKey);
    await again.save();
    expect(statSync(path).mode & 0o777).toBe(0o644);
    expect(readFileSync(`${path}.old`, 'utf8')).toBe(`one ${A}\n`);
    expect(readFileSync(path, 'utf8')).toBe(`one ${A}\ntwo ${B}\n`);
    expect((await KnownHosts.load(path)).check('two', 22, b.publicKey).status).toBe('match');
  });

  it('refuses a file or directory writable by group or others', async () => {
    const dir = tmp.path('shared');
    mkdirSync(dir, { mode: 0o700 });
    const path = `${dir}/known_hosts`;
    writeFileSync(path, `one ${A}\n`, { mode: 0o600 });
    for (const mode of [0o620, 0o602, 0o666]) {
      chmodSync(path, mode);
      await expect(KnownHosts.load(path)).rejects.toBeInstanceOf(FilePermissionError);
    }
    chmodSync(path, 0o644);
    await expect(KnownHosts.load(path)).resolves.toBeInstanceOf(KnownHosts);
    chmodSync(dir, 0o777);
    await expect(KnownHosts.load(path)).rejects.toThrow(/directory/);
    chmodSync(dir, 0o1777);
    await expect(KnownHosts.load(path)).resolves.toBeInstanceOf(KnownHosts);
    chmodSync(dir, 0o700);
  });

  it('needs a path to save an in-memory database', async () => {
    await expect(new KnownHosts().save()).rejects.toThrow(TypeError);
  });
});
