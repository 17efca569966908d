/**
 * The client side of keyway's authentication (docs/security.md, "Authentication"): the
 * Noise XX handshake as initiator; after message 2 the server's signed hello is verified
 * (its exact host key, and the service it serves) and the host key checked against
 * known_hosts, before the client reveals its own key in message 3; then the server's
 * verdict.
 */
import type { Duplex } from 'node:stream';
import type { ChannelLimits, ChannelOptions } from '../channel/channel-options.js';
import { DEFAULT_HANDSHAKE_TIMEOUT_MS, performHandshake } from '../channel/perform-handshake.js';
import { defaultCryptoProvider } from '../crypto/default-provider.js';
import type { CryptoProvider } from '../crypto/provider.js';
import { secureDebugLogger } from '../debug.js';
import {
  AuthenticationError,
  ChannelError,
  HandshakeError,
  HostKeyError,
  ServiceMismatchError,
} from '../errors.js';
import { type Identity, sharedIdentityX25519 } from '../identity.js';
import { type KnownHosts, knownHostsName } from '../known-hosts.js';
import type { KsfBounds, KsfOptions } from '../opaque/ksf.js';
import { ed25519Fingerprint } from '../openssh/public-key.js';
import { signedClientHello, verifyServerHello } from './hello.js';
import { MessageReader, type MessageTransport } from './message-reader.js';
import { answerPasswordRequest } from './password-client.js';
import { authenticatedLimits, KEYWAY_PROLOGUE } from './server-session.js';
import { AuthMessage, decodeServerHello, type ServerHello } from './wire.js';

/** What the client asks of its known hosts: a `KnownHosts` database has all three. */
export type HostKeyStore = Pick<KnownHosts, 'check' | 'add' | 'save'>;

/** How the client treats the server's host key. */
export type HostKeyPolicy = 'strict' | 'accept-new' | 'insecure-any';

const HOST_KEY_POLICIES: readonly string[] = ['strict', 'accept-new', 'insecure-any'];

/** Options of {@link clientHandshake}. */
export interface ClientHandshakeOptions {
  /** The host name or address the client dialled, as known_hosts names it. */
  host: string;
  /** The port the client dialled. */
  port: number;
  /** The client's key; without one the client is anonymous. */
  identity?: Identity | undefined;
  /**
   * The servers' keys this client trusts. Required unless the policy is `insecure-any`.
   * A `KnownHosts`, or any store with its `check`, `add` and `save` (the browser client
   * keeps one per origin in the page's storage).
   */
  knownHosts?: HostKeyStore | undefined;
  /**
   * `strict` (default): an unknown or changed host key is refused. `accept-new`: an
   * unknown key is recorded in known_hosts (and saved), a changed one refused.
   * `insecure-any`: any key is accepted — for tests only, as the name says.
   */
  hostKeyPolicy?: HostKeyPolicy | undefined;
  /** The user to log in as (password login). */
  username?: string | undefined;
  /**
   * The password, for servers that ask for one (proved with OPAQUE, never sent): the
   * string, or a function that supplies it (a prompt). The function runs only when a
   * server asks for a password, and only after the server's host key passed the
   * known_hosts check (as ssh asks for a password only once the host is verified); the
   * time it takes does not count against `timeoutMs`. What it throws fails the login.
   */
  password?: string | PasswordSource | undefined;
  /**
   * The name of the service the client expects (the server's `serviceName`, else its
   * service class's name). The server signs the name it serves into its hello; another
   * name fails the handshake with `ServiceMismatchError` before the client reveals its
   * key, so a redirect to another service sharing the host key is caught. The name also
   * travels in the client's signed hello. Unset: any service is accepted.
   */
  expectedService?: string | undefined;
  /**
   * Stretching parameters this client agrees to run for a password login (the server
   * announces them); fields left out take their `DEFAULT_KSF_BOUNDS` value. Outside them
   * the login fails with `KsfBoundsError`.
   */
  ksfBounds?: Partial<KsfBounds> | undefined;
  /**
   * How the password login's key stretching runs: `scryptProvider`, or `stretch`, a
   * function that runs it elsewhere (the browser client's Web Worker).
   */
  ksfOptions?: KsfOptions | undefined;
  /**
   * Crypto provider; the fastest available by default. With keyway's own providers,
   * channel messages of at most 1 KiB are sealed in JavaScript; any other provider is
   * called for every message.
   */
  provider?: CryptoProvider | undefined;
  /**
   * Deadline in ms (default 10 s) of the whole exchange: the Noise handshake, the server's
   * verdict and the password login, if any, less the time a `password` function takes. On
   * expiry the channel is closed and the call rejects with `HandshakeError`.
   */
  timeoutMs?: number | undefined;
  /** Channel options (limits before authentication, rekey policy). */
  channel?: ChannelOptions | undefined;
  /**
   * Channel limits once the server is authenticated (right after the handshake, its key
   * verified); fields left out take their `DEFAULT_CHANNEL_LIMITS` value.
   */
  authenticatedLimits?: Partial<ChannelLimits> | undefined;
}

