/**
 * @keyway/secure — the security layer: Noise XX channel, OpenSSH-format identities, key
 * databases and authenticators.
 */

export { defaultCryptoProvider } from './crypto/default-provider.js';
export { nobleCryptoProvider } from './crypto/noble-provider.js';
export { nodeCryptoProvider } from './crypto/node-provider.js';
export type { CryptoProvider, X25519KeyPair } from './crypto/provider.js';
export {
  AuthenticationError,
  ChannelError,
  DecryptError,
  FilePermissionError,
  HandshakeError,
  HostKeyError,
  KeyFormatError,
  SecureError,
  type SecureErrorOptions,
} from './errors.js';
