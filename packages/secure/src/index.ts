/**
 * @keyway/secure — the security layer: Noise XX channel, OpenSSH-format identities, key
 * databases and authenticators.
 */
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
export {
  type ClientLoginResult,
  type ClientRegistrationResult,
  OpaqueClientLogin,
  type OpaqueClientLoginOptions,
  type OpaqueClientOptions,
  OpaqueClientRegistration,
} from './opaque/client.js';
export { OpaqueFormatError } from './opaque/errors.js';
export {
  type Argon2idParams,
  checkKsfParams,
  createKsf,
  DEFAULT_KSF_PARAMS,
  formatKsfParams,
  type IdentityKsfParams,
  type KeyStretchingFunction,
  KSF_LIMITS,
  type KsfOptions,
  type KsfParams,
  parseKsfParams,
  type ScryptParams,
  type ScryptProvider,
} from './opaque/ksf.js';
export {
  type BackoffLimits,
  DEFAULT_LOGIN_LIMITS,
  LoginLimiter,
  type LoginLimiterOptions,
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
export {
  checkUserName,
  MAX_USER_BYTES,
  type PasswordEntry,
  PasswordFile,
  PasswordFileError,
  type RegisterOptions,
} from './password-file.js';
