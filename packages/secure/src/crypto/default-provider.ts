/**
 * Chooses the crypto provider used when the caller names none: `node:crypto` (this
 * package already runs on Node built-ins), which is many times faster than pure JS for
 * bulk frames.
 */
import { nodeCryptoProvider } from './node-provider.js';
import type { CryptoProvider } from './provider.js';

/**
 * The provider used when none is given.
 * @returns the `node:crypto` provider.
 */
export function defaultCryptoProvider(): CryptoProvider {
  return nodeCryptoProvider;
}