/** What a password function is told when a server asks for a password. */
export interface PasswordRequest {
  /** The host and port the client dialled. */
  readonly host: string;
  readonly port: number;
  /** The user logging in (`username`). */
  readonly username: string;
  /** The server's host key, already checked against known_hosts. */
  readonly hostKey: { readonly publicKey: Uint8Array; readonly fingerprint: string };
}

/** Supplies a password once the server is verified and asks for one (e.g. a prompt). */
export type PasswordSource = (request: PasswordRequest) => string | Promise<string>;

/** An authenticated client connection, ready for the RPC engine. */
export interface ClientHandshakeResult {
  /** The encrypted message transport, in the shape @keyway/core's `Transport` expects. */
  readonly transport: MessageTransport;
  /** The server's host key as checked against known_hosts. */
  readonly hostKey: { readonly publicKey: Uint8Array; readonly fingerprint: string };
  /** The service the server says (in its signed hello) it serves; undefined if none. */
  readonly service: string | undefined;
  /** The Noise handshake hash, unique to this connection. */
  readonly handshakeHash: Uint8Array;
}

async function checkHostKey(hostKey: Uint8Array, options: ClientHandshakeOptions): Promise<void> {
  const policy = options.hostKeyPolicy ?? 'strict';
  if (policy === 'insecure-any') return;
  const knownHosts = options.knownHosts;
  if (!knownHosts)
    throw new TypeError('knownHosts is required unless hostKeyPolicy is insecure-any');
  const name = knownHostsName(options.host, options.port);
  const fingerprint = ed25519Fingerprint(hostKey);
  // −A (the sign bit flipped) is the one other key whose private scalar the holder of A's
  // key knows (−a) and that passes every check: revoking A revokes it too.
  const negated = hostKey.slice();
  negated[31]! ^= 0x80;
  const negatedCheck = knownHosts.check(options.host, options.port, negated);
  if (negatedCheck.status === 'revoked') {
    throw new HostKeyError(
      `host key ${fingerprint} for ${name} is the negation of a key marked @revoked in ` +
        `known_hosts${negatedCheck.line === undefined ? '' : ` (line ${negatedCheck.line})`}: ` +
        `the same private key signs for both`,
    );
  }
  const check = knownHosts.check(options.host, options.port, hostKey);
  switch (check.status) {
    case 'match':
      return;
    case 'revoked':
      throw new HostKeyError(
        `host key ${fingerprint} for ${name} is marked @revoked in known_hosts` +
          (check.line === undefined ? '' : ` (line ${check.line})`),
      );
    case 'mismatch':
      throw new HostKeyError(
        `HOST KEY CHANGED for ${name}: the server presented ${fingerprint}, which is not the ` +
          `key known_hosts holds${check.line === undefined ? '' : ` (line ${check.line})`}. ` +
          `Someone may be intercepting the connection. If the change is expected, remove the ` +
          `old key with \`keyway known-hosts remove ${name}\` and connect again.`,
      );
    case 'unknown':
      if (policy === 'accept-new') {
        knownHosts.add(options.host, options.port, hostKey);
        await knownHosts.save();
        return;
      }
      throw new HostKeyError(
        `host ${name} is not in known_hosts (its key is ${fingerprint}). Check the fingerprint ` +
          `with the server's owner, then add it with \`keyway keyscan ${options.host}:${options.port}\` ` +
          `or connect once with hostKeyPolicy 'accept-new'.`,
      );
  }
}

/**
 * Authenticates to a keyway server over `stream` (a connected socket).
 * @returns the encrypted transport and the server's verified host key
 * @throws HostKeyError when the host key fails the policy (the client's key was not sent),
 *   ServiceMismatchError when the server serves another service than `expectedService`
 *   (the client's key was not sent), AuthenticationError when the server refuses,
 *   HandshakeError on a broken handshake, a hello whose signature does not verify, or when
 *   `timeoutMs` passes first; TypeError or RangeError on invalid options
 */
