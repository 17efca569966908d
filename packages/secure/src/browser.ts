/**
 * @keyway/secure in a browser (the package's `browser` export condition): what a web page
 * needs to be a keyway client — the handshake as initiator, identities, host key checks,
 * the password login — and nothing that reads files or serves. No module reached from
 * here imports a Node built-in; the crypto provider and scrypt are the @noble/* ones.
 */
export {
  type ClientHandshakeOptions,
  type ClientHandshakeResult,
  clientHandshake,
  type HostKeyPolicy,
  type HostKeyStore,
  type ScanHostKeyOptions,
  scanHostKey,
} from './auth/client.js';
export type { MessageReceiver, MessageTransport } from './auth/message-reader.js';
export {
  type ChannelLimits,
  type ChannelOptions,
  DEFAULT_CHANNEL_LIMITS,
  DEFAULT_PREAUTH_CHANNEL_LIMITS,
  NOISE_MAX_FRAME_BYTES,
} from './channel/channel-options.js';
export { DEFAULT_HANDSHAKE_TIMEOUT_MS } from './channel/perform-handshake.js';
export { defaultCryptoProvider } from './crypto/default-provider.js';
export { nobleCryptoProvider } from './crypto/noble-provider.js';
export type { CryptoProvider } from './crypto/provider.js';
export {
  AuthenticationError,
  ChannelError,
  DecryptError,
  HandshakeError,
  HostKeyError,
  KeyFormatError,
  SecureError,
  type SecureErrorOptions,
  ServiceMismatchError,
  UsageError,
} from './errors.js';
export {
  generateIdentity,
  Identity,
  type IdentityToOpenSSHOptions,
  type OpenSSHKeyFiles,
} from './identity.js';
export {
  KnownHosts,
  type KnownHostsAddOptions,
  type KnownHostsCheck,
  type KnownHostsEntry,
} from './known-hosts.js';
export { KsfBoundsError } from './opaque/errors.js';
export {
  createKsf,
  DEFAULT_KSF_BOUNDS,
  type KeyStretchingFunction,
  type KsfBounds,
  type KsfOptions,
  type KsfParams,
  type StretchOptions,
} from './opaque/ksf.js';
export { ed25519Fingerprint, type ParsedPublicKey, parsePublicKey } from './openssh/public-key.js';
