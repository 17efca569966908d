/**
 * The authenticator `keyway serve` builds from its options (docs/design.md §4 "Authenticators"):
 * an optional `ipAllowlist` first (before any crypto), then `anonymousAuth`,
 * `publicKeyAuth` or `passwordAuth` with the server's host key. The default export is the
 * factory, so ThreadPoolServer workers can import this module and build the same chain
 * from plain options (functions cannot cross threads).
 */
import {
  type Authenticator,
  AuthorizedKeys,
  anonymousAuth,
  compose,
  ipAllowlist,
  loadIdentity,
  PasswordFile,
  passwordAuth,
  publicKeyAuth,
} from 'keyway-rpc';

/** How `keyway serve` authenticates clients. */
export type ServeAuthMethod = 'publickey' | 'password' | 'anonymous';

/** Plain (structured-clone) description of the authenticator chain. */
export interface ServeAuthOptions {
  method: ServeAuthMethod;
  /** The server's private host key file. */
  hostKey: string;
  /** Its passphrase, when encrypted. Kept in memory only. */
  passphrase?: string | undefined;
  /** authorized_keys file, for `publickey`. */
  authorizedKeys: string;
  /** Password file, for `password`. */
  passwords: string;
  /** CIDR blocks allowed to connect; empty for any. */
  allowIp: readonly string[];
}

/**
 * Builds the authenticator chain.
 * @throws the secure layer's errors for unreadable key files or databases, and
 * RangeError for a bad CIDR block.
 */
export default async function createServeAuthenticator(
  options: ServeAuthOptions,
): Promise<Authenticator> {
  const identity = await loadIdentity(
    options.hostKey,
    options.passphrase === undefined ? {} : { passphrase: options.passphrase },
  );
  let auth: Authenticator;
  switch (options.method) {
    case 'anonymous':
      auth = anonymousAuth({ identity });
      break;
    case 'password':
      auth = passwordAuth({ identity, passwords: await PasswordFile.load(options.passwords) });
      break;
    default:
      auth = publicKeyAuth({
        identity,
        authorizedKeys: await AuthorizedKeys.load(options.authorizedKeys),
      });
  }
  return options.allowIp.length === 0 ? auth : compose(ipAllowlist(options.allowIp), auth);
}
