/**
 * `ThreadPoolServer`: serves connections on a pool of worker threads, so all cores work
 * and a CPU-heavy call on one connection never stalls the others (DESIGN.md §5). The main
 * thread accepts sockets under the server limits and relays their bytes over
 * MessagePorts; each connection's handshake, channel and RPC session run in one worker,
 * which imports the service module (built JavaScript) itself.
 */
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import type { ConnectionOptions, ConnectionStats } from '@keyway/core';
import { LoginLimiter, type LoginLimiterOptions } from '@keyway/secure';
import { Piscina } from 'piscina';
import type { ServerLimits } from './limits.js';
import { type Admission, Listener, type ListenOptions } from './listener.js';
import { serveLoginGate } from './login-gate.js';
import type { AuthenticatorModule, PoolTask, PoolTaskResult } from './pool-task.js';
import { type PortControl, transferable } from './port-duplex.js';
import { addConnectionStats, emptyServerStats, type ServerStats } from './stats.js';

/** Options of {@link ThreadPoolServer}. */
export interface ThreadPoolServerOptions extends ListenOptions, ServerLimits {
  /**
   * Where workers find the authenticator: a module exporting a factory that returns one
   * (authenticators are functions and cannot be sent to a worker).
   */
  authenticator: AuthenticatorModule;
  /** The service module's export to serve; default `default`. */
  serviceExport?: string;
  /** The service's name, for `keyway-services=` restrictions. */
  serviceName?: string;
  /** Worker threads; default the number of cores. */
  threads?: number;
  /**
   * Options of every RPC connection (timeouts, limits, exposure rules); structured-clone
   * data only. `keepalive` defaults to on (`DEFAULT_KEEPALIVE`); `{ keepalive: false }`
   * turns it off.
   */
  connection?: ConnectionOptions;
  /**
   * The password back-off of the whole server, held in the main thread and asked by every
   * worker, so the budget per user and per source does not grow with `threads`. It
   * replaces the `limiter` of `passwordAuth` in the workers. A `LoginLimiter` (to share
   * one with other servers) or its options; default `DEFAULT_LOGIN_LIMITS`.
   */
  loginLimiter?: LoginLimiter | LoginLimiterOptions;
}

/** Options of {@link ThreadPoolServer.stats}. */
export interface PoolStatsOptions {
  /** How long to wait for the workers' answers, in ms. Default 1 000. */
  timeoutMs?: number;
}

/** Default wait of {@link ThreadPoolServer.stats} for the workers' answers. */
export const DEFAULT_POOL_STATS_TIMEOUT_MS = 1_000;

type StatsReply = ConnectionStats | null | 'unreported';

/** Payload of the pool server's `disconnect` event. */
export interface PoolDisconnectEvent {
  readonly remoteAddress: string;
  readonly authenticated: boolean;
  /** Why the connection ended, when it failed (text: errors cross threads as text). */
  readonly reason?: string | undefined;
}

const WORKER = fileURLToPath(new URL('./pool-worker.js', import.meta.url));

/**
 * Serves a service module on a pool of worker threads.
 *
 * Events: `connection` (a socket was admitted), `authenticated` ({ remoteAddress }),
 * `disconnect` ({@link PoolDisconnectEvent}),
 * `refused` (limits), `error` (the listening socket failed).
 * @example
 * const server = new ThreadPoolServer(new URL('./calculator.js', import.meta.url).href, {
 *   port: 18861, authenticator: { module: new URL('./auth.js', import.meta.url).href },
 * });
 */
export class ThreadPoolServer extends Listener {
  readonly #pool: Piscina<PoolTask, PoolTaskResult>;
  readonly #serviceModule: string;
  readonly #options: ThreadPoolServerOptions;
  readonly #ports = new Set<MessagePort>();
  readonly #statsWaiters = new Map<
    number,
    { readonly port: MessagePort; resolve(reply: StatsReply): void }
  >();
  #nextStatsId = 1;
  readonly #loginLimiter: LoginLimiter;

