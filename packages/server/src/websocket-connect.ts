/**
 * `connectWebSocket()`: the Node client of a server's WebSocket listener. The same
 * authentication as `connect()` (host key checked against known_hosts under the URL's
 * host and port, then our key or password) over a WebSocket instead of a TCP socket
 * (docs/protocol.md, "WebSocket transport").
 */
import { type Connection, connectTransport, TimeoutError } from '@keyway/core';
import { clientHandshake } from '@keyway/secure';
import { type ClientOptions, WebSocket } from 'ws';
import { type ConnectOptions, DEFAULT_CONNECT_TIMEOUT_MS } from './connect.js';
import { ConnectionRefusedError, ConnectionResetError } from './errors.js';
import { withNetworkDefaults } from './network-defaults.js';
import { WebSocketStream } from './websocket-stream.js';

/** Options of {@link connectWebSocket}. */
export interface ConnectWebSocketOptions extends ConnectOptions {
  /**
   * The `Origin` header to send, as a browser would; default none. Servers refuse a
   * request whose origin they do not list.
   */
  origin?: string;
}

/** Splits a `ws:` or `wss:` URL into what known_hosts names the server by. */
export function webSocketTarget(url: string | URL): { url: URL; host: string; port: number } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`not a URL: ${String(url)}`);
  }
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') {
    throw new TypeError(`a keyway WebSocket URL starts with ws: or wss:, got ${parsed.protocol}`);
  }
  // known_hosts has no brackets around an IPv6 address of its own; URL keeps them.
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = parsed.port === '' ? (parsed.protocol === 'wss:' ? 443 : 80) : Number(parsed.port);
  return { url: parsed, host, port };
}

/**
 * Connects to a keyway server's WebSocket listener.
 * @param url `ws://host:port/path` or `wss://…`
 * @returns an RPC connection whose `root` is the server's service
 * @throws ConnectionRefusedError (nothing listens, or the server refused the upgrade),
 *   TimeoutError, HostKeyError, AuthenticationError, as `connect()`
 * @example
 * const conn = await connectWebSocket('ws://127.0.0.1:8080/keyway', { identity, knownHosts });
 */
export async function connectWebSocket(
  url: string | URL,
  options: ConnectWebSocketOptions,
): Promise<Connection> {
  const target = webSocketTarget(url);
  const timeout = options.timeout ?? DEFAULT_CONNECT_TIMEOUT_MS;
  options.signal?.throwIfAborted();
  const wsOptions: ClientOptions = { perMessageDeflate: false, handshakeTimeout: timeout };
  if (options.origin !== undefined) wsOptions.origin = options.origin;
  const ws = new WebSocket(target.url, wsOptions);
  let stream: WebSocketStream | undefined;
  let giveUp!: (reason: unknown) => void;
  const stopped = new Promise<never>((_, reject) => {
    giveUp = reject;
  });
  const timer = setTimeout(
    () => giveUp(new TimeoutError(`connecting to ${target.url} took longer than ${timeout} ms`)),
    timeout,
  );
  const onAbort = () => giveUp(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const attempt = (async () => {
    await new Promise<void>((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('unexpected-response', (_req, res) => {
        reject(new ConnectionRefusedError(`${target.url} (HTTP ${res.statusCode ?? 'error'})`, {}));
      });
      ws.once('error', (error) =>
        reject(new ConnectionRefusedError(String(target.url), { cause: error })),
      );
    });
    stream = new WebSocketStream(ws);
    const current = stream;
    const closedEarly = new Promise<never>((_, reject) => {
      current.once('close', () =>
        reject(new ConnectionResetError('the server closed the connection during authentication')),
      );
    });
    closedEarly.catch(() => {});
    const { transport } = await Promise.race([
      clientHandshake(current, {
        ...options,
        host: target.host,
        port: target.port,
        timeoutMs: timeout,
      }),
      closedEarly,
    ]);
    return connectTransport(transport, {
      ...withNetworkDefaults(options.connection),
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
    ws.terminate();
    throw error;
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
  }
}
