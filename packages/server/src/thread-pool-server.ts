/**
 * `ThreadPoolServer`: serves connections on a pool of worker threads, so all cores work
 * (docs/design.md §5). The main thread accepts sockets under the server limits and relays
 * their bytes over MessagePorts; each connection's handshake, channel and RPC session run
 * in one worker, which imports the service module (built JavaScript) itself. Connections
 * on one worker share its thread: a CPU-heavy call stalls the others on that worker, not
 * those on other workers.
 *
 * The relay holds at most a credit window of unacknowledged bytes per connection, and
 * until the worker's verdict it checks every frame length itself (docs/security.md,
 * "Admission"), so a client cannot grow the main thread's memory while its worker is busy.
 */
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import type { BudgetLimits, ConnectionOptions, ConnectionStats } from '@keyway/core';
import {
  type AuthLogEvent,
  ChannelError,
  type Credentials,
  DEFAULT_PREAUTH_CHANNEL_LIMITS,
  LoginLimiter,
  type LoginLimiterOptions,
} from '@keyway/secure';
import { Piscina } from 'piscina';
import { workerBudgetLimits } from './budget.js';
import { FrameLengthGuard } from './frame-guard.js';
import type { ServerLimits } from './limits.js';
import { type Admission, Listener, type ListenOptions } from './listener.js';
import { serveLoginGate } from './login-gate.js';
import type { AuthenticatorModule, PoolTask, PoolTaskResult } from './pool-task.js';
import { DEFAULT_ACK_BYTES, type PortControl, transferable } from './port-duplex.js';
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
   * Sizes of the server-wide budget (as `ThreadedServer`'s `budget`). Each worker keeps its
   * own budget with the totals divided by `threads`, so the pool as a whole stays within
   * them; an identity's share applies within each worker.
   */
  budget?: Partial<BudgetLimits>;
  /**
   * The password back-off of the whole server, held in the main thread and asked by every
   * worker, so the budget per user and per source does not grow with `threads`. It
   * replaces the `limiter` of `passwordAuth` in the workers. A `LoginLimiter` (to share
   * one with other servers) or its options; default `DEFAULT_LOGIN_LIMITS`.
   */
  loginLimiter?: LoginLimiter | LoginLimiterOptions;
  /**
   * Bytes the main thread relays to a connection's worker before it waits for the worker
   * to acknowledge them; the socket is not read meanwhile. Default 256 KiB.
   */
  relayWindowBytes?: number;
  /**
   * Largest frame (handshake message or channel frame) the main thread relays before the
   * worker's verdict; a longer length closes the socket there. Keep it at least the
   * authenticator's pre-authentication `maxFrameBytes` and `maxHandshakeMessageBytes`.
   * Default 16 KiB (`DEFAULT_PREAUTH_CHANNEL_LIMITS.maxFrameBytes`).
   */
  maxPreAuthFrameBytes?: number;
  /**
   * Receives one event per authentication attempt, with the reason on failure, as
   * `ThreadedServer`'s `log` does; the workers send them to the main thread.
   */
  log?: (event: AuthLogEvent) => void;
}

/** 256 KiB relayed to a worker, unacknowledged, per connection. */
export const DEFAULT_RELAY_WINDOW_BYTES = 256 * 1024;

/** Options of {@link ThreadPoolServer.stats}. */
export interface PoolStatsOptions {
  /** How long to wait for the workers' answers, in ms. Default 1 000. */
  timeoutMs?: number;
}

/** Default wait of {@link ThreadPoolServer.stats} for the workers' answers. */
export const DEFAULT_POOL_STATS_TIMEOUT_MS = 1_000;

type StatsReply = ConnectionStats | null | 'unreported';

/** Payload of the pool server's `authenticated` event. */
export interface PoolAuthenticatedEvent {
  readonly remoteAddress: string;
  /** What the worker's authenticators proved about the peer. */
  readonly credentials?: Credentials | undefined;
}

/** Payload of the pool server's `disconnect` event. */
export interface PoolDisconnectEvent {
  readonly remoteAddress: string;
  readonly authenticated: boolean;
  /** Why the connection ended, when it failed (text: errors cross threads as text). */
  readonly reason?: string | undefined;
}

/**
 * How long a finished connection's socket waits for the worker's last frames: the task's
 * result and the connection's port are separate channels, so the result can arrive first.
 */
const PORT_DRAIN_MS = 2_000;

/** How long a socket ended after its last frames may take to flush before it is destroyed. */
const END_FLUSH_MS = 5_000;

const WORKER = fileURLToPath(new URL('./pool-worker.js', import.meta.url));

