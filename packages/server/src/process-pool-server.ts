/**
 * `ProcessPoolServer`: serves connections on worker processes that own their sockets
 * (docs/design.md §5). The primary process accepts each socket, admits it under the
 * server limits (maxConnections, per-source, MaxStartups) and hands the socket itself to
 * the worker with the fewest connections (`child.send(message, socket)`, the engine
 * behind node:cluster); the handshake, the channel and every call then run in that
 * worker, and no byte of the connection crosses a thread or process again. The primary
 * stays the one arbiter of admission: workers report when a connection authenticated
 * and when it ended, and ask the primary's login limiter about every password attempt
 * (login-gate.ts), so no limit grows with the number of workers.
 *
 * A worker that dies takes only its own connections with it (the system closes their
 * sockets); the primary reports them as disconnects and starts a replacement.
 */
import { type ChildProcess, fork } from 'node:child_process';
import type { Socket } from 'node:net';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import type { BudgetLimits, ConnectionOptions } from '@keyway/core';
import { LoginLimiter, type LoginLimiterOptions } from '@keyway/secure';
import { workerBudgetLimits } from './budget.js';
import type { ServerLimits } from './limits.js';
import { type Admission, Listener, type ListenOptions } from './listener.js';
import { type GateVerdict, serveLoginGate } from './login-gate.js';
import type { AuthenticatorModule } from './pool-task.js';
import type { FromWorker, ToWorker, WorkerConfig } from './process-protocol.js';
import { emptyServerStats, type ServerStats } from './stats.js';
import type { PoolDisconnectEvent, PoolStatsOptions } from './thread-pool-server.js';
import { DEFAULT_POOL_STATS_TIMEOUT_MS } from './thread-pool-server.js';

/** Options of {@link ProcessPoolServer}. */
export interface ProcessPoolServerOptions extends ListenOptions, ServerLimits {
  /**
   * Where workers find the authenticator: a module exporting a factory that returns one
   * (authenticators are functions and cannot be sent to another process).
   */
  authenticator: AuthenticatorModule;
  /** The service module's export to serve; default `default`. */
  serviceExport?: string;
  /** The service's name, for `keyway-services=` restrictions. */
  serviceName?: string;
  /** Worker processes; default the number of cores. */
  workers?: number;
  /**
   * Options of every RPC connection (timeouts, limits, exposure rules); structured-clone
   * data only. `keepalive` defaults to on (`DEFAULT_KEEPALIVE`); `{ keepalive: false }`
   * turns it off.
   */
  connection?: ConnectionOptions;
  /**
   * Sizes of the server-wide budget (as `ThreadedServer`'s `budget`). Each worker keeps its
   * own budget with the totals divided by `workers`, so the server as a whole stays within
   * them; an identity's share applies within each worker.
   */
  budget?: Partial<BudgetLimits>;
  /**
   * The password back-off of the whole server, held in the primary and asked by every
   * worker, so the budget per user and per source does not grow with `workers`. A
   * `LoginLimiter` or its options; default `DEFAULT_LOGIN_LIMITS`.
   */
  loginLimiter?: LoginLimiter | LoginLimiterOptions;
  /**
   * How long `listen()` waits for every worker to load the service and authenticator
   * modules, in ms. Default 30 000.
   */
  startTimeoutMs?: number;
}

/** Default wait of {@link ProcessPoolServer.listen} for its workers to start. */
export const DEFAULT_WORKER_START_TIMEOUT_MS = 30_000;

const WORKER = fileURLToPath(new URL('./process-worker.js', import.meta.url));

/** A connection the primary handed to a worker. */
interface Handed {
  readonly worker: Worker;
  readonly remoteAddress: string;
  readonly authenticated: () => void;
  /** Frees the connection's place in the primary's counts. */
  readonly ended: () => void;
  isAuthenticated: boolean;
  /** The primary's end of the connection's login gate, made at its first question. */
  gate?: MessagePort;
}

interface Worker {
  readonly child: ChildProcess;
  ready: boolean;
  connections: number;
}