  /**
   * @param serviceModule path or `file:` URL of a built JavaScript module whose export
   *   (default `default`) is a Service class or instance
   * @param options where to listen, the authenticator module, pool size, limits
   */
  constructor(serviceModule: string | URL, options: ThreadPoolServerOptions) {
    super(options, options);
    if (typeof options?.authenticator?.module !== 'string') {
      throw new TypeError('ThreadPoolServer: options.authenticator.module is required');
    }
    const threads = options.threads ?? availableParallelism();
    if (!Number.isInteger(threads) || threads < 1) {
      throw new RangeError(`threads must be a positive integer, got ${String(threads)}`);
    }
    this.#serviceModule = serviceModule instanceof URL ? serviceModule.href : serviceModule;
    this.#options = options;
    this.#loginLimiter =
      options.loginLimiter instanceof LoginLimiter
        ? options.loginLimiter
        : new LoginLimiter(options.loginLimiter);
    this.#pool = new Piscina<PoolTask, PoolTaskResult>({
      filename: WORKER,
      minThreads: threads,
      maxThreads: threads,
      // One task is one connection for its whole life, so a worker holds many at once.
      concurrentTasksPerWorker: Math.max(1, Math.ceil(this.limits.maxConnections / threads)),
      idleTimeout: Number.POSITIVE_INFINITY,
    });
    this.#pool.on('error', (error: Error) => this.emit('error', error));
  }

  /** Worker threads in the pool. */
  get threads(): number {
    return this.#pool.threads.length;
  }

  protected admit({ socket, remoteAddress, remotePort, authenticated }: Admission): void {
    const { port1, port2 } = new MessageChannel();
    this.#ports.add(port1);
    socket.on('data', (chunk: Buffer) => {
      const bytes = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      port1.postMessage(bytes, transferable(bytes));
    });
    socket.on('end', () => port1.postMessage({ t: 'eof' } satisfies PortControl));
    socket.on('close', () => port1.close());
    port1.on('message', (message: Uint8Array | PortControl) => {
      if (message instanceof Uint8Array) {
        socket.write(message);
        // A client that stops reading must not grow this thread's memory without bound.
        if (socket.writableLength > this.limits.maxBufferedBytes) socket.destroy();
      } else if (message.t === 'pause') socket.pause();
      else if (message.t === 'resume') socket.resume();
      else if (message.t === 'authenticated') {
        authenticated();
        this.emit('authenticated', { remoteAddress });
      } else if (message.t === 'end') socket.end();
      else if (message.t === 'stats-reply') {
        const waiter = this.#statsWaiters.get(message.id);
        this.#statsWaiters.delete(message.id);
        waiter?.resolve(message.stats);
      }
    });
    const gate = new MessageChannel();
    serveLoginGate(gate.port1, this.#loginLimiter, remoteAddress);
    const task: PoolTask = {
      port: port2,
      remoteAddress,
      remotePort,
      serviceModule: this.#serviceModule,
      serviceExport: this.#options.serviceExport ?? 'default',
      serviceName: this.#options.serviceName,
      authenticator: this.#options.authenticator,
      limits: this.limits,
      connection: this.#options.connection,
      loginGate: gate.port2,
    };
    this.#pool
      .run(task, { transferList: [port2, gate.port2] })
      .then(
        (result) => {
          // The worker calls it `error`; the event's documented field is `reason`.
          this.emit('disconnect', {
            remoteAddress,
            authenticated: result.authenticated,
            reason: result.error,
          } satisfies PoolDisconnectEvent);
        },
        (error: Error) => {
          // The worker died: only its connections close; piscina starts a replacement.
          this.emit('disconnect', {
            remoteAddress,
            authenticated: false,
            reason: `worker failed: ${error.message}`,
          } satisfies PoolDisconnectEvent);
        },
      )
      .finally(() => {
        this.#ports.delete(port1);
        port1.close();
        // A connection that ended while asked for its stats has nothing to count.
        for (const [id, waiter] of this.#statsWaiters) {
          if (waiter.port !== port1) continue;
          this.#statsWaiters.delete(id);
          waiter.resolve(null);
        }
        gate.port1.close();
        socket.destroy();
      });
  }

  /**
   * The connections' RPC tables summed, and how many connections are open and how many
   * still authenticating. Each worker reports its own connections over their ports; a
   * connection whose worker is too busy to answer within `timeoutMs` is counted in
   * `unreported`.
   * @param options `timeoutMs` (default {@link DEFAULT_POOL_STATS_TIMEOUT_MS}).
   */
  async stats(options: PoolStatsOptions = {}): Promise<ServerStats> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_POOL_STATS_TIMEOUT_MS;
    if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs < 0)
      throw new RangeError(`timeoutMs must be a number >= 0, got ${String(timeoutMs)}`);
    const total = emptyServerStats(this.authenticatingCount);
    const ids: number[] = [];
    const replies = [...this.#ports].map(
      (port) =>
        new Promise<StatsReply>((resolve) => {
          const id = this.#nextStatsId++;
          ids.push(id);
          this.#statsWaiters.set(id, { port, resolve });
          try {
            port.postMessage({ t: 'stats-request', id } satisfies PortControl);
          } catch {
            // The connection ended meanwhile: nothing to count.
            this.#statsWaiters.delete(id);
            resolve(null);
          }
        }),
    );
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    });
    await Promise.race([Promise.all(replies), late]);
    clearTimeout(timer);
    // Whoever has not answered by now is unreported; a late answer finds no waiter.
    for (const id of ids) {
      const waiter = this.#statsWaiters.get(id);
      this.#statsWaiters.delete(id);
      waiter?.resolve('unreported');
    }
    for (const reply of await Promise.all(replies)) {
      if (reply === 'unreported') total.unreported++;
      else if (reply !== null) addConnectionStats(total, reply);
    }
    return total;
  }

  /**
   * Stops accepting, asks every connection to let in-flight calls finish for up to
   * `graceMs`, then closes them and the pool.
   */
  async close(graceMs: number = this.limits.closeGraceMs): Promise<void> {
    await this.stopListening();
    for (const port of this.#ports) port.postMessage({ t: 'close', graceMs } satisfies PortControl);
    const deadline = Date.now() + graceMs + 1_000;
    while (this.socketCount > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    this.destroySockets();
    await this.#pool.destroy();
  }
}
