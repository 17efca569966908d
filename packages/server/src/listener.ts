/**
 * Accepting sockets under the server limits: the part every keyway server shares. A
 * subclass decides what to do with an admitted socket (serve it on this thread, or hand
 * its bytes to a worker) and reports when it is authenticated and when it is gone.
 */
import { EventEmitter } from 'node:events';
import { chmodSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { resolveLimits, type ServerLimits, SourceCounter, shouldDropStartup } from './limits.js';
import {
  type WebSocketAddress,
  WebSocketListener,
  type WebSocketListenOptions,
} from './websocket-listener.js';

/** Where a server listens: TCP (`host`, `port`) or a Unix domain socket (`path`). */
export interface ListenOptions {
  /** Address to bind; default `127.0.0.1`. */
  host?: string;
  /** Port to bind; 0 (default) lets the system choose. */
  port?: number;
  /** A Unix domain socket path, instead of host and port. */
  path?: string;
  /** Pending-connection queue length passed to listen(2). */
  backlog?: number;
  /**
   * Permission bits of the Unix domain socket at `path`, set explicitly right after it is
   * bound (never left to the umask). Default 0o600: only the owner may connect.
   */
  socketMode?: number;
  /**
   * The random source of `maxStartups` early drop, returning numbers in [0, 1). Default
   * `Math.random`; tests pass a fixed sequence.
   */
  random?: () => number;
  /**
   * Also accept keyway over WebSocket (docs/protocol.md, "WebSocket transport"), on a port
   * of its own or on an HTTP server the application owns; the same admission limits,
   * authenticators and deadlines apply. Off by default.
   */
  websocket?: WebSocketListenOptions;
}

/** Default mode of a server's Unix domain socket: read and write for the owner only. */
export const DEFAULT_SOCKET_MODE = 0o600;

/** The address a server is bound to. */
export type BoundAddress =
  | { readonly host: string; readonly port: number; readonly family: string }
  | { readonly path: string };

/** A socket the listener admitted, with what it knows of the peer. */
export interface Admission {
  /** A TCP or Unix socket, or a WebSocket seen as a byte stream. */
  readonly socket: Duplex;
  /** Peer IP for TCP, `unix:<path>` for a Unix socket. */
  readonly remoteAddress: string;
  readonly remotePort?: number | undefined;
  /** Call once the peer is authenticated: frees its unauthenticated slot. */
  authenticated(): void;
}

/** Why the listener turned a socket away before authentication. */
export type RefusalReason =
  | 'max-connections'
  | 'max-unauthenticated-per-source'
  | 'max-startups'
  | 'closing'
  /** A browser page from an origin the `websocket.allowedOrigins` option does not list. */
  | 'origin';

/** Payload of the `connection` event: a socket was admitted and authentication begins. */
export interface ConnectionEvent {
  readonly remoteAddress: string;
  readonly remotePort?: number | undefined;
}

/** Payload of the `refused` event: a socket turned away before any byte was read. */
export interface RefusedEvent {
  readonly remoteAddress: string;
  readonly reason: RefusalReason;
}

/**
 * The accept loop with admission limits. Subclasses implement {@link admit}.
 * @internal shared by the servers of this package
 */
export abstract class Listener extends EventEmitter {
  protected readonly limits: Required<ServerLimits>;
  readonly #listen: ListenOptions;
  readonly #sources: SourceCounter;
  readonly #sockets = new Set<Duplex>();
  readonly #random: () => number;
  readonly #socketMode: number;
  /** Sockets admitted that have not authenticated yet (and are still open). */
  #unauthenticated = 0;
  #server: Server | undefined;
  #websocket: WebSocketListener | undefined;
  #closing = false;
  #accepting = true;

  constructor(listen: ListenOptions, limits: ServerLimits) {
    super();
    if (listen.path !== undefined && (listen.host !== undefined || listen.port !== undefined)) {
      throw new TypeError('give either path or host/port, not both');
    }
    if (
      listen.port !== undefined &&
      (!Number.isInteger(listen.port) || listen.port < 0 || listen.port > 65535)
    ) {
      throw new RangeError(`port must be an integer 0..65535, got ${String(listen.port)}`);
    }
    const mode = listen.socketMode ?? DEFAULT_SOCKET_MODE;
    if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) {
      throw new RangeError(`socketMode must be an integer 0..0o777, got ${String(mode)}`);
    }
    if (listen.random !== undefined && typeof listen.random !== 'function') {
      throw new TypeError('random must be a function returning numbers in [0, 1)');
    }
    this.#socketMode = mode;
    this.#random = listen.random ?? Math.random;
    this.#listen = listen;
    this.limits = resolveLimits(limits);
    this.#sources = new SourceCounter(this.limits.maxUnauthenticatedPerSource);
    if (listen.websocket !== undefined) {
      this.#websocket = new WebSocketListener(
        listen.websocket,
        {
          stream: (stream, remoteAddress, remotePort) =>
            this.#onStream(stream, remoteAddress, remotePort),
          refused: (remoteAddress, reason) =>
            this.emit('refused', { remoteAddress, reason } satisfies RefusedEvent),
        },
        listen.host ?? '127.0.0.1',
        this.limits.handshakeTimeoutMs,
      );
    }
  }

  /** The WebSocket listener's address, once listening with the `websocket` option. */
  get websocketAddress(): WebSocketAddress | undefined {
    return this.#websocket?.address;
  }

  /** Sockets open now, authenticated or not. */
  get socketCount(): number {
    return this.#sockets.size;
  }

  /** Sockets open now that have not finished authenticating. */
  get unauthenticatedCount(): number {
    return this.#unauthenticated;
  }

  /** The same count, under the name `server.stats()` reports it by. */
  get authenticatingCount(): number {
    return this.#unauthenticated;
  }

  /** True once `close()` was called. */
  get closing(): boolean {
    return this.#closing;
  }

  /** The bound address, once listening. */
  get address(): BoundAddress | undefined {
    const address = this.#server?.address();
    if (!address) return undefined;
    if (typeof address === 'string') return { path: address };
    return { host: address.address, port: address.port, family: address.family };
  }

  /**
   * Starts listening.
   * @returns the bound address (with the chosen port when `port` was 0)
   */
  async listen(): Promise<BoundAddress> {
    if (this.#server) throw new Error('server is already listening');
    if (this.#closing || !this.#accepting) throw new Error('server is closed');
    const server = createServer({ noDelay: true }, (socket) => this.#onSocket(socket));
    this.#server = server;
    server.on('error', (error) => this.emit('error', error));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      const done = () => {
        server.off('error', reject);
        resolve();
      };
      const path = this.#listen.path;
      if (path !== undefined) {
        server.listen({ path, backlog: this.#listen.backlog }, () => {
          // The socket was created with the umask's mode. The listening callback runs
          // before the first accepted connection is handled, so no connection is served
          // before the mode is right (docs/security.md, "Admission").
          try {
            chmodSync(path, this.#socketMode);
          } catch (error) {
            server.off('error', reject);
            server.close();
            reject(error);
            return;
          }
          done();
        });
      } else {
        server.listen(
          {
            host: this.#listen.host ?? '127.0.0.1',
            port: this.#listen.port ?? 0,
            backlog: this.#listen.backlog,
          },
          done,
        );
      }
    });
    if (this.#websocket) {
      try {
        await this.#websocket.listen();
      } catch (error) {
        server.close();
        throw error;
      }
    }
    return this.address as BoundAddress;
  }

  /**
   * Stops accepting new sockets; open ones are left to the subclass.
   * @param closing whether the server is closing (connections still authenticating are
   *   then dropped), or only stops taking new ones
   */
  protected stopListening(closing = true): Promise<void> {
    this.#accepting = false;
    if (closing) this.#closing = true;
    const server = this.#server;
    const websocket = this.#websocket?.close();
    if (!server?.listening) return websocket ?? Promise.resolve();
    const tcp = new Promise<void>((resolve) => {
      server.close(() => resolve());
      // server.close() waits for every socket; subclasses close those themselves.
      setImmediate(resolve);
    });
    return Promise.all([tcp, websocket]).then(() => {});
  }

  /** Destroys every socket still open. */
  protected destroySockets(): void {
    for (const socket of this.#sockets) socket.destroy();
  }

  /** Handles one admitted socket; resolves or rejects when the subclass is done with it. */
  protected abstract admit(admission: Admission): void;

  #onSocket(socket: Socket): void {
    this.#onStream(
      socket,
      socket.remoteAddress ?? `unix:${this.#listen.path ?? ''}`,
      socket.remotePort,
    );
  }

  /** Admits (or refuses) one connection's byte stream, whatever carried it. */
  #onStream(socket: Duplex, remoteAddress: string, remotePort: number | undefined): void {
    const refuse = (reason: RefusalReason) => {
      socket.destroy();
      this.emit('refused', { remoteAddress, reason } satisfies RefusedEvent);
    };
    const refusal = this.#refusal(remoteAddress);
    if (refusal) {
      refuse(refusal);
      return;
    }
    this.#unauthenticated++;
    let holdsSlot = true;
    const freeSlot = () => {
      if (!holdsSlot) return;
      holdsSlot = false;
      this.#unauthenticated--;
      this.#sources.release(remoteAddress);
    };
    this.#sockets.add(socket);
    // Errors surface through 'close'; an unhandled 'error' must never take the process down.
    socket.on('error', () => {});
    socket.once('close', () => {
      this.#sockets.delete(socket);
      freeSlot();
    });
    this.emit('connection', { remoteAddress, remotePort } satisfies ConnectionEvent);
    this.admit({ socket, remoteAddress, remotePort, authenticated: freeSlot });
  }

  /** Why a new socket from `remoteAddress` is turned away; undefined admits it (and counts it). */
  #refusal(remoteAddress: string): RefusalReason | undefined {
    if (this.#closing || !this.#accepting) return 'closing';
    const { maxConnections, reservedForAuthenticated, maxStartups } = this.limits;
    if (this.#sockets.size >= maxConnections) return 'max-connections';
    // Strangers never take the reserved slots: at most this many may be authenticating.
    const unauthenticatedRoom = Math.max(1, maxConnections - reservedForAuthenticated);
    if (this.#unauthenticated >= unauthenticatedRoom) return 'max-connections';
    if (shouldDropStartup(this.#unauthenticated, maxStartups, this.#random)) {
      return 'max-startups';
    }
    // Last, so that a refused socket never holds a per-source slot.
    if (!this.#sources.acquire(remoteAddress)) return 'max-unauthenticated-per-source';
    return undefined;
  }
}
