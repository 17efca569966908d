import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { FilePermissionError } from '../src/errors.js';
import { atomicWriteFile, readDatabaseFile, readPrivateKeyFile } from '../src/file-safety.js';
import { tempDir } from './openssh-tools.js';

const tmp = tempDir();
afterAll(tmp.cleanup);

describe('atomicWriteFile', () => {
  it('creates a new file with mode 0600 (or the given mode) and no backup', async () => {
    const path = tmp.path('new');
    await atomicWriteFile(path, 'one\n');
    expect(readFileSync(path, 'utf8')).toBe('one\n');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(existsSync(`${path}.old`)).toBe(false);
    await atomicWriteFile(tmp.path('new644'), 'x', { mode: 0o644 });
    expect(statSync(tmp.path('new644')).mode & 0o777).toBe(0o644);
  });

  it('keeps the mode of an existing file and its previous contents as .old', async () => {
    const path = tmp.path('existing');
    writeFileSync(path, 'before\n');
    chmodSync(path, 0o640);
    const inode = statSync(path).ino;
    await atomicWriteFile(path, 'after\n');
    expect(readFileSync(path, 'utf8')).toBe('after\n');
    expect(statSync(path).mode & 0o777).toBe(0o640);
    // Replaced by rename, not rewritten in place: readers never see a half-written file.
    expect(statSync(path).ino).not.toBe(inode);
    expect(readFileSync(`${path}.old`, 'utf8')).toBe('before\n');
    expect(statSync(`${path}.old`).mode & 0o777).toBe(0o640);
    await atomicWriteFile(path, 'third\n', { backup: false });
    expect(readFileSync(`${path}.old`, 'utf8')).toBe('before\n');
  });

  it('leaves no temporary file behind when the write fails', async () => {
    const dir = tmp.path('failing');
    mkdirSync(dir);
    const target = `${dir}/target`;
    mkdirSync(target);
    await expect(atomicWriteFile(target, 'x')).rejects.toThrow();
    expect(readdirSync(dir)).toEqual(['target']);
  });
});

describe('permission checks', () => {
  it('refuses private keys open to group or others, including through a symlink', async () => {
    const path = tmp.path('key');
    writeFileSync(path, 'secret', { mode: 0o600 });
    chmodSync(path, 0o600);
    expect(await readPrivateKeyFile(path)).toBe('secret');
    const link = tmp.path('key-link');
    symlinkSync(path, link);
    chmodSync(path, 0o604);
    await expect(readPrivateKeyFile(link)).rejects.toBeInstanceOf(FilePermissionError);
    const error = await readPrivateKeyFile(path).catch((e: unknown) => e);
    expect((error as FilePermissionError).code).toBe('ERR_FILE_PERMISSIONS');
    expect((error as Error).message).toContain('0604');
    expect((error as Error).message).not.toContain('secret');
  });

  it('allows databases readable by all but not writable by group or others', async () => {
    const path = tmp.path('db');
    writeFileSync(path, 'line\n');
    chmodSync(path, 0o644);
    expect((await readDatabaseFile(path))?.text).toBe('line\n');
    chmodSync(path, 0o664);
    await expect(readDatabaseFile(path)).rejects.toBeInstanceOf(FilePermissionError);
    expect(await readDatabaseFile(tmp.path('missing'))).toBeUndefined();
  });
});
