/** ssh-keygen reads the authorized_keys lines we write, options and all. */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { AuthorizedKeys } from '../src/authorized-keys.js';
import { generateIdentity } from '../src/identity.js';
import { hasSshKeygen, sshKeygen, tempDir } from './openssh-tools.js';

const tmp = tempDir();
afterAll(tmp.cleanup);

describe.skipIf(!hasSshKeygen)('authorized_keys interop with ssh-keygen', () => {
  it('ssh-keygen -lf fingerprints every line we wrote, in order', async () => {
    const path = tmp.path('authorized_keys');
    const ids = [generateIdentity('one'), generateIdentity('two'), generateIdentity('three')];
    const db = await AuthorizedKeys.load(path);
    db.add(ids[0]!.publicKeyLine());
    db.add(ids[1]!.publicKey, {
      options: {
        restrict: true,
        from: '10.0.0.0/8,!10.0.0.1',
        expiryTime: new Date('2031-01-01T00:00:00Z'),
      },
      comment: 'two',
    });
    db.add(ids[2]!.publicKeyLine(), { options: { services: ['calc', 'stats'] } });
    await db.save();
    const lines = sshKeygen(['-l', '-f', path]).trim().split('\n');
    expect(lines).toEqual(ids.map((id) => `256 ${id.fingerprint} ${id.comment} (ED25519)`));
  });

  it('reads a line ssh-keygen made into an authorized_keys file', async () => {
    const file = tmp.path('client');
    sshKeygen(['-q', '-t', 'ed25519', '-N', '', '-C', 'client@host', '-f', file]);
    const fingerprint = sshKeygen(['-l', '-f', `${file}.pub`]).split(' ')[1];
    const db = AuthorizedKeys.parse(
      `restrict,from="127.0.0.1" ${readFileSync(`${file}.pub`, 'utf8')}`,
    );
    const entry = db.list()[0];
    expect(entry?.fingerprint).toBe(fingerprint);
    const match = await db.authorize(entry!.publicKey!, { remoteAddress: '127.0.0.1' });
    expect(match?.comment).toBe('client@host');
  });
});
