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
export { CipherState } from './noise/cipher-state.js';
export {
  type HandshakeResult,
  HandshakeState,
  type HandshakeStateOptions,
  NOISE_MAX_MESSAGE_BYTES,
} from './noise/handshake-state.js';
export { type NoiseHashFunction, sha256NoiseHash } from './noise/hash.js';
export {
  HANDSHAKE_PATTERNS,
  type HandshakePattern,
  type MessageToken,
  type PreMessageToken,
} from './noise/patterns.js';
export { SymmetricState } from './noise/symmetric-state.js';
