/**
 * The WebSocket side of a keyway server (docs/protocol.md, "WebSocket transport"): accepts
 * upgrades on its own HTTP server or on one the application owns, refuses browser origins
 * it was not told to trust and messages above a bound before any byte reaches the
 * handshake, and hands each accepted WebSocket to the listener as a byte stream, where
 * the same admission limits, authenticators and deadlines as for TCP apply.
 */
import { createServer, type Server as HttpServer, type IncomingMessage } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { WEBSOCKET_MESSAGE_BYTES, WebSocketStream } from './websocket-stream.js';

/** Largest `maxPayload` accepted: 1 MiB. */
export const MAX_WEBSOCKET_PAYLOAD = 1024 * 1024;

/** Where and how a server accepts WebSocket connections. */
export interface WebSocketListenOptions {
  /** Port of the server's own HTTP listener; 0 (default) lets the system choose. */
  port?: number;
  /** Address of the server's own HTTP listener; default the server's `host`, else 127.0.0.1. */
  host?: string;
  /**
   * An HTTP(S) server the application owns and listens with, instead of `port`: keyway
   * answers its upgrade requests for `path` and leaves every other request alone.
   */
  server?: HttpServer | HttpsServer;
  /** The only request path accepted, e.g. `/keyway`; default any path. */
  path?: string;
  /**
   * Browser origins allowed to connect (`https://app.example`), or `'*'` for any. Default
   * none: a request carrying an `Origin` header (every browser's does) is refused with
   * HTTP 403, so that no web page can use a visitor's browser to reach the server
   * unless listed. Requests without `Origin` (programs, not browsers) are accepted.
   */
  allowedOrigins?: readonly string[] | '*';
  /**
   * Largest WebSocket message accepted, in bytes, checked before the message is buffered
   * and before authentication; a larger one closes that connection (code 1009). Default
   * and minimum 64 KiB (what a keyway peer sends at most), maximum 1 MiB.
   */
  maxPayload?: number;
}

/** The address the WebSocket listener is bound to. */
export interface WebSocketAddress {
  readonly host: string;
  readonly port: number;
  readonly path: string | undefined;
}

/** What the listener tells its owner. */
export interface WebSocketListenerEvents {
  /** An upgraded WebSocket, as a byte stream, for admission. */
  stream(stream: Duplex, remoteAddress: string, remotePort: number | undefined): void;
  /** An upgrade refused before it happened (origin or path). */
  refused(remoteAddress: string, reason: 'origin'): void;
}

/**
 * Accepts WebSocket upgrades and turns them into byte streams.
 * @internal used by the servers' listener
 */
export class WebSocketListener {
  readonly #options: WebSocketListenOptions;
  readonly #events: WebSocketListenerEvents;
  readonly #wss: WebSocketServer;
  readonly #headersTimeoutMs: number;
  #http: HttpServer | HttpsServer | undefined;
  #owned = false;
  #onUpgrade: ((req: IncomingMessage, socket: Duplex, head: Buffer) => void) | undefined;

