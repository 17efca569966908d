/**
 * Interop with the real OpenSSH `ssh-keygen`: keys it makes load, keys we write it reads,
 * fingerprints are byte-identical to `ssh-keygen -lf`.
 */
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { KeyFormatError } from '../src/errors.js';
import { generateIdentity, loadIdentity } from '../src/identity.js';
import { parsePublicKey } from '../src/openssh/public-key.js';
import { hasSshKeygen, sshKeygen, tempDir } from './openssh-tools.js';

const tmp = tempDir();
afterAll(tmp.cleanup);

/** `ssh-keygen -lf` prints `256 SHA256:… comment (ED25519)`; take the hash field. */
function keygenFingerprint(file: string): string {
  const fields = sshKeygen(['-l', '-E', 'sha256', '-f', file]).trim().split(' ');
  return fields[1] ?? '';
}

describe.skipIf(!hasSshKeygen)('ssh-keygen interop', () => {
  it('loads a plain key ssh-keygen made, with the same public line and fingerprint', async () => {
    const file = tmp.path('made_plain');
    sshKeygen(['-q', '-t', 'ed25519', '-N', '', '-C', 'made by ssh-keygen', '-f', file]);
    const id = await loadIdentity(file);
    expect(id.comment).toBe('made by ssh-keygen');
    expect(`${id.publicKeyLine()}\n`).toBe(readFileSync(`${file}.pub`, 'utf8'));
    expect(id.fingerprint).toBe(keygenFingerprint(file));
    expect(parsePublicKey(readFileSync(`${file}.pub`, 'utf8')).fingerprint).toBe(id.fingerprint);
  });

  it('loads a passphrase-protected key ssh-keygen made (bcrypt_pbkdf, aes256-ctr)', async () => {
    const file = tmp.path('made_locked');
    sshKeygen(['-q', '-t', 'ed25519', '-N', 'open sesame', '-C', 'locked', '-f', file]);
    const text = readFileSync(file, 'utf8');
    expect(Buffer.from(text.split('\n')[1] ?? '', 'base64').toString('latin1')).toContain(
      'aes256-ctr',
    );
    const id = await loadIdentity(file, { passphrase: 'open sesame' });
    expect(id.fingerprint).toBe(keygenFingerprint(file));
    await expect(loadIdentity(file, { passphrase: 'open sesame!' })).rejects.toThrow(
      /incorrect passphrase/,
    );
    await expect(loadIdentity(file)).rejects.toBeInstanceOf(KeyFormatError);
  });

  it('loads a key ssh-keygen encrypted with aes256-gcm@openssh.com and more rounds', async () => {
    const file = tmp.path('made_gcm');
    sshKeygen([
      '-q',
      '-t',
      'ed25519',
      '-N',
      'pw',
      '-a',
      '20',
      '-Z',
      'aes256-gcm@openssh.com',
      '-f',
      file,
    ]);
    const id = await loadIdentity(file, { passphrase: 'pw' });
    expect(id.fingerprint).toBe(keygenFingerprint(file));
    await expect(loadIdentity(file, { passphrase: 'px' })).rejects.toThrow(/incorrect passphrase/);
  });

  it('writes plain keys ssh-keygen reads (-y) with identical public line', () => {
    const id = generateIdentity('written by keyway');
    const files = id.toOpenSSH();
    const file = tmp.path('ours_plain');
    writeFileSync(file, files.privateKey, { mode: 0o600 });
    chmodSync(file, 0o600);
    writeFileSync(`${file}.pub`, files.publicKey);
    expect(sshKeygen(['-y', '-f', file])).toBe(files.publicKey);
    expect(keygenFingerprint(file)).toBe(id.fingerprint);
    expect(keygenFingerprint(`${file}.pub`)).toBe(id.fingerprint);
  });

  it('writes passphrase-protected keys ssh-keygen reads with -P, and rejects a wrong one', () => {
    const id = generateIdentity('locked by keyway');
    const file = tmp.path('ours_locked');
    writeFileSync(file, id.toOpenSSH({ passphrase: 'hunter2' }).privateKey, { mode: 0o600 });
    chmodSync(file, 0o600);
    expect(sshKeygen(['-y', '-P', 'hunter2', '-f', file])).toBe(`${id.publicKeyLine()}\n`);
    expect(() => sshKeygen(['-y', '-P', 'hunter3', '-f', file])).toThrow();
  });

  it('reads back a key after ssh-keygen changes its passphrase and comment', async () => {
    const id = generateIdentity('before');
    const file = tmp.path('ours_rewritten');
    writeFileSync(file, id.toOpenSSH({ passphrase: 'one', rounds: 4 }).privateKey, { mode: 0o600 });
    chmodSync(file, 0o600);
    sshKeygen(['-q', '-p', '-P', 'one', '-N', 'two', '-f', file]);
    sshKeygen(['-q', '-c', '-P', 'two', '-C', 'after', '-f', file]);
    const back = await loadIdentity(file, { passphrase: 'two' });
    expect(back.fingerprint).toBe(id.fingerprint);
    expect(back.comment).toBe('after');
  });

  it('fingerprints many generated keys exactly as ssh-keygen -lf', () => {
    for (let i = 0; i < 5; i++) {
      const id = generateIdentity(`k${i}`);
      const pub = tmp.path(`fp${i}.pub`);
      writeFileSync(pub, id.toOpenSSH().publicKey);
      expect(sshKeygen(['-l', '-f', pub])).toBe(`256 ${id.fingerprint} k${i} (ED25519)\n`);
    }
  });
});
