/**
 * StrictModes up the whole path: a key database or password file below a directory that
 * group or others may write (without the sticky bit) is refused, however far up that
 * directory is, the same way for every database.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FilePermissionError } from '../src/errors.js';
import { readDatabaseFile } from '../src/file-safety.js';
import { AuthorizedKeys, KnownHosts, PasswordFile } from '../src/index.js';
import { tempDir } from './openssh-tools.js';

const tmp = tempDir();
afterAll(tmp.cleanup);

/** `<tmp>/<name>/inner/deeper/<file>` with `<name>` at `mode` and everything else private. */
function nested(name: string, mode: number): string {
  const deeper = join(tmp.path(name), 'inner', 'deeper');
  mkdirSync(deeper, { recursive: true, mode: 0o700 });
  chmodSync(tmp.path(name), mode);
  for (const file of ['authorized_keys', 'known_hosts', 'passwords']) {
    writeFileSync(join(deeper, file), '', { mode: 0o600 });
  }
  return deeper;
}

describe.skipIf(process.platform === 'win32')('directory permissions up the path', () => {
  it('refuses every database below a group/other-writable directory two levels up', async () => {
    const deeper = nested('open', 0o777);
    const checks: [string, () => Promise<unknown>][] = [
      ['readDatabaseFile', () => readDatabaseFile(join(deeper, 'authorized_keys'))],
      ['AuthorizedKeys', () => AuthorizedKeys.load(join(deeper, 'authorized_keys'))],
      ['KnownHosts', () => KnownHosts.load(join(deeper, 'known_hosts'))],
      ['PasswordFile', () => PasswordFile.load(join(deeper, 'passwords'))],
    ];
    for (const [name, load] of checks) {
      const error = await load().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error, name).toBeInstanceOf(FilePermissionError);
      expect((error as Error).message, name).toContain(tmp.path('open'));
    }
  });

  it('accepts a sticky world-writable directory (like /tmp) and private ones', async () => {
    for (const [name, mode] of [
      ['sticky', 0o1777],
      ['private', 0o700],
      ['readable', 0o755],
    ] as const) {
      const deeper = nested(name, mode);
      await expect(PasswordFile.load(join(deeper, 'passwords'))).resolves.toBeInstanceOf(
        PasswordFile,
      );
      await expect(AuthorizedKeys.load(join(deeper, 'authorized_keys'))).resolves.toBeInstanceOf(
        AuthorizedKeys,
      );
    }
  });

  it('a password file that is not a regular file is refused', async () => {
    const dir = tmp.path('dir-as-file');
    mkdirSync(dir, { mode: 0o700 });
    await expect(PasswordFile.load(dir)).rejects.toThrow(FilePermissionError);
  });
});
