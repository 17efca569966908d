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
