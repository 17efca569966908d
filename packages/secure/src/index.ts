/**
 * @keyway/secure — the security layer: Noise XX channel, OpenSSH-format identities, key
 * databases and authenticators.
 */

export { type AcceptedConnection, acceptConnection } from './auth/accept.js';
export {
  type AnonymousAuthOptions,
  anonymousAuth,
  anyOf,
  compose,
  ipAllowlist,
  type PublicKeyAuthOptions,
  publicKeyAuth,
} from './auth/authenticators.js';
export {
  type ClientHandshakeOptions,
  type ClientHandshakeResult,
  clientHandshake,
  type HostKeyPolicy,
  type HostKeyStore,
  type PasswordRequest,
  type PasswordSource,
  type ScanHostKeyOptions,
  scanHostKey,
} from './auth/client.js';
export {
  type AuthQueueLimits,
  DEFAULT_AUTH_QUEUE_LIMITS,
  type MessageReceiver,
  type MessageTransport,
} from './auth/message-reader.js';
export { opaqueServerFor, type PasswordAuthOptions, passwordAuth } from './auth/password.js';
export type { HandshakeSettings } from './auth/server-session.js';
export type {
  AuthContext,
  Authenticator,
  AuthLogEvent,
  AuthMethod,
  AuthResult,
  AuthStream,
  Credentials,
} from './auth/types.js';
export {
  type AuthorizedKeyMatch,
  type AuthorizedKeyOptions,
  type AuthorizedKeyOptionsInput,
  AuthorizedKeys,
  type AuthorizedKeysAddOptions,
  type AuthorizedKeysEntry,
  type AuthorizeOptions,
} from './authorized-keys.js';
export {
  type ChannelLimits,
  type ChannelOptions,
  DEFAULT_CHANNEL_LIMITS,
  DEFAULT_CLOSE_GRACE_MS,
  DEFAULT_MAX_BUFFERED_BYTES,
  DEFAULT_PREAUTH_CHANNEL_LIMITS,
  DEFAULT_REKEY_POLICY,
  MIN_CONTINUED_BODY_BYTES,
  MIN_FRAME_LIMIT,
  NOISE_MAX_FRAME_BYTES,
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
export { CidrList } from './cidr.js';
export { defaultCryptoProvider } from './crypto/default-provider.js';
export { nobleCryptoProvider } from './crypto/noble-provider.js';
export { nodeCryptoProvider } from './crypto/node-provider.js';
export type { CryptoProvider, X25519KeyPair } from './crypto/provider.js';
export { type SecureDebugLogger, setSecureDebugLogger } from './debug.js';
export {
  AuthenticationError,
  ChannelError,
  DecryptError,
  FilePermissionError,
  HandshakeError,
  HostKeyError,
  KeyFormatError,
  NotKeywayError,
  SecureError,
  type SecureErrorOptions,
  ServiceMismatchError,
  UsageError,
} from './errors.js';
export {
  generateIdentity,
  Identity,
  type IdentityToOpenSSHOptions,
  type LoadIdentityOptions,
  loadIdentity,
  type OpenSSHKeyFiles,
} from './identity.js';
export {
  KnownHosts,
  type KnownHostsAddOptions,
  type KnownHostsCheck,
  type KnownHostsEntry,
} from './known-hosts.js';
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
export {
  type ClientLoginResult,
  type ClientRegistrationResult,
  OpaqueClientLogin,
  type OpaqueClientLoginOptions,
  type OpaqueClientOptions,
  OpaqueClientRegistration,
} from './opaque/client.js';
export { KsfBoundsError, OpaqueFormatError } from './opaque/errors.js';
export {
  type Argon2idParams,
  checkKsfBounds,
  checkKsfParams,
  createKsf,
  DEFAULT_KSF_BOUNDS,
  DEFAULT_KSF_PARAMS,
  formatKsfParams,
  type IdentityKsfParams,
  type KeyStretchingFunction,
  KSF_LIMITS,
  type KsfBounds,
  type KsfOptions,
  type KsfParams,
  parseKsfParams,
  type ScryptParams,
  type ScryptProvider,
  type StretchOptions,
} from './opaque/ksf.js';
export {
  type BackoffLimits,
  DEFAULT_LOGIN_LIMITS,
  type LoginAdmission,
  type LoginGate,
  LoginLimiter,
  type LoginLimiterOptions,
  type LoginTicket,
  type LoginVerdict,
  sourceKey,
} from './opaque/login-limiter.js';
export {
  decodeLoginFinish,
  decodeLoginResponse,
  decodeLoginStart,
  encodeLoginFinish,
  encodeLoginResponse,
  encodeLoginStart,
  LOGIN_MESSAGE_TYPES,
  type LoginFinish,
  type LoginResponse,
  type LoginStart,
  OPAQUE_CONTEXT_LABEL,
  opaqueContext,
} from './opaque/login-messages.js';
export {
  type CredentialResponse,
  deserializeKE1,
  deserializeKE2,
  deserializeKE3,
  deserializeRegistrationRecord,
  deserializeRegistrationRequest,
  deserializeRegistrationResponse,
  type Envelope,
  type KE1,
  type KE2,
  type KE3,
  OPAQUE_MESSAGE_SIZES,
  type RegistrationRecord,
  type RegistrationRequest,
  type RegistrationResponse,
  serializeKE1,
  serializeKE2,
  serializeKE3,
  serializeRegistrationRecord,
  serializeRegistrationRequest,
  serializeRegistrationResponse,
} from './opaque/messages.js';
export {
  deriveServerSetup,
  deserializeServerSetup,
  generateServerSetup,
  OpaqueServer,
  OpaqueServerLogin,
  type OpaqueServerLoginOptions,
  type OpaqueServerSetup,
  serializeServerSetup,
} from './opaque/server.js';
export type { KeyPair as OpaqueKeyPair } from './opaque/suite.js';
export { ed25519Fingerprint, type ParsedPublicKey, parsePublicKey } from './openssh/public-key.js';
export {
  checkUserName,
  MAX_USER_BYTES,
  type PasswordEntry,
  PasswordFile,
  PasswordFileError,
  type RegisterOptions,
} from './password-file.js';
