/**
 * @keyway/secure — the security layer: Noise XX channel, OpenSSH-format identities, key
 * databases and authenticators.
 */

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
export { type ParsedPublicKey, parsePublicKey } from './openssh/public-key.js';
