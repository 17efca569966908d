/**
 * keyway — the package users import. Re-exports only; every name lives in one of the
 * @keyway/* packages.
 */
export {
  AccessDeniedError,
  ConnectionClosedError,
  KeywayError,
  type KeywayErrorOptions,
  ProtocolError,
  TimeoutError,
  type Transport,
  type TransportReceiver,
} from '@keyway/core';
export {
  AuthenticationError,
  type AuthorizedKeyMatch,
  type AuthorizedKeyOptions,
  AuthorizedKeys,
  type AuthorizedKeysEntry,
  checkUserName,
  DEFAULT_KSF_PARAMS,
  FilePermissionError,
  formatKsfParams,
  generateIdentity,
  HostKeyError,
  Identity,
  KeyFormatError,
  KnownHosts,
  type KnownHostsCheck,
  type KnownHostsEntry,
  type KsfParams,
  loadIdentity,
  opaqueServerFor,
  type ParsedPublicKey,
  type PasswordEntry,
  PasswordFile,
  PasswordFileError,
  parseKsfParams,
  parsePublicKey,
  SecureError,
} from '@keyway/secure';
