import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { AuthorizedKeys } from '../src/authorized-keys.js';
import { FilePermissionError, KeyFormatError } from '../src/errors.js';
import { generateIdentity } from '../src/identity.js';
import { parseExpiryTime } from '../src/openssh/key-options.js';
import { tempDir } from './openssh-tools.js';

const tmp = tempDir();
afterAll(tmp.cleanup);

const alice = generateIdentity('alice@laptop');
const bob = generateIdentity('bob@desk');
const carol = generateIdentity('carol@ci');
const dave = generateIdentity('dave');
const eve = generateIdentity('eve');
const key = (id: typeof alice) => id.publicKeyLine();

const SAMPLE = [
  '# keys allowed in',
  key(alice),
  `from="192.0.2.0/24,!192.0.2.66,*.trusted.example",restrict ${key(bob)}`,
  `expiry-time="20300101Z",keyway-services="calc,stats" ${key(carol)}`,
  `command="/bin/true" ${key(dave)}`,
  `no-pty,no-port-forwarding ${key(eve)}`,
  `restrict,pty ${key(eve).replace('eve', 'eve again')}`,
  'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ== rsa',
  'not a key line at all',
].join('\n');

describe('AuthorizedKeys.authorize', () => {
  const db = AuthorizedKeys.parse(SAMPLE);

  it('authorizes a plain key and reports fingerprint, comment and line', async () => {
    expect(await db.authorize(alice.publicKey)).toEqual({
      fingerprint: alice.fingerprint,
      comment: 'alice@laptop',
      options: { restrict: false, flags: [] },
      line: 2,
    });
    expect(await db.authorize(generateIdentity().publicKey)).toBeUndefined();
  });

  it('honours from= with CIDR, negation and patterns', async () => {
    expect((await db.authorize(bob.publicKey, { remoteAddress: '192.0.2.7' }))?.options).toEqual({
      restrict: true,
      from: '192.0.2.0/24,!192.0.2.66,*.trusted.example',
      flags: [],
    });
    expect(await db.authorize(bob.publicKey, { remoteAddress: '::ffff:192.0.2.7' })).toBeDefined();
    expect(await db.authorize(bob.publicKey, { remoteAddress: '192.0.2.66' })).toBeUndefined();
    expect(await db.authorize(bob.publicKey, { remoteAddress: '198.51.100.1' })).toBeUndefined();
    // No address given: a from= line fails closed.
    expect(await db.authorize(bob.publicKey)).toBeUndefined();
  });

  it('honours expiry-time up to and including the instant', async () => {
    const service = 'calc';
    expect(
      await db.authorize(carol.publicKey, { service, now: new Date('2029-12-31T23:59:59Z') }),
    ).toBeDefined();
    expect(
      await db.authorize(carol.publicKey, { service, now: new Date('2030-01-01T00:00:00Z') }),
    ).toBeDefined();
    expect(
      await db.authorize(carol.publicKey, { service, now: new Date('2030-01-01T00:00:01Z') }),
    ).toBeUndefined();
  });

  it('refuses an invalid now instead of never expiring keys', async () => {
    await expect(
      db.authorize(carol.publicKey, { service: 'calc', now: new Date('garbage') }),
    ).rejects.toThrow(TypeError);
  });

  it('honours keyway-services and fails closed without a service name', async () => {
    const now = new Date('2026-01-01T00:00:00Z');
    expect(
      (await db.authorize(carol.publicKey, { service: 'stats', now }))?.options.services,
    ).toEqual(['calc', 'stats']);
    expect(await db.authorize(carol.publicKey, { service: 'admin', now })).toBeUndefined();
    expect(await db.authorize(carol.publicKey, { now })).toBeUndefined();
  });

  it('never authorizes a line with an option keyway cannot honour, and says why', async () => {
    expect(await db.authorize(dave.publicKey)).toBeUndefined();
    const explained = await db.explain(dave.publicKey);
    expect(explained.refusals).toEqual([
      { line: 5, reason: expect.stringMatching(/unsupported option "command"/) },
    ]);
    expect(db.list().find((e) => e.line === 5)?.error).toMatch(/command/);
  });

  it('accepts no-op flags and takes the first line that allows the key', async () => {
    const match = await db.authorize(eve.publicKey);
    expect(match?.line).toBe(6);
    expect(match?.options.flags).toEqual(['no-pty', 'no-port-forwarding']);
  });

  it('lists every key line, marking what cannot authorize', () => {
    const listed = db.list();
    expect(listed.map((e) => e.line)).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
    expect(listed.find((e) => e.line === 8)?.error).toMatch(/not supported/);
    expect(listed.find((e) => e.line === 9)?.error).toBeDefined();
    expect(listed.find((e) => e.line === 3)?.optionsText).toBe(
      'from="192.0.2.0/24,!192.0.2.66,*.trusted.example",restrict',
    );
    expect(db.toString()).toBe(`${SAMPLE}\n`);
  });

  it('refuses malformed option text', async () => {
    for (const options of [
      'from=192.0.2.1',
      'from="192.0.2.1',
      'expiry-time="2030"',
      'expiry-time="20301301"',
      'expiry-time="20300230"',
      'restrict,restrict',
      'restrict,',
      'restrict="yes"',
      'keyway-services=""',
      'keyway-services="a b"',
      'from="192.0.2.0/24",from="10.0.0.0/8"',
      'cert-authority',
      'principals="alice"',
      'environment="A=B"',
      'permitopen="host:22"',
    ]) {
      const one = AuthorizedKeys.parse(`${options} ${key(alice)}`);
      expect(one.list()[0]?.error, options).toBeDefined();
      expect(
        await one.authorize(alice.publicKey, { remoteAddress: '192.0.2.1', service: 'a' }),
        options,
      ).toBeUndefined();
    }
  });

  it('handles quoted commas and escaped quotes in option values', () => {
    const one = AuthorizedKeys.parse(
      `keyway-services="a,b",from="10.0.0.0/8,\\"x\\"" ${key(alice)}`,
    );
    expect(one.list()[0]?.options.from).toBe('10.0.0.0/8,"x"');
    expect(one.list()[0]?.options.services).toEqual(['a', 'b']);
  });

  it('parses expiry times in UTC and local time', () => {
    expect(parseExpiryTime('20300102')?.getTime()).toBe(new Date(2030, 0, 2).getTime());
    expect(parseExpiryTime('203001020304Z')?.toISOString()).toBe('2030-01-02T03:04:00.000Z');
    expect(parseExpiryTime('20300102030405Z')?.toISOString()).toBe('2030-01-02T03:04:05.000Z');
    expect(parseExpiryTime('2030010203')).toBeUndefined();
    expect(parseExpiryTime('20300102250000Z')).toBeUndefined();
  });
});