/**
 * Serves a service module on worker processes, each owning the sockets it serves.
 *
 * Events: `connection` (a socket was admitted), `authenticated` ({ remoteAddress }),
 * `disconnect` ({@link PoolDisconnectEvent}), `refused` (limits), `error` (the listening
 * socket failed, or a replacement worker could not start).
 * @example
 * const server = new ProcessPoolServer(new URL('./calculator.js', import.meta.url).href, {
 *   port: 18861, workers: 2, authenticator: { module: new URL('./auth.js', import.meta.url).href },
 * });
 * await server.listen();
 */
export class ProcessPoolServer extends Listener {
  readonly #config: WorkerConfig;
  readonly #workerCount: number;
  readonly #startTimeoutMs: number;
  readonly #workers = new Set<Worker>();
  readonly #handed = new Map<number, Handed>();
  readonly #loginLimiter: LoginLimiter;
  readonly #statsWaiters = new Map<number, Map<Worker, (stats: ServerStats | null) => void>>();
  #nextId = 1;

  /**
   * @param serviceModule path or `file:` URL of a built JavaScript module whose export
   *   (default `default`) is a Service class or instance
   * @param options where to listen, the authenticator module, worker count, limits
   */
  constructor(serviceModule: string | URL, options: ProcessPoolServerOptions) {
    super(options, options);
    // A PROXY header is read in this process, and what arrives with it would stay behind
    // when the socket moves to a worker.
    if (options.proxyProtocol !== undefined) {
      throw new TypeError(
        'ProcessPoolServer: proxyProtocol is not supported yet; use ThreadedServer or ThreadPoolServer behind a load balancer',
      );
    }
    // Only a TCP or Unix socket can be handed to another process.
    if (options.websocket !== undefined) {
      throw new TypeError(
        'ProcessPoolServer: websocket is not supported; use ThreadedServer or ThreadPoolServer for WebSocket clients',
      );
    }
    if (typeof options?.authenticator?.module !== 'string') {
      throw new TypeError('ProcessPoolServer: options.authenticator.module is required');
    }
    const workers = options.workers ?? availableParallelism();
    if (!Number.isInteger(workers) || workers < 1) {
      throw new RangeError(`workers must be a positive integer, got ${String(workers)}`);
    }
    const startTimeoutMs = options.startTimeoutMs ?? DEFAULT_WORKER_START_TIMEOUT_MS;
    if (!Number.isInteger(startTimeoutMs) || startTimeoutMs < 1) {
      throw new RangeError(
        `startTimeoutMs must be a positive integer, got ${String(startTimeoutMs)}`,
      );
    }
    this.#workerCount = workers;
    this.#startTimeoutMs = startTimeoutMs;
    this.#config = {
      serviceModule: serviceModule instanceof URL ? serviceModule.href : serviceModule,
      serviceExport: options.serviceExport ?? 'default',
      serviceName: options.serviceName,
      authenticator: options.authenticator,
      limits: this.limits,
      connection: options.connection,
      budget: workerBudgetLimits(options.budget, workers),
    };
    this.#loginLimiter =
      options.loginLimiter instanceof LoginLimiter
        ? options.loginLimiter
        : new LoginLimiter(options.loginLimiter);
  }

  /** Worker processes running now (a dead one counts again once its replacement started). */
  get workers(): number {
    let ready = 0;
    for (const worker of this.#workers) if (worker.ready) ready++;
    return ready;
  }

  /** The process ids of the workers running now. */
  get workerPids(): number[] {
    return [...this.#workers].flatMap((w) => (w.ready && w.child.pid ? [w.child.pid] : []));
  }

  protected override get pauseOnConnect(): boolean {
    // The primary never reads a byte: the worker that gets the socket reads all of them.
    return true;
  }

  /**
   * Starts the worker processes, waits until each has loaded the service and the
   * authenticator, then listens.
   * @throws when a worker cannot start (its module failed to load): the others are stopped
   */
  override async listen(): Promise<Awaited<ReturnType<Listener['listen']>>> {
    if (this.closing) throw new Error('server is closed');
    if (this.#workers.size > 0) throw new Error('server is already listening');
    try {
      await Promise.all(Array.from({ length: this.#workerCount }, () => this.#spawn()));
    } catch (error) {
      await this.#stopWorkers(0);
      throw error;
    }
    return super.listen();
  }

  #spawn(): Promise<Worker> {
    const child = fork(WORKER, [], { serialization: 'advanced', stdio: 'inherit' });
    const worker: Worker = { child, ready: false, connections: 0 };
    this.#workers.add(worker);
    child.on('message', (message: FromWorker) => this.#onMessage(worker, message));
    child.on('error', () => {});
    child.once('exit', (code, signal) => this.#onExit(worker, code, signal));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`worker did not start within ${this.#startTimeoutMs} ms`));
      }, this.#startTimeoutMs);
      const started = (message: FromWorker) => {
        if (message.t !== 'ready' && message.t !== 'init-failed') return;
        clearTimeout(timer);
        child.off('message', started);
        child.off('exit', exited);
        if (message.t === 'ready') {
          worker.ready = true;
          resolve(worker);
        } else {
          child.kill('SIGKILL');
          reject(new Error(`worker failed to start: ${message.error}`));
        }
      };
      const exited = (code: number | null) => {
        clearTimeout(timer);
        child.off('message', started);
        reject(new Error(`worker exited while starting (code ${String(code)})`));
      };
      child.on('message', started);
      child.once('exit', exited);
      child.send({ t: 'init', config: this.#config } satisfies ToWorker);
    });
  }

  #onMessage(worker: Worker, message: FromWorker): void {
    if (message.t === 'authenticated') {
      const handed = this.#handed.get(message.id);
      if (handed?.worker !== worker) return;
      handed.isAuthenticated = true;
      handed.authenticated();
      this.emit('authenticated', { remoteAddress: handed.remoteAddress });
    } else if (message.t === 'disconnect') {
      const handed = this.#handed.get(message.id);
      if (handed?.worker !== worker) return;
      this.#release(message.id, handed);
      this.emit('disconnect', {
        remoteAddress: handed.remoteAddress,
        authenticated: message.authenticated,
        reason: message.reason,
      } satisfies PoolDisconnectEvent);
    } else if (message.t === 'gate') {
      const handed = this.#handed.get(message.id);
      if (handed?.worker !== worker || handed.isAuthenticated) return;
      if (handed.gate === undefined) handed.gate = this.#openGate(message.id, handed);
      handed.gate.postMessage(message.request);
    } else if (message.t === 'stats-reply') {
      const waiters = this.#statsWaiters.get(message.id);
      const resolve = waiters?.get(worker);
      waiters?.delete(worker);
      resolve?.(message.stats);
    }
  }

  /** The primary's end of one connection's login gate, counted against its source. */
  #openGate(id: number, handed: Handed): MessagePort {
    const { port1, port2 } = new MessageChannel();
    serveLoginGate(port1, this.#loginLimiter, handed.remoteAddress);
    port2.on('message', (verdict: GateVerdict) => {
      if (handed.worker.child.connected)
        handed.worker.child.send({ t: 'gate', id, verdict } satisfies ToWorker);
    });
    return port2;
  }

  #release(id: number, handed: Handed): void {
    this.#handed.delete(id);
    handed.worker.connections--;
    handed.gate?.close();
    handed.ended();
  }

  #onExit(worker: Worker, code: number | null, signal: NodeJS.Signals | null): void {
    const wasReady = worker.ready;
    worker.ready = false;
    this.#workers.delete(worker);
    for (const [id, handed] of this.#handed) {
      if (handed.worker !== worker) continue;
      this.#release(id, handed);
      this.emit('disconnect', {
        remoteAddress: handed.remoteAddress,
        authenticated: handed.isAuthenticated,
        reason: `worker failed: exited with ${signal ?? `code ${String(code)}`}`,
      } satisfies PoolDisconnectEvent);
    }
    for (const waiters of this.#statsWaiters.values()) {
      waiters.get(worker)?.(null);
      waiters.delete(worker);
    }
    // Only a worker that was serving is replaced: one that failed to start would fail again.
    if (wasReady && !this.closing) {
      this.#spawn().catch((error: Error) => this.emit('error', error));
    }
  }

  protected admit({ socket, remoteAddress, remotePort, authenticated, handOff }: Admission): void {
    let chosen: Worker | undefined;
    for (const worker of this.#workers) {
      if (!worker.ready || !worker.child.connected) continue;
      if (chosen === undefined || worker.connections < chosen.connections) chosen = worker;
    }
    if (chosen === undefined) {
      // Every worker is down and being replaced: the client may retry.
      socket.destroy();
      this.emit('disconnect', {
        remoteAddress,
        authenticated: false,
        reason: 'no worker process is running',
      } satisfies PoolDisconnectEvent);
      return;
    }
    const worker = chosen;
    const id = this.#nextId++;
    const handed: Handed = {
      worker,
      remoteAddress,
      authenticated,
      ended: handOff(),
      isAuthenticated: false,
    };
    this.#handed.set(id, handed);
    worker.connections++;
    const message: ToWorker = { t: 'conn', id, remoteAddress, remotePort };
    // Only TCP and Unix sockets come here: the constructor refuses the WebSocket listener.
    worker.child.send(message, socket as Socket, (error) => {
      if (error === null) return;
      // The worker died before it got the socket: this connection is this process's to end.
      socket.destroy();
      if (this.#handed.get(id) !== handed) return;
      this.#release(id, handed);
      this.emit('disconnect', {
        remoteAddress,
        authenticated: false,
        reason: `worker failed: ${error.message}`,
      } satisfies PoolDisconnectEvent);
    });
  }

  /**
   * The connections' RPC tables summed over all workers, and how many connections are
   * open and how many still authenticating. A worker that does not answer within
   * `timeoutMs` has its open connections counted in `unreported`.
   * @param options `timeoutMs` (default {@link DEFAULT_POOL_STATS_TIMEOUT_MS}).
   */
  async stats(options: PoolStatsOptions = {}): Promise<ServerStats> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_POOL_STATS_TIMEOUT_MS;
    if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs < 0)
      throw new RangeError(`timeoutMs must be a number >= 0, got ${String(timeoutMs)}`);
    const id = this.#nextId++;
    const waiters = new Map<Worker, (stats: ServerStats | null) => void>();
    this.#statsWaiters.set(id, waiters);
    const replies = [...this.#workers]
      .filter((w) => w.ready && w.child.connected)
      .map(
        (worker) =>
          new Promise<[Worker, ServerStats | null]>((resolve) => {
            waiters.set(worker, (stats) => resolve([worker, stats]));
            worker.child.send({ t: 'stats', id } satisfies ToWorker);
          }),
      );
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    });
    await Promise.race([Promise.all(replies), late]);
    clearTimeout(timer);
    for (const resolve of waiters.values()) resolve(null);
    this.#statsWaiters.delete(id);
    const total = emptyServerStats(this.authenticatingCount);
    for (const [worker, stats] of await Promise.all(replies)) {
      if (stats === null) {
        for (const handed of this.#handed.values()) {
          if (handed.worker === worker && handed.isAuthenticated) total.unreported++;
        }
        continue;
      }
      for (const key of Object.keys(stats) as (keyof ServerStats)[]) {
        if (key === 'authenticating' || key === 'unreported') continue;
        const value = stats[key];
        if (typeof value === 'number') total[key] = (total[key] ?? 0) + value;
      }
    }
    return total;
  }

  /**
   * Stops accepting, asks every worker to let in-flight calls finish for up to `graceMs`,
   * then closes the connections and stops the workers.
   */
  async close(graceMs: number = this.limits.closeGraceMs): Promise<void> {
    await this.stopListening();
    for (const worker of this.#workers) {
      if (worker.child.connected) worker.child.send({ t: 'close', graceMs } satisfies ToWorker);
    }
    const deadline = Date.now() + graceMs + 1_000;
    while (this.#handed.size > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    this.destroySockets();
    await this.#stopWorkers(1_000);
  }

  /** Ends every worker: disconnects it (it exits), and kills it after `graceMs`. */
  async #stopWorkers(graceMs: number): Promise<void> {
    await Promise.all(
      [...this.#workers].map(
        (worker) =>
          new Promise<void>((resolve) => {
            const { child } = worker;
            if (child.exitCode !== null || child.signalCode !== null) {
              resolve();
              return;
            }
            child.once('exit', () => resolve());
            const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
            child.once('exit', () => clearTimeout(timer));
            if (child.connected) child.disconnect();
            else child.kill('SIGKILL');
          }),
      ),
    );
  }
}