  /**
   * @param options where to listen and what to accept
   * @param defaultHost the host of the server's TCP listener
   * @param headersTimeoutMs time for a client to send its upgrade request
   * @throws {TypeError|RangeError} on invalid options
   */
  constructor(
    options: WebSocketListenOptions,
    events: WebSocketListenerEvents,
    defaultHost: string,
    headersTimeoutMs: number,
  ) {
    if (typeof options !== 'object' || options === null) {
      throw new TypeError('websocket must be an object of options');
    }
    if (options.server !== undefined && options.port !== undefined) {
      throw new TypeError('websocket: give either server or port, not both');
    }
    if (
      options.port !== undefined &&
      (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535)
    ) {
      throw new RangeError(`websocket.port must be an integer 0..65535, got ${options.port}`);
    }
    if (
      options.path !== undefined &&
      (typeof options.path !== 'string' || options.path[0] !== '/')
    ) {
      throw new TypeError('websocket.path must be a string starting with /');
    }
    const origins = options.allowedOrigins;
    if (
      origins !== undefined &&
      origins !== '*' &&
      !(Array.isArray(origins) && origins.every((o) => typeof o === 'string'))
    ) {
      throw new TypeError("websocket.allowedOrigins must be an array of origins or '*'");
    }
    const maxPayload = options.maxPayload ?? WEBSOCKET_MESSAGE_BYTES;
    if (
      !Number.isInteger(maxPayload) ||
      maxPayload < WEBSOCKET_MESSAGE_BYTES ||
      maxPayload > MAX_WEBSOCKET_PAYLOAD
    ) {
      throw new RangeError(
        `websocket.maxPayload must be an integer ${WEBSOCKET_MESSAGE_BYTES}..${MAX_WEBSOCKET_PAYLOAD}, got ${maxPayload}`,
      );
    }
    this.#options = { ...options, host: options.host ?? defaultHost };
    this.#events = events;
    this.#headersTimeoutMs = headersTimeoutMs;
    // Compression buys nothing on ciphertext and would let a small message inflate.
    this.#wss = new WebSocketServer({ noServer: true, maxPayload, perMessageDeflate: false });
  }

  /** The bound address, once listening. */
  get address(): WebSocketAddress | undefined {
    const address = this.#http?.address();
    if (!address || typeof address === 'string') return undefined;
    return { host: address.address, port: address.port, path: this.#options.path };
  }

  /** Starts accepting upgrades (and listening, when the server is our own). */
  async listen(): Promise<WebSocketAddress | undefined> {
    let http = this.#options.server;
    if (!http) {
      const own = createServer((_req, res) => {
        res.writeHead(426, { 'content-type': 'text/plain', connection: 'close' });
        res.end('this is a keyway WebSocket endpoint\n');
      });
      own.headersTimeout = this.#headersTimeoutMs;
      own.requestTimeout = this.#headersTimeoutMs;
      http = own;
      this.#owned = true;
    }
    this.#http = http;
    this.#onUpgrade = (req, socket, head) => this.#upgrade(req, socket, head);
    http.on('upgrade', this.#onUpgrade);
    if (this.#owned) {
      const server = http;
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: this.#options.host, port: this.#options.port ?? 0 }, () => {
          server.off('error', reject);
          resolve();
        });
      });
    }
    return this.address;
  }

  /** Stops accepting upgrades; WebSockets already open are left to the listener. */
  close(): Promise<void> {
    const http = this.#http;
    if (!http) return Promise.resolve();
    if (this.#onUpgrade) http.off('upgrade', this.#onUpgrade);
    this.#onUpgrade = undefined;
    if (!this.#owned || !http.listening) return Promise.resolve();
    return new Promise((resolve) => {
      http.close(() => resolve());
      // close() waits for open connections; the listener destroys those itself.
      setImmediate(resolve);
    });
  }

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const remoteAddress = req.socket.remoteAddress ?? 'unknown';
    const path = this.#options.path;
    if (path !== undefined && pathOf(req.url) !== path) {
      // Another handler of the application's server may own this path.
      if (this.#owned) reject(socket, 404, 'Not Found');
      return;
    }
    const origin = req.headers.origin;
    if (origin !== undefined && !this.#originAllowed(origin)) {
      reject(socket, 403, 'Forbidden');
      this.#events.refused(remoteAddress, 'origin');
      return;
    }
    socket.on('error', () => {});
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      const stream = new WebSocketStream(ws, {
        remoteAddress,
        remotePort: req.socket.remotePort,
      });
      this.#events.stream(stream, remoteAddress, req.socket.remotePort);
    });
  }

  #originAllowed(origin: string): boolean {
    const allowed = this.#options.allowedOrigins;
    if (allowed === '*') return true;
    return allowed?.includes(origin) ?? false;
  }
}

function pathOf(url: string | undefined): string {
  if (url === undefined) return '/';
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

function reject(socket: Duplex, status: number, text: string): void {
  socket.on('error', () => {});
  socket.once('finish', () => socket.destroy());
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}
