/**
 * The browser twins of the `#platform/*` modules, run on Node: files are refused with a
 * clear UsageError (a page has no file system), the default provider is noble's, and the
 * portable scrypt gives node:crypto's bytes.
 */
import { scryptSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../src/errors.js';
import { platformCryptoProvider } from '../src/platform/browser/crypto-provider.js';
import {
  atomicWriteFile,
  readDatabaseFile,
  readPrivateKeyFile,
} from '../src/platform/browser/files.js';
import { nativeScrypt } from '../src/platform/browser/scrypt.js';

describe('browser platform modules', () => {
  it('refuse file access with UsageError', async () => {
    await expect(readDatabaseFile('/etc/known_hosts')).rejects.toBeInstanceOf(UsageError);
    await expect(readPrivateKeyFile('/id_ed25519')).rejects.toBeInstanceOf(UsageError);
    await expect(atomicWriteFile('/x', 'y')).rejects.toBeInstanceOf(UsageError);
  });

  it('default to the noble provider', () => {
    expect(platformCryptoProvider.name).toBe('noble');
  });

  it('compute the same scrypt as node:crypto', async () => {
    const input = new Uint8Array(32).fill(7);
    const salt = new Uint8Array(16);
    const out = await nativeScrypt(input, salt, 64, { N: 1024, r: 8, p: 1 });
    expect(Buffer.from(out)).toEqual(scryptSync(input, salt, 64, { N: 1024, r: 8, p: 1 }));
  });
});
