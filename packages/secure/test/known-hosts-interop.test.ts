/** `ssh-keygen -F/-R/-H` work on known_hosts files we write, and we read what they write. */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { generateIdentity } from '../src/identity.js';
import { KnownHosts } from '../src/known-hosts.js';
import { hasSshKeygen, sshKeygen, tempDir } from './openssh-tools.js';

const tmp = tempDir();
afterAll(tmp.cleanup);

const a = generateIdentity();
const b = generateIdentity();
const c = generateIdentity();

async function written(name: string): Promise<string> {
  const path = tmp.path(name);
  const db = await KnownHosts.load(path);
  db.add('plain.example', 22, a.publicKey, { comment: 'plain' });
  db.add('hashed.example', 22, b.publicKey, { hash: true });
  db.add('ported.example', 2222, c.publicKey);
  db.add('hashed-port.example', 18861, a.publicKey, { hash: true });
  await db.save();
  return path;
}

/** Line numbers `ssh-keygen -F` reports for a host, or [] when it finds none. */
function keygenFind(host: string, path: string): number[] {
  let out: string;
  try {
    out = sshKeygen(['-F', host, '-f', path]);
  } catch {
    return [];
  }
  return [...out.matchAll(/^# Host \S+ found: line (\d+)/gm)].map((m) => Number(m[1]));
}

describe.skipIf(!hasSshKeygen)('known_hosts interop with ssh-keygen', () => {
  it('ssh-keygen -F finds plain, hashed and [host]:port entries we wrote', async () => {
    const path = await written('kh_find');
    expect(keygenFind('plain.example', path)).toEqual([1]);
    expect(keygenFind('hashed.example', path)).toEqual([2]);
    expect(keygenFind('[ported.example]:2222', path)).toEqual([3]);
    expect(keygenFind('[hashed-port.example]:18861', path)).toEqual([4]);
    expect(keygenFind('ported.example', path)).toEqual([]);
  });

  it('ssh-keygen -R removes a hashed host from our file; we read the result', async () => {
    const path = await written('kh_remove');
    sshKeygen(['-R', 'hashed.example', '-f', path]);
    const db = await KnownHosts.load(path);
    expect(db.check('hashed.example', 22, b.publicKey).status).toBe('unknown');
    expect(db.check('plain.example', 22, a.publicKey).status).toBe('match');
    expect(db.check('ported.example', 2222, c.publicKey).status).toBe('match');
  });

  it('ssh-keygen -H hashes our file and we still find every host', async () => {
    const path = await written('kh_hash');
    sshKeygen(['-H', '-f', path]);
    const text = readFileSync(path, 'utf8');
    expect(text).not.toContain('plain.example');
    expect(text).not.toContain('ported.example');
    const db = await KnownHosts.load(path);
    expect(db.check('plain.example', 22, a.publicKey)).toEqual({ status: 'match', line: 1 });
    expect(db.check('ported.example', 2222, c.publicKey).status).toBe('match');
    expect(db.check('hashed-port.example', 18861, a.publicKey).status).toBe('match');
  });

  it('our hash() output is found by ssh-keygen -F', async () => {
    const path = tmp.path('kh_ourhash');
    const db = await KnownHosts.load(path);
    db.add('one.example', 22, a.publicKey);
    db.add('two.example', 2200, b.publicKey);
    db.hash();
    await db.save();
    expect(readFileSync(path, 'utf8')).not.toContain('example');
    expect(keygenFind('one.example', path)).toEqual([1]);
    expect(keygenFind('[two.example]:2200', path)).toEqual([2]);
  });

  it('ssh-keygen -F reports our @revoked lines', async () => {
    const path = tmp.path('kh_revoked');
    const db = await KnownHosts.load(path);
    db.add('host.example', 22, a.publicKey);
    await db.save();
    const text = `${readFileSync(path, 'utf8')}@revoked * ${b.publicKeyLine()}\n`;
    const parsed = KnownHosts.parse(text);
    await parsed.save(path);
    expect(sshKeygen(['-F', 'host.example', '-f', path])).toContain('REVOKED');
    expect((await KnownHosts.load(path)).check('host.example', 22, b.publicKey).status).toBe(
      'revoked',
    );
  });
});