/**
 * Serves a service module on a pool of worker threads.
 *
 * Events: `connection` (a socket was admitted), `authenticated`
 * ({@link PoolAuthenticatedEvent}),
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
  readonly #budget: Readonly<BudgetLimits>;
  readonly #statsWaiters = new Map<
    number,
    { readonly port: MessagePort; resolve(reply: StatsReply): void }
  >();
  #nextStatsId = 1;
  readonly #loginLimiter: LoginLimiter;
  readonly #relayWindow: number;
  readonly #maxPreAuthFrame: number;

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
    this.#budget = workerBudgetLimits(options.budget, threads);
    this.#relayWindow = options.relayWindowBytes ?? DEFAULT_RELAY_WINDOW_BYTES;
    if (!Number.isSafeInteger(this.#relayWindow) || this.#relayWindow < 1) {
      throw new RangeError(
        `relayWindowBytes must be a positive integer, got ${String(this.#relayWindow)}`,
      );
    }
    this.#maxPreAuthFrame =
      options.maxPreAuthFrameBytes ?? DEFAULT_PREAUTH_CHANNEL_LIMITS.maxFrameBytes;
    if (
      !Number.isInteger(this.#maxPreAuthFrame) ||
      this.#maxPreAuthFrame < 64 ||
      this.#maxPreAuthFrame > 65535
    ) {
      throw new RangeError(
        `maxPreAuthFrameBytes must be an integer 64..65535, got ${String(this.#maxPreAuthFrame)}`,
      );
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

  protected admit({
    socket,
    remoteAddress,
    remotePort,
    handshakeTimeoutMs,
    authenticated,
  }: Admission): void {
    const { port1, port2 } = new MessageChannel();
    this.#ports.add(port1);
    const window = this.#relayWindow;
    let unacknowledged = 0;
    // Dropped once the worker's authenticators accept the peer: from then on frames may
    // be as large as Noise allows.
    let guard: FrameLengthGuard | undefined = new FrameLengthGuard(this.#maxPreAuthFrame);
    let refusedWith: ChannelError | undefined;
    // Set once the worker has sent its last frames and `end`; `lastFrames` is then called.
    let ended = false;
    let lastFrames: (() => void) | undefined;
    socket.on('data', (chunk: Buffer) => {
      const oversize = guard?.push(chunk);
      if (oversize !== undefined) {
        refusedWith = new ChannelError(
          `frame of ${oversize} bytes exceeds the pre-authentication limit of ${this.#maxPreAuthFrame}`,
        );
        socket.destroy(refusedWith);
        return;
      }
      const bytes = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      unacknowledged += bytes.byteLength;
      port1.postMessage(bytes, transferable(bytes));
      // A worker that does not acknowledge (busy, or its reader is full) gets no more.
      if (unacknowledged >= window) socket.pause();
    });
    socket.on('end', () => port1.postMessage({ t: 'eof' } satisfies PortControl));
    socket.on('close', () => port1.close());
    port1.on('message', (message: Uint8Array | Uint8Array[] | PortControl) => {
      if (message instanceof Uint8Array) {
        socket.write(message);
        // A client that stops reading must not grow this thread's memory without bound.
        if (socket.writableLength > this.limits.maxBufferedBytes) socket.destroy();
      } else if (Array.isArray(message)) {
        // One turn's frames from the worker: one writev, not a syscall per frame.
        socket.cork();
        for (const bytes of message) socket.write(bytes);
        socket.uncork();
        if (socket.writableLength > this.limits.maxBufferedBytes) socket.destroy();
      } else if (message.t === 'ack') {
        unacknowledged -= message.bytes;
        if (unacknowledged < window && socket.isPaused()) socket.resume();
      } else if (message.t === 'verdict') guard = undefined;
      else if (message.t === 'authenticated') {
        authenticated();
        this.emit('authenticated', {
          remoteAddress,
          credentials: message.credentials,
        } satisfies PoolAuthenticatedEvent);
      } else if (message.t === 'log') this.#options.log?.(message.event);
      else if (message.t === 'end') {
        ended = true;
        socket.end();
        lastFrames?.();
      } else if (message.t === 'stats-reply') {
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
      // The deadline runs from accept: a PROXY header may have used part of it.
      limits: { ...this.limits, handshakeTimeoutMs },
      connection: this.#options.connection,
      budget: this.#budget,
      loginGate: gate.port2,
      log: this.#options.log !== undefined,
      ackBytes: Math.max(1, Math.min(DEFAULT_ACK_BYTES, Math.floor(window / 2))),
    };
    this.#pool
      .run(task, { transferList: [port2, gate.port2] })
      .then(
        (result) => {
          // The worker calls it `error`; the event's documented field is `reason`.
          this.emit('disconnect', {
            remoteAddress,
            authenticated: result.authenticated,
            // The main thread's own refusal is the cause; the worker only saw a hang-up.
            reason: refusedWith === undefined ? result.error : String(refusedWith),
          } satisfies PoolDisconnectEvent);
        },
        (error: Error) => {
          // The worker died: only its connections close; piscina starts a replacement.
          socket.destroy();
          this.emit('disconnect', {
            remoteAddress,
            authenticated: false,
            reason: `worker failed: ${error.message}`,
          } satisfies PoolDisconnectEvent);
        },
      )
      .finally(() => {
        const release = () => {
          this.#ports.delete(port1);
          port1.close();
          // A connection that ended while asked for its stats has nothing to count.
          for (const [id, waiter] of this.#statsWaiters) {
            if (waiter.port !== port1) continue;
            this.#statsWaiters.delete(id);
            waiter.resolve(null);
          }
          gate.port1.close();
          if (!ended || socket.destroyed) {
            socket.destroy();
            return;
          }
          // The last frames (a reply, CLOSE) are written: let them reach the peer.
          const timer = setTimeout(() => socket.destroy(), END_FLUSH_MS);
          timer.unref();
          socket.once('close', () => clearTimeout(timer));
        };
        if (ended || socket.destroyed) {
          release();
          return;
        }
        // The worker's last frames may still be on their way through the port.
        const timer = setTimeout(release, PORT_DRAIN_MS);
        lastFrames = () => {
          clearTimeout(timer);
          release();
        };
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
