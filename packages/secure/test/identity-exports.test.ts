/** The package's public door exports the identity and key-database names, and no internals. */
import { describe, expect, it } from 'vitest';
import * as secure from '../src/index.js';

describe('@keyway/secure exports for identities and key databases', () => {
  it('exports the public names', () => {
    for (const name of [
      'Identity',
      'generateIdentity',
      'loadIdentity',
      'parsePublicKey',
      'KnownHosts',
      'AuthorizedKeys',
    ]) {
      expect(secure, name).toHaveProperty(name);
    }
  });

  it('keeps the X25519 conversion and file helpers internal', () => {
    for (const name of [
      'identityX25519',
      'ed25519PublicToX25519',
      'atomicWriteFile',
      'decodePrivateKey',
    ]) {
      expect(secure, name).not.toHaveProperty(name);
    }
  });
});
