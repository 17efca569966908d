/**
 * The client's `connect()`: dial, authenticate in the SSH model (check the server's host
 * key against known_hosts, prove our own key or password), then open an RPC connection.
 * Each way it can fail is a distinct typed error whose message says what to do.
 */
import { isIP, connect as netConnect, type Socket } from 'node:net';
import {
  type Connection,
  type ConnectionOptions,
  connectTransport,
  type ServiceSpec,
  TimeoutError,
} from '@keyway/core';
import { ChannelError, type ClientHandshakeOptions, clientHandshake } from '@keyway/secure';
import { debugFromEnvironment } from './debug.js';
import { ConnectionRefusedError, ConnectionResetError } from './errors.js';
import { withNetworkDefaults } from './network-defaults.js';

/** Options of {@link connect}. */
export interface ConnectOptions
  extends Omit<ClientHandshakeOptions, 'host' | 'port' | 'timeoutMs'> {
  /** The service this side exposes to the server (its `conn.root`); none by default. */
  service?: ServiceSpec;
  /**
   * Time for dialling and authenticating, in ms, less the time a `password` function (a
   * prompt) takes. Default 10 s.
   */
  timeout?: number;
  /** Cancels the attempt. */
  signal?: AbortSignal;
  /**
   * The local address to connect from (TCP only), for a host with several; default the
   * system's choice.
   */
  localAddress?: string;
  /**
   * Options of the RPC connection (call timeouts, limits, exposure rules). `keepalive`
   * defaults to on here (`DEFAULT_KEEPALIVE`: PING after 30 s of silence, close after
   * 60 s); `{ keepalive: false }` turns it off.
   */
  connection?: ConnectionOptions;
}

/** Default time for dialling and authenticating. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

function dial(
  target: { host: string; port: number; localAddress?: string | undefined } | { path: string },
): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket =
      'path' in target
        ? netConnect({ path: target.path })
        : netConnect({
            host: target.host,
            port: target.port,
            noDelay: true,
            ...(target.localAddress !== undefined && { localAddress: target.localAddress }),
          });
    const onError = (error: NodeJS.ErrnoException) => {
      socket.destroy();
      const address = 'path' in target ? target.path : `${target.host}:${target.port}`;
      if (
        error.code === 'ECONNREFUSED' ||
        error.code === 'ENOENT' ||
        error.code === 'EHOSTUNREACH'
      ) {
        reject(new ConnectionRefusedError(address, { cause: error }));
      } else {
        reject(error);
      }
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.off('error', onError);
      resolve(socket);
    });
  });
}

/**
 * Connects to a keyway server over TCP, or over a Unix domain socket when called as
 * `connect(path, options)`.
 * @returns an RPC connection whose `root` is the server's service
 * @throws ConnectionRefusedError, TimeoutError, HostKeyError (unknown, changed or revoked
 *   host key), AuthenticationError (the server refused our key or password)
 * @example
 * const conn = await connect('127.0.0.1', 18861, { identity, knownHosts });
 * const calc = conn.root as Remote<Calculator>;
 */
export function connect(host: string, port: number, options: ConnectOptions): Promise<Connection>;
export function connect(path: string, options: ConnectOptions): Promise<Connection>;
export async function connect(
  hostOrPath: string,
  portOrOptions: number | ConnectOptions,
  maybeOptions?: ConnectOptions,
): Promise<Connection> {
  debugFromEnvironment();
  const unix = typeof portOrOptions !== 'number';
  const options = (unix ? portOrOptions : maybeOptions) ?? ({} as ConnectOptions);
  if (typeof hostOrPath !== 'string' || hostOrPath === '') {
    throw new TypeError('connect: host (or socket path) must be a non-empty string');
  }
  if (!unix && (!Number.isInteger(portOrOptions) || portOrOptions < 1 || portOrOptions > 65535)) {
    throw new RangeError(`connect: port must be an integer 1..65535, got ${String(portOrOptions)}`);
  }
  const port = unix ? 0 : portOrOptions;
  if (options.localAddress !== undefined && (unix || isIP(options.localAddress) === 0)) {
    throw new TypeError(
      `connect: localAddress must be an IP address of a TCP connection, got ${String(options.localAddress)}`,
    );
  }
  const timeout = options.timeout ?? DEFAULT_CONNECT_TIMEOUT_MS;
  options.signal?.throwIfAborted();

  let socket: Socket | undefined;
  let settled = false;
  let giveUp!: (reason: unknown) => void;
  const stopped = new Promise<never>((_, reject) => {
    giveUp = (reason) => {
      socket?.destroy();
      reject(reason);
    };
  });
  const expire = () =>
    giveUp(
      new TimeoutError(
        `connecting to ${unix ? hostOrPath : `${hostOrPath}:${port}`} took longer than ${timeout} ms`,
      ),
    );
  let remaining = timeout;
  let armedAt = performance.now();
  let timer = setTimeout(expire, remaining);
  // A password prompt runs once the host key is verified; a person typing is not a slow
  // server, so its time does not count (clientHandshake does the same with its deadline).
  const source = options.password;
  const password: ConnectOptions['password'] =
    typeof source !== 'function'
      ? source
      : async (request) => {
          clearTimeout(timer);
          remaining = Math.max(0, remaining - (performance.now() - armedAt));
          try {
            return await source(request);
          } finally {
            armedAt = performance.now();
            if (!settled) timer = setTimeout(expire, remaining);
          }
        };
  const onAbort = () => giveUp(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const attempt = (async () => {
    socket = await dial(
      unix ? { path: hostOrPath } : { host: hostOrPath, port, localAddress: options.localAddress },
    );
    const closedEarly = new Promise<never>((_, reject) => {
      socket?.once('close', () =>
        reject(new ConnectionResetError('the server closed the connection during authentication')),
      );
    });
    closedEarly.catch(() => {});
    const { transport } = await Promise.race([
      clientHandshake(socket, {
        ...options,
        password,
        host: hostOrPath,
        port: unix ? 22 : port,
        timeoutMs: timeout,
      }),
      closedEarly,
    ]);
    const connection = await connectTransport(transport, {
      ...withNetworkDefaults(options.connection),
      service: options.service,
    }).catch((error: unknown) => {
      // The server (a draining one, say) closed the channel right after its verdict, before
      // the connection opened: a reset to the caller, who may dial again.
      throw error instanceof ChannelError
        ? new ConnectionResetError('the server closed the connection as it opened', {
            cause: error,
          })
        : error;
    });
    // The deadline or the signal won the race meanwhile: nobody will use this connection.
    if (settled) void connection.close();
    return connection;
  })();
  try {
    return await Promise.race([attempt, stopped]);
  } catch (error) {
    socket?.destroy();
    throw error;
  } finally {
    settled = true;
    attempt.catch(() => {});
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
  }
}
