/**
 * The default crypto provider in a browser: the portable @noble/* one (no `node:crypto`).
 * Chosen through the package's `#platform/crypto-provider` import under `browser`.
 */
import { nobleCryptoProvider } from '../../crypto/noble-provider.js';
import type { CryptoProvider } from '../../crypto/provider.js';

/** The provider used when none is given. */
export const platformCryptoProvider: CryptoProvider = nobleCryptoProvider;
