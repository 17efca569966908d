/**
 * Chooses the crypto provider used when the caller names none: on Node `node:crypto`,
 * many times faster than pure JS for bulk frames; in a browser the portable @noble/* one.
 * The choice is the package's `#platform/crypto-provider` import, resolved by the
 * `browser` condition, so a browser bundle never reaches `node:crypto`.
 */
import { platformCryptoProvider } from '#platform/crypto-provider';
import type { CryptoProvider } from './provider.js';

/**
 * The provider used when none is given.
 * @returns the `node:crypto` provider on Node, the noble provider in a browser.
 */
export function defaultCryptoProvider(): CryptoProvider {
  return platformCryptoProvider;
}
