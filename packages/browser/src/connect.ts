/**
 * The browser's `connect(url)`: opens a WebSocket to a keyway server's WebSocket listener
 * and runs the same authentication as the Node client over it (docs/protocol.md,
 * "WebSocket transport"): the server's host key checked against a pinned key or the
 * origin's trust-on-first-use store before the page reveals its own key, then the page's
 * key or an OPAQUE password login, then an RPC connection.
 */
import type { Duplex } from 'node:stream';
import {
  type Connection,
  type ConnectionOptions,
  connectTransport,
  DEFAULT_KEEPALIVE,
  KeywayError,
  type ServiceSpec,
  TimeoutError,
} from '@keyway/core';
import {
  type ClientHandshakeOptions,
  clientHandshake,
  type HostKeyStore,
  type Identity,
} from '@keyway/secure';
import { pinnedHostKey, storedKnownHosts } from './host-keys.js';
import { WebSocketByteStream } from './websocket-byte-stream.js';
import { workerStretch } from './worker-stretch.js';

/** Default time for opening the WebSocket and authenticating: 10 s. */
export const DEFAULT_BROWSER_CONNECT_TIMEOUT_MS = 10_000;

/** Options of the browser {@link connect}. */
export interface BrowserConnectOptions
  extends Pick<
    ClientHandshakeOptions,
    'username' | 'password' | 'expectedService' | 'ksfBounds' | 'provider' | 'channel'
  > {
  /** The page's key (see `browserIdentity()`); without one the page is anonymous. */
  identity?: Identity;
  /**
   * The server's host key, pinned by the application: `ssh-ed25519 AAAA…`, 32 bytes or a
   * `SHA256:…` fingerprint. Any other key fails with `HostKeyError`.
   */
  hostKey?: string | Uint8Array;
  /**
   * Where trusted host keys are kept when none is pinned; default the origin's
   * `localStorage` (`storedKnownHosts()`), trusting a host's key on first use.
   */
  knownHosts?: HostKeyStore;
  /**
   * With `knownHosts`: `'accept-new'` (default) records an unknown host's key on first
   * use and refuses a changed one; `'strict'` refuses unknown keys too.
   */
  hostKeyPolicy?: 'strict' | 'accept-new';
  /**
   * URL of the bundled ksf-worker script: a password login's scrypt then runs in a Web
   * Worker. Without it, scrypt runs on the page's thread (yielding now and then).
   */
  ksfWorker?: string | URL;
  /** The service this page exposes to the server (its `conn.root`). */
  service?: ServiceSpec;
  /** Time for opening and authenticating, in ms. Default 10 s. */
  timeout?: number;
  /** Cancels the attempt. */
  signal?: AbortSignal;
  /** Options of the RPC connection; keepalive is on unless turned off. */
  connection?: ConnectionOptions;
}

/** The WebSocket could not be opened (nothing listens, or the server refused the upgrade). */
export class WebSocketOpenError extends KeywayError {
  constructor(url: string) {
    super(
      'ERR_CONNECTION_REFUSED',
      `could not open a WebSocket to ${url}: is a keyway server listening there, and does it allow this page's origin?`,
    );
  }
}

/** What known_hosts calls the server at `url`. */
function targetOf(url: string | URL): { url: URL; host: string; port: number } {
  const parsed = new URL(url, globalThis.location?.href);
  // A path relative to the page (`/keyway`) resolves to the page's http(s) origin; the
  // endpoint there is the WebSocket of the same host, secure when the page is.
  if (parsed.protocol === 'http:') parsed.protocol = 'ws:';
  else if (parsed.protocol === 'https:') parsed.protocol = 'wss:';
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') {
    throw new TypeError(`a keyway WebSocket URL starts with ws: or wss:, got ${parsed.protocol}`);
  }
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = parsed.port === '' ? (parsed.protocol === 'wss:' ? 443 : 80) : Number(parsed.port);
  return { url: parsed, host, port };
}

function openWebSocket(url: URL): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    const onOpen = () => {
      ws.removeEventListener('error', onError);
      resolve(ws);
    };
    const onError = () => {
      ws.removeEventListener('open', onOpen);
      reject(new WebSocketOpenError(url.href));
    };
    ws.addEventListener('open', onOpen, { once: true });
    ws.addEventListener('error', onError, { once: true });
  });
}

/**
 * Connects a web page to a keyway server over WebSocket.
 * @param url `ws://host:port/path` or `wss://…`; a path (`/keyway`) or an `http(s):` URL
 *   means the WebSocket of that HTTP origin (`ws:`, or `wss:` for `https:`)
 * @returns an RPC connection whose `root` is the server's service
 * @throws WebSocketOpenError, TimeoutError, HostKeyError (unknown, changed or revoked host
 *   key: the page's key was not sent), AuthenticationError (key or password refused)
 * @example
 * const conn = await connect('wss://api.example/keyway', {
 *   identity: await browserIdentity(), hostKey: 'SHA256:…' });
 * await conn.root.add(1, 2);
 */
export async function connect(
  url: string | URL,
  options: BrowserConnectOptions = {},
): Promise<Connection> {
  const target = targetOf(url);
  const timeout = options.timeout ?? DEFAULT_BROWSER_CONNECT_TIMEOUT_MS;
  if (!Number.isFinite(timeout) || timeout <= 0) throw new RangeError('timeout must be positive');
  options.signal?.throwIfAborted();
  const knownHosts =
    options.hostKey !== undefined
      ? pinnedHostKey(options.hostKey)
      : (options.knownHosts ?? storedKnownHosts());
  const hostKeyPolicy =
    options.hostKey !== undefined ? 'strict' : (options.hostKeyPolicy ?? 'accept-new');
  let stream: WebSocketByteStream | undefined;
  let socket: WebSocket | undefined;
  let giveUp!: (reason: unknown) => void;
  const stopped = new Promise<never>((_, reject) => {
    giveUp = reject;
  });
  const timer = setTimeout(
    () =>
      giveUp(new TimeoutError(`connecting to ${target.url.href} took longer than ${timeout} ms`)),
    timeout,
  );
  const onAbort = () => giveUp(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const attempt = (async () => {
    socket = await openWebSocket(target.url);
    stream = new WebSocketByteStream(socket);
    const { transport } = await clientHandshake(
      // The handshake and the channel use only the Duplex members this stream has.
      stream as unknown as Duplex,
      {
        host: target.host,
        port: target.port,
        identity: options.identity,
        knownHosts,
        hostKeyPolicy,
        username: options.username,
        password: options.password,
        expectedService: options.expectedService,
        ksfBounds: options.ksfBounds,
        provider: options.provider,
        channel: options.channel,
        timeoutMs: timeout,
        ...(options.ksfWorker !== undefined && {
          ksfOptions: { stretch: workerStretch(options.ksfWorker) },
        }),
      },
    );
    return connectTransport(transport, {
      ...options.connection,
      keepalive: options.connection?.keepalive ?? DEFAULT_KEEPALIVE,
      service: options.service,
    });
  })();
  try {
    return await Promise.race([attempt, stopped]);
  } catch (error) {
    attempt.then(
      (c) => c.close(),
      () => {},
    );
    stream?.destroy();
    socket?.close();
    throw error;
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
  }
}
