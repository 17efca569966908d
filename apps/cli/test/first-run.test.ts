/**
 * A new user's first run, in a temporary HOME: `keyway init` makes ~/.keyway (0700), the
 * host key and a client key and says what to do next; commands that write a file create
 * its directory; an encrypted key opens from $KEYWAY_PASSPHRASE for any command that
 * loads one; `--version` answers.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { loadIdentity } from 'keyway-rpc';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { keyway, makeKey, tempDir } from './helpers.js';

let home: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir: home, cleanup } = await tempDir());
});
afterEach(() => cleanup());

const mode = async (path: string) => (await stat(path)).mode & 0o777;

describe('keyway init', () => {
  it('makes ~/.keyway (0700), an unencrypted host key and a client key, and prints the next steps', async () => {
    const r = await keyway(['init', '-N', ''], { home });
    expect(r.code, r.stderr).toBe(0);
    const dir = join(home, '.keyway');
    expect(await mode(dir)).toBe(0o700);
    expect(await mode(join(dir, 'host_key'))).toBe(0o600);
    expect(await mode(join(dir, 'id_ed25519'))).toBe(0o600);
    const host = await loadIdentity(join(dir, 'host_key'));
    const client = await loadIdentity(join(dir, 'id_ed25519'));
    expect(await readFile(join(dir, 'host_key.pub'), 'utf8')).toContain(host.publicKeyLine());
    expect(r.stdout).toContain(host.fingerprint);
    expect(r.stdout).toContain(client.fingerprint);
    // The next steps are commands that work as printed, with the default port.
    expect(r.stdout).toContain(`keyway authorized-keys add ${join(dir, 'id_ed25519.pub')}`);
    expect(r.stdout).toContain('keyway serve ');
    expect(r.stdout).toContain('keyway shell 127.0.0.1 --accept-new');
    expect(r.stdout).toContain('18861');
  });

  it('keeps keys that exist, and says so', async () => {
    await keyway(['init', '-N', ''], { home });
    const before = await readFile(join(home, '.keyway', 'host_key'), 'utf8');
    const clientBefore = await readFile(join(home, '.keyway', 'id_ed25519'), 'utf8');
    const again = await keyway(['init', '-N', ''], { home });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/host key .*kept|kept .*host_key/);
    expect(await readFile(join(home, '.keyway', 'host_key'), 'utf8')).toBe(before);
    expect(await readFile(join(home, '.keyway', 'id_ed25519'), 'utf8')).toBe(clientBefore);
  });

  it('encrypts the client key with -N, never the host key (a server starts unattended)', async () => {
    const r = await keyway(['init', '-N', 'secret words'], { home });
    expect(r.code, r.stderr).toBe(0);
    await expect(loadIdentity(join(home, '.keyway', 'id_ed25519'))).rejects.toThrow(/passphrase/);
    await loadIdentity(join(home, '.keyway', 'id_ed25519'), { passphrase: 'secret words' });
    await loadIdentity(join(home, '.keyway', 'host_key'));
  });

  it('is listed and has --help', async () => {
    expect((await keyway([])).stdout).toContain('  init ');
    expect((await keyway(['init', '--help'])).stdout).toMatch(/^usage: keyway init/);
  });
});

describe('directories of the files the CLI writes', () => {
  it('keygen -f creates the missing parent directories (0700)', async () => {
    const file = join(home, 'keys', 'deploy', 'id');
    const r = await keyway(['keygen', '-f', file, '-N', ''], { home });
    expect(r.code, r.stderr).toBe(0);
    expect(await mode(join(home, 'keys', 'deploy'))).toBe(0o700);
    expect(await mode(file)).toBe(0o600);
  });

  it('known-hosts add --file creates the missing parent directory', async () => {
    await makeKey(join(home, 'k'), 'k');
    const file = join(home, 'etc', 'keyway', 'known_hosts');
    const r = await keyway([
      'known-hosts',
      'add',
      'h.example',
      join(home, 'k.pub'),
      '--file',
      file,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(await readFile(file, 'utf8')).toContain('[h.example]:18861');
  });
});

describe('KEYWAY_PASSPHRASE', () => {
  it('opens an encrypted key for any command that loads one (pubkey here)', async () => {
    const path = join(home, 'enc');
    await makeKey(path, 'enc', 'pass phrase');
    const none = await keyway(['pubkey', path], { home });
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('KEYWAY_PASSPHRASE');
    const r = await keyway(['pubkey', path], { home, env: { KEYWAY_PASSPHRASE: 'pass phrase' } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(await readFile(`${path}.pub`, 'utf8'));
    const wrong = await keyway(['pubkey', path], { home, env: { KEYWAY_PASSPHRASE: 'nope' } });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('incorrect passphrase');
  });
});

describe('keyway --version', () => {
  it('prints the package version', async () => {
    const pkg = JSON.parse(
      await readFile(join(import.meta.dirname, '..', 'package.json'), 'utf8'),
    ) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = await keyway([flag]);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`keyway ${pkg.version}\n`);
    }
  });
});
