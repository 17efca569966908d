/**
 * Accepting sockets under the server limits: the part every keyway server shares. A
 * subclass decides what to do with an admitted socket (serve it on this thread, or hand
 * its bytes to a worker) and reports when it is authenticated and when it is gone.
 */
import { EventEmitter } from 'node:events';
import { chmodSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { debugFromEnvironment } from './debug.js';
import { resolveLimits, type ServerLimits, SourceCounter, shouldDropStartup } from './limits.js';
import {
  type ProxyProtocolOptions,
  ProxyTrust,
  readProxyHeader,
  refuseProxyHeader,
} from './proxy-protocol.js';
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
   * Accept the PROXY protocol (v1 and v2) from these load balancers: their connections
   * must start with a header, whose client address then stands for the peer everywhere
   * (limits, `from=`, `ipAllowlist`, the login limiter, credentials, events). Any other
   * peer that sends a header is refused. Off by default.
   */
  proxyProtocol?: ProxyProtocolOptions;
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
  /** The load balancer's address, when the peer's came in a PROXY header. */
  readonly via?: string | undefined;
  /** What is left of the handshake deadline, in ms (a PROXY header took the rest). */
  readonly handshakeTimeoutMs: number;
  /** Call once the peer is authenticated: frees its unauthenticated slot. */
  authenticated(): void;
  /**
   * Call when the socket is about to be handed to another process: the connection stays
   * counted (in `socketCount`, and in its unauthenticated slot until `authenticated()`)
   * after this process's copy closes, until the returned function is called.
   */
  handOff(): () => void;
}

/** Why the listener turned a socket away before authentication. */
export type RefusalReason =
  | 'max-connections'
  | 'max-unauthenticated-per-source'
  | 'max-startups'
  | 'proxy-protocol'
  | 'closing'
  /** A browser page from an origin the `websocket.allowedOrigins` option does not list. */
  | 'origin';

/** Payload of the `connection` event: a socket was admitted and authentication begins. */
export interface ConnectionEvent {
  readonly remoteAddress: string;
  readonly remotePort?: number | undefined;
  /** The load balancer's address, when `remoteAddress` came in a PROXY header. */
  readonly via?: string | undefined;
}

/**
 * Payload of the `refused` event: a socket turned away before authentication began —
 * before any byte was read, or (`proxy-protocol`) over its PROXY header.
 */
export interface RefusedEvent {
  readonly remoteAddress: string;
  readonly reason: RefusalReason;
  /** For `proxy-protocol`: a `ProxyProtocolError` or `TimeoutError` saying what was wrong. */
  readonly error?: Error | undefined;
}

/** What one admitted socket holds of the listener's counts, until it closes. */
interface Slot {
  readonly owner: Listener;
  /** The per-source slot it holds (none for a balancer's socket before its header). */
  source: string | undefined;
  /** Whether it still holds an unauthenticated slot. */
  holds: boolean;
  /** Whether another process holds the socket now (see `Admission.handOff`). */
  handedOff: boolean;
}

/** The 'error' listener of every admitted socket: errors surface through 'close'. */
function ignoreError(): void {}