export async function clientHandshake(
  stream: Duplex,
  options: ClientHandshakeOptions,
): Promise<ClientHandshakeResult> {
  if (typeof options?.host !== 'string' || !Number.isInteger(options.port)) {
    throw new TypeError('clientHandshake: host (string) and port (integer) are required');
  }
  const policy = options.hostKeyPolicy;
  if (policy !== undefined && !HOST_KEY_POLICIES.includes(policy)) {
    throw new TypeError(
      `clientHandshake: hostKeyPolicy must be one of ${HOST_KEY_POLICIES.map((p) => `'${p}'`).join(', ')}`,
    );
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new RangeError('clientHandshake: timeoutMs must be positive');
  }
  const limitsAfter = authenticatedLimits(options.authenticatedLimits);
  const provider = options.provider ?? defaultCryptoProvider();
  // Built before any I/O, so that a name out of range is a RangeError for the caller.
  const localPayload = signedClientHello(
    options.identity,
    { user: options.username, service: options.expectedService },
    provider,
  );
  const deadline = performance.now() + timeoutMs;
  const debug = secureDebugLogger();
  const started = performance.now();
  debug?.('handshake', { side: 'client', host: options.host, port: options.port });
  // Without an identity the client still needs a static key for XX; a fresh one per
  // connection keeps it anonymous and unlinkable.
  const staticKeyPair = options.identity
    ? sharedIdentityX25519(options.identity)
    : provider.generateKeyPair();
  let serverHello: ServerHello | undefined;
  const result = await performHandshake(stream, {
    role: 'initiator',
    staticKeyPair,
    prologue: KEYWAY_PROLOGUE,
    localPayload,
    verifyRemote: async (remoteStatic, payload, payloadHash) => {
      const hello = decodeServerHello(payload);
      // Nothing in the hello is believed before the host key's signature over this
      // session verifies: known_hosts is asked about the exact bytes that signed.
      verifyServerHello(hello, remoteStatic, payloadHash, provider);
      const expected = options.expectedService;
      if (expected !== undefined && hello.service !== expected) {
        throw new ServiceMismatchError(expected, hello.service);
      }
      await checkHostKey(hello.hostKey, options);
      debug?.('host-key', {
        side: 'client',
        fingerprint: ed25519Fingerprint(hello.hostKey),
        policy: options.hostKeyPolicy ?? 'strict',
      });
      serverHello = hello;
    },
    provider,
    timeoutMs,
    ...(options.channel && { channel: options.channel }),
  });
  if (!serverHello) throw new HandshakeError('handshake finished without a server hello');
  const verifiedHostKey = serverHello.hostKey;
  const service = serverHello.service;
  // The server is authenticated now (its key passed the known_hosts check), so the
  // client may accept full-size frames at once: the server sends them right after OK.
  result.channel.setLimits(limitsAfter);
  const reader = new MessageReader(result.channel, {
    // RPC may follow OK in the same read, before handoff(): it must not count against
    // the bound on what the server sends before its verdict.
    endsAuthentication: (message) => message[0] === AuthMessage.OK,
  });
  // The deadline covers the whole exchange: a server that finishes the handshake and then
  // never answers (or stalls a password login) must not hold the client forever.
  let timer: NodeJS.Timeout | undefined;
  let remaining = Math.max(0, deadline - performance.now());
  let armedAt = 0;
  // Stops a password login's key stretching along with the exchange.
  const stop = new AbortController();
  let expire!: () => void;
  const deadlinePassed = new Promise<never>((_, reject) => {
    expire = () => reject(new HandshakeError(`handshake did not finish within ${timeoutMs} ms`));
  });
  const clock = {
    run(): void {
      armedAt = performance.now();
      timer = setTimeout(expire, remaining);
    },
    // A person typing a password is not a stalled server: the prompt's time is not counted.
    pause(): void {
      clearTimeout(timer);
      remaining = Math.max(0, remaining - (performance.now() - armedAt));
    },
  };
  clock.run();
  const hostKey = { publicKey: verifiedHostKey, fingerprint: ed25519Fingerprint(verifiedHostKey) };
  const verdict = readVerdict(reader, result.handshakeHash, options, stop.signal, async () => {
    const source = options.password;
    if (typeof source !== 'function') return source;
    if (options.username === undefined) return undefined;
    clock.pause();
    try {
      return await source({
        host: options.host,
        port: options.port,
        username: options.username,
        hostKey,
      });
    } finally {
      clock.run();
    }
  });
  // Once the deadline wins, the abandoned exchange fails on the closed channel: nobody
  // waits for that failure.
  verdict.catch(() => {});
  try {
    await Promise.race([verdict, deadlinePassed]);
    debug?.('authenticated', {
      side: 'client',
      host: options.host,
      port: options.port,
      ms: Math.round(performance.now() - started),
    });
    return {
      transport: reader.handoff(),
      hostKey,
      service,
      handshakeHash: result.handshakeHash,
    };
  } catch (thrown) {
    // A server stopping, or a balancer cutting the connection, before its verdict (also
    // in the middle of a password login): the login did not happen, which is a failed
    // handshake to the caller, with the channel's reason as the cause.
    const error =
      thrown instanceof ChannelError
        ? new HandshakeError('the channel closed before the server accepted or refused the login', {
            cause: thrown,
          })
        : thrown;
    // The peer learns only that we closed because of an error, for a missed deadline.
    stop.abort(error);
    debug?.('refused', {
      side: 'client',
      host: options.host,
      port: options.port,
      error: error instanceof Error ? error.message : String(error),
    });
    reader.close(error instanceof HandshakeError ? error : undefined);
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** Reads the server's messages until OK (resolves) or FAIL (rejects), answering requests. */
async function readVerdict(
  reader: MessageReader,
  handshakeHash: Uint8Array,
  options: ClientHandshakeOptions,
  signal: AbortSignal,
  password: () => Promise<string | undefined>,
): Promise<void> {
  for (;;) {
    const message = await reader.next();
    switch (message[0]) {
      case AuthMessage.OK:
        return;
      case AuthMessage.FAIL:
        throw new AuthenticationError('server refused the login');
      case AuthMessage.PASSWORD_REQUEST:
        await answerPasswordRequest(
          reader,
          handshakeHash,
          {
            username: options.username,
            password: await password(),
            ksfBounds: options.ksfBounds,
            ksfOptions: options.ksfOptions,
          },
          signal,
        );
        break;
      default:
        throw new HandshakeError(`unexpected authentication message type ${message[0]}`);
    }
  }
}

/** Options of {@link scanHostKey}. */
export interface ScanHostKeyOptions {
  /**
   * Crypto provider; the fastest available by default. With keyway's own providers,
   * channel messages of at most 1 KiB are sealed in JavaScript; any other provider is
   * called for every message.
   */
  provider?: CryptoProvider | undefined;
  /** Deadline in ms (default 10 s). */
  timeoutMs?: number | undefined;
}

/**
 * Reads a server's host key the way ssh-keyscan does: runs the handshake until the server
 * has proved its key (message 2), then stops. The client sends only a throwaway key and
 * never authenticates. The key is whatever answered on this connection (and signed this
 * session with exactly those bytes); check its fingerprint with the server's owner before
 * trusting it.
 * @returns the server's Ed25519 host key and its fingerprint
 * @throws HandshakeError when the peer does not complete message 2 correctly, or its
 *   hello's signature does not verify
 */
export async function scanHostKey(
  stream: Duplex,
  options: ScanHostKeyOptions = {},
): Promise<{ publicKey: Uint8Array; fingerprint: string }> {
  const provider = options.provider ?? defaultCryptoProvider();
  const stop = new HandshakeError('host key scanned');
  let hostKey: Uint8Array | undefined;
  try {
    await performHandshake(stream, {
      role: 'initiator',
      staticKeyPair: provider.generateKeyPair(),
      prologue: KEYWAY_PROLOGUE,
      verifyRemote: (remoteStatic, payload, payloadHash) => {
        const hello = decodeServerHello(payload);
        verifyServerHello(hello, remoteStatic, payloadHash, provider);
        hostKey = hello.hostKey;
        throw stop;
      },
      provider,
      ...(options.timeoutMs !== undefined && { timeoutMs: options.timeoutMs }),
    });
  } catch (error) {
    if (error !== stop) throw error;
  }
  if (!hostKey) throw new HandshakeError('handshake finished without a server hello');
  return { publicKey: hostKey, fingerprint: ed25519Fingerprint(hostKey) };
}
