/**
 * Regression: the node provider made key pairs with generateKeyPairSync and read them back
 * as JWK. On Node 20 a garbage collection that frees the key-generation job while a JWK
 * export of the same key is running deadlocks the thread (it hung this test suite). Key
 * pairs are now made from random bytes. The loop runs in a child process so that a
 * deadlock fails the test by its timeout instead of hanging the run.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { nodeCryptoProvider } from '../src/crypto/node-provider.js';

const exec = promisify(execFile);
const dist = join(import.meta.dirname, '..', 'dist', 'crypto', 'node-provider.js');

describe('node provider key generation', () => {
  it('makes valid pairs: the public key is the secret times the base point', () => {
    const a = nodeCryptoProvider.generateKeyPair();
    const b = nodeCryptoProvider.generateKeyPair();
    expect(Buffer.from(nodeCryptoProvider.publicKeyOf(a.secretKey))).toEqual(
      Buffer.from(a.publicKey),
    );
    expect(Buffer.from(nodeCryptoProvider.dh(a.secretKey, b.publicKey))).toEqual(
      Buffer.from(nodeCryptoProvider.dh(b.secretKey, a.publicKey)),
    );
  });

  it('does not deadlock under garbage collection across many key pairs', async () => {
    const script = `
      const { nodeCryptoProvider: p } = await import(${JSON.stringify(dist)});
      let peer = p.generateKeyPair();
      for (let i = 0; i < 40000; i++) {
        const k = p.generateKeyPair();
        p.dh(k.secretKey, peer.publicKey);
        if (i % 10 === 0) peer = k;
      }
      console.log('done');`;
    const { stdout } = await exec(process.execPath, ['--input-type=module', '-e', script], {
      timeout: 45_000,
    });
    expect(stdout.trim()).toBe('done');
  }, 60_000);
});