/** Where the 'close' listener shared by every admitted socket finds the socket's slot. */
const SLOT = Symbol('keyway.admissionSlot');
type SlottedStream = Duplex & { [SLOT]?: Slot };

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
  readonly #proxy: ProxyTrust | undefined;
  /** Sockets admitted that have not authenticated yet (and are still open). */
  #unauthenticated = 0;
  /** Connections whose socket another process holds now (see `Admission.handOff`). */
  #handedOff = 0;
  #server: Server | undefined;
  #websocket: WebSocketListener | undefined;
  #closing = false;
  #accepting = true;

  constructor(listen: ListenOptions, limits: ServerLimits) {
    super();
    debugFromEnvironment();
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
    this.#proxy =
      listen.proxyProtocol === undefined ? undefined : new ProxyTrust(listen.proxyProtocol);
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
            this.#onStream(stream, remoteAddress, remotePort, false),
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
    return this.#sockets.size + this.#handedOff;
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
    const server = createServer({ noDelay: true, pauseOnConnect: this.pauseOnConnect }, (socket) =>
      this.#onSocket(socket),
    );
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

  /**
   * Whether accepted sockets start paused (no byte read in this process), as a server that
   * hands them to other processes needs. Default false.
   */
  protected get pauseOnConnect(): boolean {
    return false;
  }

  /** Handles one admitted socket; resolves or rejects when the subclass is done with it. */
  protected abstract admit(admission: Admission): void;

  #onSocket(socket: Socket): void {
    this.#onStream(
      socket,
      socket.remoteAddress ?? `unix:${this.#listen.path ?? ''}`,
      socket.remotePort,
      true,
    );
  }

  /**
   * Admits (or refuses) one connection's byte stream, whatever carried it. A PROXY header
   * is looked for only on a TCP or Unix socket (`proxyCapable`), never on a WebSocket.
   */
  #onStream(
    socket: Duplex,
    peer: string,
    peerPort: number | undefined,
    proxyCapable: boolean,
  ): void {
    const refuse = (remoteAddress: string, reason: RefusalReason, error?: Error) => {
      socket.destroy();
      this.emit('refused', { remoteAddress, reason, error } satisfies RefusedEvent);
    };
    // A balancer's own address says nothing of its clients: their per-source slots are
    // taken once the header names them.
    const trust = proxyCapable ? this.#proxy : undefined;
    const balancer = trust?.trusts((socket as Socket).remoteAddress) === true;
    const refusal = this.#refusal(peer, !balancer);
    if (refusal) {
      refuse(peer, refusal);
      return;
    }
    const acceptedAt = Date.now();
    this.#unauthenticated++;
    const slot: Slot = {
      owner: this,
      source: balancer ? undefined : peer,
      holds: true,
      handedOff: false,
    };
    const freeSlot = () => this.#free(slot);
    this.#sockets.add(socket);
    // Errors surface through 'close'; an unhandled 'error' must never take the process down.
    socket.on('error', ignoreError);
    // One listener shared by every socket (Node calls it with the socket as `this`), not a
    // closure per socket: it lives as long as the connection.
    (socket as SlottedStream)[SLOT] = slot;
    // 'close' comes once: `on` spares the wrapper that `once` makes per socket.
    socket.on('close', Listener.#onSocketClose);
    const handOff = (): (() => void) => {
      if (slot.handedOff) throw new Error('socket already handed off');
      slot.handedOff = true;
      // This process's copy of a sent socket never emits 'close': stop tracking it here.
      this.#sockets.delete(socket);
      this.#handedOff++;
      let counted = true;
      return () => {
        if (!counted) return;
        counted = false;
        this.#handedOff--;
        this.#free(slot);
      };
    };
    const deadline = this.limits.handshakeTimeoutMs;
    let port = peerPort;
    const admit = (remoteAddress: string, via: string | undefined) => {
      this.emit('connection', {
        remoteAddress,
        remotePort: port,
        via,
      } satisfies ConnectionEvent);
      this.admit({
        socket,
        remoteAddress,
        remotePort: port,
        via,
        handshakeTimeoutMs: Math.max(1, deadline - (Date.now() - acceptedAt)),
        authenticated: freeSlot,
        handOff,
      });
    };
    if (trust === undefined) {
      admit(peer, undefined);
      return;
    }
    if (!balancer) {
      refuseProxyHeader(socket as Socket, deadline).then(
        () => {
          if (!socket.destroyed) admit(peer, undefined);
        },
        (error: Error) => refuse(peer, 'proxy-protocol', error),
      );
      return;
    }
    readProxyHeader(socket as Socket, trust.maxHeaderBytes, deadline).then(
      (header) => {
        if (socket.destroyed) return;
        const client = header.source;
        if (client === undefined) {
          // LOCAL (a health check) or an address the balancer could not give: the
          // connection's own address stands, as the specification says.
          admit(peer, undefined);
          return;
        }
        if (this.closing) {
          refuse(client.address, 'closing');
          return;
        }
        if (!this.#sources.acquire(client.address)) {
          refuse(client.address, 'max-unauthenticated-per-source');
          return;
        }
        slot.source = client.address;
        port = client.port;
        // Every reader of the socket's address (the secure channel, the RPC connection's
        // `remoteAddress`) then sees the client's, not the balancer's.
        Object.defineProperties(socket, {
          remoteAddress: { value: client.address, configurable: true },
          remotePort: { value: client.port, configurable: true },
          remoteFamily: {
            value: client.address.includes(':') ? 'IPv6' : 'IPv4',
            configurable: true,
          },
        });
        admit(client.address, peer);
      },
      (error: Error) => refuse(peer, 'proxy-protocol', error),
    );
  }

  /** Gives back the unauthenticated slot (and per-source slot) `slot` holds, once. */
  #free(slot: Slot): void {
    if (!slot.holds) return;
    slot.holds = false;
    this.#unauthenticated--;
    if (slot.source !== undefined) this.#sources.release(slot.source);
  }

  /** Stops counting a socket once it closes. */
  static #onSocketClose(this: SlottedStream): void {
    // biome-ignore lint/complexity/noThisInStatic: the emitter calls its listeners with itself as `this`
    const slot = this[SLOT];
    if (slot === undefined) return;
    // biome-ignore lint/complexity/noThisInStatic: the socket, as above
    slot.owner.#sockets.delete(this);
    if (!slot.handedOff) slot.owner.#free(slot);
  }

  /** Why a new socket from `remoteAddress` is turned away; undefined admits it (and counts it). */
  #refusal(remoteAddress: string, perSource: boolean): RefusalReason | undefined {
    if (this.#closing || !this.#accepting) return 'closing';
    const { maxConnections, reservedForAuthenticated, maxStartups } = this.limits;
    if (this.socketCount >= maxConnections) return 'max-connections';
    // Strangers never take the reserved slots: at most this many may be authenticating.
    const unauthenticatedRoom = Math.max(1, maxConnections - reservedForAuthenticated);
    if (this.#unauthenticated >= unauthenticatedRoom) return 'max-connections';
    if (shouldDropStartup(this.#unauthenticated, maxStartups, this.#random)) {
      return 'max-startups';
    }
    // Last, so that a refused socket never holds a per-source slot.
    if (perSource && !this.#sources.acquire(remoteAddress)) return 'max-unauthenticated-per-source';
    return undefined;
  }
}
