/**
 * `ThreadedServer`: every connection served concurrently on the event loop — Node's form
 * of RPyC's thread-per-connection server (docs/design.md §5). Each accepted socket runs the
 * authenticator chain under the handshake deadline, then becomes an RPC connection
 * serving the service.
 */
import {
  type Connection,
  type ConnectionOptions,
  connectTransport,
  type ResourceBudget,
  type ServiceSpec,
  TimeoutError,
} from '@keyway/core';
import {
  type Authenticator,
  type AuthLogEvent,
  acceptConnection,
  type Credentials,
} from '@keyway/secure';
import { type BudgetOption, budgetKeyOf, serverBudget } from './budget.js';
import { drainAndClose, IdleSweeper } from './idle.js';
import type { ServerLimits } from './limits.js';
import { type Admission, Listener, type ListenOptions } from './listener.js';
import { withNetworkDefaults } from './network-defaults.js';
import { addConnectionStats, emptyServerStats, type ServerStats } from './stats.js';

/** Options of {@link ThreadedServer}. */
export interface ThreadedServerOptions extends ListenOptions, ServerLimits {
  /** Decides who may connect: `publicKeyAuth`, `compose(ipAllowlist(...), ...)`, ... */
  authenticator: Authenticator;
  /**
   * Options of every RPC connection (timeouts, limits, exposure rules). `keepalive`
   * defaults to on (`DEFAULT_KEEPALIVE`); `{ keepalive: false }` turns it off.
   */
  connection?: ConnectionOptions;
  /** The service's name, for `keyway-services=` restrictions; default the class name. */
  serviceName?: string;
  /** Receives one line per authentication attempt, with the reason on failure. */
  log?: (event: AuthLogEvent) => void;
  /**
   * The server-wide budget every connection draws on: sizes (`maxRequestBytes` 256 MiB,
   * `maxReferences` 500,000, `maxCalls` 100,000, `share` 0.25 per identity by default), or
   * a `ResourceBudget` shared with other servers. Each connection is charged to its peer's
   * user name, else key fingerprint, else source address. Over it, the peer's call fails
   * with `ERR_LIMIT_EXCEEDED`; its connection stays open.
   */
  budget?: BudgetOption;
}

/** Payload of the `authenticated` event. */
export interface AuthenticatedEvent {
  readonly connection: Connection;
  readonly credentials: Credentials;
}

/** Payload of the `disconnect` event. */
export interface DisconnectEvent {
  readonly credentials: Credentials;
  /** Why the connection ended, when it did not close cleanly. */
  readonly reason?: Error | undefined;
}

/** Payload of the `authFailure` event. */
export interface AuthFailureEvent {
  readonly remoteAddress: string;
  /** The precise error, for local logs; the peer was told only that it failed. */
  readonly error: Error;
}

/**
 * Serves a service to many connections at once on the event loop.
 *
 * Events: `connection` (a socket was admitted; authentication begins), `authenticated`
 * ({@link AuthenticatedEvent}), `disconnect`
 * ({@link DisconnectEvent}), `authFailure` ({@link AuthFailureEvent}), `refused`
 * (limits), `error` (the listening socket failed).
 * @example
 * const server = new ThreadedServer(Calculator, { port: 18861, authenticator });
 * const { port } = await server.listen();
 */
export class ThreadedServer extends Listener {
  readonly #service: ServiceSpec;
  readonly #options: ThreadedServerOptions;
  readonly #connections = new Set<Connection>();
  readonly #idle: IdleSweeper;
  readonly #serviceName: string | undefined;
  readonly #budget: ResourceBudget;

  /**
   * @param service a Service class (one instance per connection) or an instance (shared)
   * @param options where to listen, who may connect, limits
   */
  constructor(service: ServiceSpec, options: ThreadedServerOptions) {
    super(options, options);
    if (typeof options?.authenticator !== 'function') {
      throw new TypeError('ThreadedServer: options.authenticator is required');
    }
    this.#service = service;
    this.#options = options;
    this.#idle = new IdleSweeper(this.limits.idleTimeoutMs);
    this.#serviceName = options.serviceName ?? serviceNameOf(service);
    this.#budget = serverBudget(options.budget);
  }

