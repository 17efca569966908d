/**
 * The built-in server-side authenticators and the combinators that compose them
 * (docs/security.md "Authentication"). Each has the shape `(stream, context) => { stream,
 * credentials }`. Failures throw `AuthenticationError` whose `reason` is for the local
 * log; the peer only ever learns that authentication failed.
 */
import type { AuthorizedKeys } from '../authorized-keys.js';
import { CidrList } from '../cidr.js';
import { AuthenticationError } from '../errors.js';
import { ed25519Fingerprint } from '../openssh/public-key.js';
import { fail, succeed } from './outcome.js';
import {
  checkHandshakeSettings,
  currentStream,
  ensureSession,
  type HandshakeSettings,
} from './server-session.js';
import type { Authenticator, Credentials } from './types.js';

/** Options of {@link anonymousAuth}. */
export type AnonymousAuthOptions = HandshakeSettings;

/**
 * Encrypts the connection and proves the server's host key; the client stays anonymous.
 * @throws RangeError when `authQueueLimits` or `authenticatedLimits` is out of range
 * @example
 * new ThreadedServer(Echo, { authenticator: anonymousAuth({ identity: hostKey }) })
 */
export function anonymousAuth(options: AnonymousAuthOptions): Authenticator {
  checkHandshakeSettings(options);
  return async (stream, context) => {
    const session = await ensureSession(stream, options, context.service);
    succeed(context, 'anonymous');
    return {
      stream: session.channel,
      credentials: { remoteAddress: context.remoteAddress, methods: ['anonymous'] },
    };
  };
}

/** Options of {@link publicKeyAuth}. */
export interface PublicKeyAuthOptions extends HandshakeSettings {
  /** The clients' keys that may log in. */
  authorizedKeys: AuthorizedKeys;
}

/**
 * Mutual public-key authentication in the SSH model: the server proves its host key in
 * the handshake, and the client's key must be in `authorized_keys` (with its options,
 * such as `from=` and `expiry-time=`, satisfied). The line's `restrict` option becomes
 * `credentials.restricted`, which `ClassicService` refuses.
 * @throws TypeError without `authorizedKeys`; RangeError when `authQueueLimits` or
 *   `authenticatedLimits` is out of range
 * @example
 * publicKeyAuth({ identity: await loadIdentity('host_key'),
 *                 authorizedKeys: await AuthorizedKeys.load('authorized_keys') })
 */
export function publicKeyAuth(options: PublicKeyAuthOptions): Authenticator {
  if (!options?.authorizedKeys) throw new TypeError('publicKeyAuth: authorizedKeys is required');
  checkHandshakeSettings(options);
  return async (stream, context) => {
    const session = await ensureSession(stream, options, context.service);
    const key = session.hello.publicKey;
    if (!key) fail(context, 'publickey', 'client offered no key');
    const fingerprint = ed25519Fingerprint(key);
    const { match: entry, refusals } = await options.authorizedKeys.explain(key, {
      remoteAddress: context.remoteAddress,
      service: context.service,
    });
    if (!entry) {
      // The server's log says which line held the key and why it did not let it in
      // (expired, another source address, another service); the peer learns none of it.
      const why = refusals.map((r) => `line ${r.line}: ${r.reason}`).join('; ');
      fail(
        context,
        'publickey',
        why === '' ? 'key not authorized' : `key not authorized (${why})`,
        {
          fingerprint,
        },
      );
    }
    succeed(context, 'publickey', {
      fingerprint,
      reason: entry.options.restrict ? 'accepted (restricted)' : 'accepted',
    });
    return {
      stream: session.channel,
      credentials: {
        publicKey: { fingerprint: entry.fingerprint, comment: entry.comment },
        services: entry.options.services,
        restricted: entry.options.restrict,
        remoteAddress: context.remoteAddress,
        methods: ['publickey'],
      },
    };
  };
}

/**
 * Admits peers whose address lies in one of `cidrs` (IPv4 or IPv6, `10.0.0.0/8`,
 * `::1/128`, or a bare address). It runs before any cryptography and hands the stream on
 * unchanged, so put it first in a {@link compose} chain.
 * @throws TypeError or RangeError for a malformed CIDR list (when the authenticator is made)
 * @example
 * compose(ipAllowlist(['10.0.0.0/8']), publicKeyAuth({ identity, authorizedKeys }))
 */
export function ipAllowlist(cidrs: readonly string[]): Authenticator {
  const allowed = new CidrList(cidrs);
  return async (stream, context) => {
    if (!allowed.contains(context.remoteAddress)) {
      fail(context, 'ip', 'address not in allow-list');
    }
    succeed(context, 'ip');
    return { stream, credentials: { remoteAddress: context.remoteAddress, methods: ['ip'] } };
  };
}

/**
 * Merges what two methods proved: later facts add to earlier ones, restrictions narrow.
 * A login is restricted when any method that succeeded restricted it.
 */
function mergeCredentials(a: Credentials | undefined, b: Credentials): Credentials {
  if (!a) return b;
  let services = a.services ?? b.services;
  if (a.services && b.services) services = a.services.filter((s) => b.services?.includes(s));
  return {
    user: b.user ?? a.user,
    publicKey: b.publicKey ?? a.publicKey,
    services,
    restricted: isRestricted(a) || isRestricted(b),
    remoteAddress: b.remoteAddress,
    methods: [...a.methods, ...b.methods],
  };
}

// Anything but absent or `false` counts, so a user-written authenticator that sets the
// field to some other truthy value fails closed.
function isRestricted(credentials: Credentials): boolean {
  return credentials.restricted !== undefined && credentials.restricted !== false;
}

/**
 * Runs authenticators in order, each on the stream the previous one returned; all must
 * succeed (like sshd's `AuthenticationMethods publickey,password`). Credentials merge.
 * @example
 * compose(ipAllowlist(['127.0.0.1/32']), publicKeyAuth({ identity, authorizedKeys }))
 */
export function compose(...authenticators: Authenticator[]): Authenticator {
  if (authenticators.length === 0) throw new TypeError('compose: give at least one authenticator');
  for (const a of authenticators) {
    if (typeof a !== 'function')
      throw new TypeError('compose: every argument must be an authenticator');
  }
  return async (stream, context) => {
    let current = stream;
    let credentials: Credentials | undefined;
    for (const authenticator of authenticators) {
      const result = await authenticator(current, context);
      current = result.stream;
      credentials = mergeCredentials(credentials, result.credentials);
    }
    return { stream: current, credentials: credentials as Credentials };
  };
}

/**
 * Accepts the first authenticator (or chain) that succeeds, like one of several lists in
 * sshd's `AuthenticationMethods`. A handshake made by a failed alternative is reused by
 * the next one.
 * @example
 * anyOf(publicKeyAuth({ identity, authorizedKeys }), passwordAuth({ identity, passwords }))
 */
export function anyOf(...authenticators: Authenticator[]): Authenticator {
  if (authenticators.length === 0) throw new TypeError('anyOf: give at least one authenticator');
  return async (stream, context) => {
    const reasons: string[] = [];
    for (const authenticator of authenticators) {
      try {
        return await authenticator(currentStream(stream), context);
      } catch (error) {
        // Anything but a refusal (a broken handshake, a closed socket) ends the attempt.
        if (!(error instanceof AuthenticationError)) throw error;
        reasons.push(error.reason);
      }
    }
    throw new AuthenticationError(`no alternative succeeded (${reasons.join('; ')})`);
  };
}