describe('AuthorizedKeys edits and files', () => {
  it('adds lines with structured or text options and removes by key or fingerprint', async () => {
    const db = new AuthorizedKeys();
    expect(db.add(key(alice))).toBe(1);
    expect(
      db.add(bob.publicKey, {
        options: {
          restrict: true,
          from: ['10.0.0.0/8', '!10.0.0.1'],
          expiryTime: new Date('2031-02-03T04:05:06Z'),
          services: ['calc'],
        },
        comment: 'bob',
      }),
    ).toBe(2);
    expect(db.add(key(carol), { options: 'no-pty' })).toBe(3);
    expect(db.toString().split('\n')[1]).toBe(
      `restrict,from="10.0.0.0/8,!10.0.0.1",expiry-time="20310203040506Z",keyway-services="calc" ${bob.publicKeyLine().replace('bob@desk', 'bob')}`,
    );
    const match = await db.authorize(bob.publicKey, {
      remoteAddress: '10.1.2.3',
      service: 'calc',
      now: new Date('2030-01-01'),
    });
    expect(match?.options.expiryTime?.toISOString()).toBe('2031-02-03T04:05:06.000Z');
    expect(() => db.add(key(dave), { options: 'command="ls"' })).toThrow(KeyFormatError);
    expect(() => db.add(key(dave), { options: 'from="a" x' })).toThrow(KeyFormatError);
    expect(() => db.add(key(dave), { options: { services: [] } })).toThrow(TypeError);
    expect(() => db.add('ssh-rsa AAAA')).toThrow(KeyFormatError);
    expect(db.remove(alice.publicKey)).toBe(1);
    expect(db.remove(carol.fingerprint)).toBe(1);
    expect(db.remove(carol.fingerprint)).toBe(0);
    expect(db.list()).toHaveLength(1);
  });

  it('re-reads the file when it changes on disk, so removal takes effect at once', async () => {
    const path = tmp.path('authorized_keys');
    const db = await AuthorizedKeys.load(path);
    expect(await db.authorize(alice.publicKey)).toBeUndefined();
    writeFileSync(path, `${key(alice)}\n`, { mode: 0o600 });
    expect((await db.authorize(alice.publicKey))?.line).toBe(1);
    // A different size and mtime: the key is gone.
    writeFileSync(path, `# revoked alice\n${key(bob)}\n`);
    expect(await db.authorize(alice.publicKey)).toBeUndefined();
    expect((await db.authorize(bob.publicKey))?.line).toBe(2);
    chmodSync(path, 0o666);
    writeFileSync(path, `${key(alice)}\n`);
    await expect(db.authorize(alice.publicKey)).rejects.toBeInstanceOf(FilePermissionError);
    chmodSync(path, 0o600);
  });

  it('keeps unsaved edits over the file until save, then follows the file again', async () => {
    const path = tmp.path('authorized_keys_edit');
    writeFileSync(path, `${key(alice)}\n`, { mode: 0o640 });
    const db = await AuthorizedKeys.load(path);
    db.add(key(bob));
    writeFileSync(path, `${key(carol)}\n`);
    // The unsaved addition is replayed over what the file says now.
    expect(await db.authorize(bob.publicKey)).toBeDefined();
    expect(await db.authorize(carol.publicKey)).toBeDefined();
    await db.save();
    expect(statSync(path).mode & 0o777).toBe(0o640);
    expect(readFileSync(`${path}.old`, 'utf8')).toBe(`${key(carol)}\n`);
    expect(readFileSync(path, 'utf8')).toBe(`${key(carol)}\n${key(bob)}\n`);
    await new Promise((resolve) => setTimeout(resolve, 20));
    writeFileSync(path, `${key(carol)}\n`);
    expect(await db.authorize(bob.publicKey)).toBeUndefined();
    expect(await db.authorize(carol.publicKey)).toBeDefined();
  });

  it('a key revoked on disk stops working while the object holds unsaved edits', async () => {
    const path = tmp.path('authorized_keys_revoke');
    writeFileSync(path, `${key(alice)}\n${key(bob)}\n`, { mode: 0o600 });
    const db = await AuthorizedKeys.load(path);
    db.add(key(carol));
    db.remove(dave.publicKey);
    // The administrator revokes alice in the file; this process still holds its edits.
    writeFileSync(path, `# alice revoked\n${key(bob)}\n${key(dave)}\n`);
    expect(await db.authorize(alice.publicKey)).toBeUndefined();
    expect(await db.authorize(bob.publicKey)).toBeDefined();
    expect(await db.authorize(carol.publicKey)).toBeDefined();
    // The unsaved removal applies to a line that appeared on disk after it was made.
    expect(await db.authorize(dave.publicKey)).toBeUndefined();
    // Saving writes the edits over the current file, not over the stale copy.
    await new Promise((resolve) => setTimeout(resolve, 20));
    writeFileSync(path, `${key(bob)}\n`);
    await db.save();
    expect(readFileSync(path, 'utf8')).toBe(`${key(bob)}\n${key(carol)}\n`);
  });

  it('treats a missing file as empty and refuses one writable by others', async () => {
    const path = tmp.path('ak_perm');
    expect((await AuthorizedKeys.load(path)).list()).toEqual([]);
    writeFileSync(path, `${key(alice)}\n`, { mode: 0o600 });
    chmodSync(path, 0o620);
    await expect(AuthorizedKeys.load(path)).rejects.toBeInstanceOf(FilePermissionError);
  });
});
