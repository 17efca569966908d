/**
 * @keyway/secure — the security layer: Noise XX channel, OpenSSH-format identities, key
 * databases and authenticators.
 */

export {
  type ChannelLimits,
  type ChannelOptions,
  DEFAULT_CHANNEL_LIMITS,
  DEFAULT_CLOSE_GRACE_MS,
  DEFAULT_PREAUTH_CHANNEL_LIMITS,
  DEFAULT_REKEY_POLICY,
  type RekeyPolicy,
} from './channel/channel-options.js';
export {
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_MAX_HANDSHAKE_MESSAGE_BYTES,
  type HandshakeOptions,
  type HandshakeOutcome,
  KEYWAY_PROLOGUE_PREFIX,
  keywayPrologue,
  performHandshake,
} from './channel/perform-handshake.js';
export { type ChannelReceiver, FrameType, SecureChannel } from './channel/secure-channel.js';
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
