/**
 * The authenticator factory ThreadPoolServer workers import (docs/design.md §4, §5):
 * authenticators are functions and cannot cross threads, so each worker builds its own
 * public-key authenticator from the key files the benchmark wrote.
 */
import { type Authenticator, AuthorizedKeys, loadIdentity, publicKeyAuth } from '@keyway/secure';

/** File paths passed by the benchmark as the authenticator module's `options`. */
export interface KeyAuthOptions {
  hostKeyPath: string;
  authorizedKeysPath: string;
}

/** @returns public-key auth with the host key and authorized_keys at the given paths */
export default async function keyAuth(options: KeyAuthOptions): Promise<Authenticator> {
  return publicKeyAuth({
    identity: await loadIdentity(options.hostKeyPath),
    authorizedKeys: await AuthorizedKeys.load(options.authorizedKeysPath),
  });
}
