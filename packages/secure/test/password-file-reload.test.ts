/**
 * `keyway passwd add` / `remove` on a running server: the server's PasswordFile re-reads
 * the file when it changes on disk, so the change takes effect without a restart.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  AuthenticationError,
  generateIdentity,
  KnownHosts,
  type KsfParams,
  opaqueServerFor,
  PasswordFile,
  passwordAuth,
} from '../src/index.js';
import { login, type Rig, startRig } from './auth-helpers.js';

const cheap: KsfParams = { algorithm: 'scrypt', N: 1024, r: 8, p: 1 };
const hostKey = generateIdentity('host');
let dir = '';
let rig: Rig | undefined;

afterEach(async () => {
  await rig?.close();
  rig = undefined;
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** What `keyway passwd add/remove` does: load, edit, save, in another PasswordFile. */
async function edit(path: string, change: (f: PasswordFile) => Promise<unknown>): Promise<void> {
  const file = await PasswordFile.load(path);
  await change(file);
  await file.save();
}

describe('PasswordFile re-reads a changed file', () => {
  it('passwd add and remove take effect on a running server', async () => {
    dir = await mkdtemp(join(tmpdir(), 'keyway-reload-'));
    const path = join(dir, 'passwords');
    const server = opaqueServerFor(hostKey);
    await edit(path, (f) => f.register(server, 'alice', 'alice pw', { ksf: cheap }));
    rig = await startRig(
      passwordAuth({ identity: hostKey, passwords: await PasswordFile.load(path) }),
    );
    const knownHosts = KnownHosts.parse('');
    knownHosts.add('127.0.0.1', rig.port, hostKey.publicKey);
    const as = (username: string, password: string) =>
      login(rig!.port, { knownHosts, username, password });

    (await as('alice', 'alice pw')).close();
    await edit(path, (f) => f.register(server, 'bob', 'bob pw', { ksf: cheap }));
    (await as('bob', 'bob pw')).close();
    await edit(path, async (f) => f.remove('alice'));
    await expect(as('alice', 'alice pw')).rejects.toThrow(AuthenticationError);
    await Promise.all(rig.accepted);
    expect(rig.log.at(-1)).toMatchObject({ outcome: 'failure', reason: 'unknown user' });
  });

  it('keeps unsaved edits rather than the file, and a file that appears later is read', async () => {
    dir ||= await mkdtemp(join(tmpdir(), 'keyway-reload-'));
    const path = join(dir, 'later');
    const server = opaqueServerFor(hostKey);
    const running = await PasswordFile.load(path);
    expect(running.size).toBe(0);
    await edit(path, (f) => f.register(server, 'carol', 'pw', { ksf: cheap }));
    await running.refresh();
    expect(running.has('carol')).toBe(true);
    await running.register(server, 'dave', 'pw', { ksf: cheap });
    await edit(path, (f) => f.register(server, 'erin', 'pw', { ksf: cheap }));
    await running.refresh();
    // Unsaved edits win until saved; saving writes them (a last writer wins, as with
    // any file edited from two places).
    expect(running.has('dave')).toBe(true);
    expect(running.has('erin')).toBe(false);
  });
});