  /** The budget this server's connections draw on. */
  get budget(): ResourceBudget {
    return this.#budget;
  }

  /** RPC connections open now. */
  get connections(): ReadonlySet<Connection> {
    return this.#connections;
  }

  /**
   * The connections' RPC tables summed, and how many connections are open and how many
   * still authenticating.
   * @returns A snapshot; `unreported` is always 0 here.
   */
  async stats(): Promise<ServerStats> {
    const total = emptyServerStats(this.authenticatingCount);
    for (const connection of this.#connections) addConnectionStats(total, connection.stats());
    return total;
  }

  protected admit(admission: Admission): void {
    void this.#serve(admission);
  }

  async #serve({
    socket,
    remoteAddress,
    remotePort,
    handshakeTimeoutMs,
    authenticated,
  }: Admission): Promise<void> {
    const deadline = setTimeout(() => {
      socket.destroy(
        new TimeoutError(`authentication took longer than ${this.limits.handshakeTimeoutMs} ms`),
      );
    }, handshakeTimeoutMs);
    let accepted: Awaited<ReturnType<typeof acceptConnection>>;
    try {
      accepted = await acceptConnection(socket, this.#options.authenticator, {
        remoteAddress,
        remotePort,
        service: this.#serviceName,
        log: this.#options.log,
      });
    } catch (error) {
      // acceptConnection already closed the stream: after a handshake, gracefully, so that
      // the client reads its FAIL before the connection ends.
      this.emit('authFailure', { remoteAddress, error: error as Error } satisfies AuthFailureEvent);
      return;
    } finally {
      clearTimeout(deadline);
    }
    authenticated();
    if (this.closing) {
      accepted.transport.close();
      return;
    }
    let connection: Connection;
    try {
      connection = await connectTransport(this.#idle.track(accepted.transport), {
        ...withNetworkDefaults(this.#options.connection),
        service: this.#service,
        credentials: accepted.credentials,
        budget: this.#budget,
        budgetKey: budgetKeyOf(accepted.credentials),
        onClose: this.#ended,
      });
    } catch (error) {
      // Authenticated, but the RPC session never opened (the peer hung up at once, or
      // spoke another protocol version): still a disconnect, with its reason.
      accepted.transport.close(error as Error);
      this.emit('disconnect', {
        credentials: accepted.credentials,
        reason: error as Error,
      } satisfies DisconnectEvent);
      return;
    }
    this.#connections.add(connection);
    this.emit('authenticated', {
      connection,
      credentials: accepted.credentials,
    } satisfies AuthenticatedEvent);
    // Closed before it was added (onClose found nothing to remove): reported now.
    if (connection.isClosed)
      void connection.closed.then((reason) => this.#ended(connection, reason));
  }

  /**
   * Reports a connection's end: the `onClose` of every connection, one function for all of
   * them rather than a promise reaction and a closure per connection.
   */
  readonly #ended = (connection: Connection, reason: Error | undefined): void => {
    if (!this.#connections.delete(connection)) return;
    this.emit('disconnect', {
      credentials: connection.credentials as Credentials,
      reason,
    } satisfies DisconnectEvent);
  };

  /**
   * Stops accepting, lets in-flight calls finish for up to `graceMs` (default the
   * `closeGraceMs` option), then closes every connection; their pending calls reject
   * with `ConnectionClosedError`.
   */
  async close(graceMs: number = this.limits.closeGraceMs): Promise<void> {
    await this.stopListening();
    await drainAndClose(this.#connections, graceMs);
    this.#idle.stop();
    this.destroySockets();
  }
}

/** A service's name for `keyway-services=` checks: the class name, or the instance's class. */
function serviceNameOf(service: ServiceSpec): string | undefined {
  const s = service as { name?: unknown; constructor?: { name?: unknown } };
  const name = typeof service === 'function' ? s.name : s.constructor?.name;
  return typeof name === 'string' && name !== '' ? name : undefined;
}
