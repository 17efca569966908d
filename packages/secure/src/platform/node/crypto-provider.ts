/**
 * The default crypto provider on Node: `node:crypto`, many times faster than pure JS for
 * bulk frames. Chosen through the package's `#platform/crypto-provider` import.
 */

import { nodeCryptoProvider } from '../../crypto/node-provider.js';
import type { CryptoProvider } from '../../crypto/provider.js';

/** The provider used when none is given. */
export const platformCryptoProvider: CryptoProvider = nodeCryptoProvider;
