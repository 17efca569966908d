/**
 * The connection facade and its driver (docs/design.md §2: `Connection`, `connectTransport`).
 * The driver is the only place with I/O: it feeds transport messages to the session,
 * encodes through the per-connection codec, keeps one deadline per connection (no timer
 * per call or per ping; the keepalive shares it too), a slot under the one timer of the
 * thread (`deadlines.ts`), and one housekeeping flush per turn of the event loop.
 * Everything an idle connection keeps is an object with shared methods, not closures. It uses no Node-only global (see `timers.ts`), so the engine
 * runs in browsers and web workers as well.
 */
import { DEFAULT_ACCESS_POLICY, Operation } from './access-gate.js';
import { type ResourceBudget, UNLIMITED_ACCOUNT } from './budget.js';
import { DEFAULT_STREAM_WINDOW_BYTES, STREAM_CHUNK_BYTES } from './byte-stream.js';
import {
  Codec,
  DEFAULT_CODEC_MAX_MESSAGE_BYTES,
  DEFAULT_MAX_DEPTH,
  DEFAULT_MAX_ELEMENTS,
} from './codec.js';
import { schedule, type Timed, unschedule } from './deadlines.js';
import {
  AccessDeniedError,
  ConnectionClosedError,
  KeywayError,
  LimitExceededError,
  MessageTooLargeError,
  ProtocolError,
  TimeoutError,
} from './errors.js';
import type { KeepaliveSettings } from './liveness.js';
import { sendPieces } from './message-parts.js';
import type { ErrorClass } from './serialize.js';
import { Service } from './service.js';
import { Session, type SessionIO, type SessionSettings } from './session.js';
import { type CallOptions, type Stub, stubStateOf } from './stub.js';
import { nextTurn, type TimerHandle, unrefTimer } from './timers.js';
import type { Transport, TransportReceiver } from './transport.js';

let openConnection: (transport: Transport, options: ConnectionOptions) => Promise<Connection>;
let transportClosed: (connection: Connection, error: Error | undefined) => void;

/**
 * Keepalive of a connection: when nothing has arrived from the peer for `intervalMs`, a
 * PING is sent; when nothing has arrived for `timeoutMs`, the peer is taken for frozen and
 * the connection closes with `TimeoutError`. Any message received counts as life.
 */
export interface KeepaliveOptions {
  /** Silence, in ms, after which a PING is sent. Default 30 000. */
  intervalMs?: number;
  /** Silence, in ms, after which the connection closes; above `intervalMs`. Default 60 000. */
  timeoutMs?: number;
}

/** Options of {@link Connection.ping}. */
export interface PingOptions {
  /** Milliseconds to wait for the answer; `0` waits for ever. Default: the call `timeout`. */
  timeout?: number;
}

/**
 * The keepalive periods used when keepalive is on and a period is not given: a PING after
 * 30 s of silence, close after 60 s. `connectTransport` leaves keepalive off unless asked;
 * `@keyway/server` turns it on for network connections.
 */
export const DEFAULT_KEEPALIVE: Readonly<Required<KeepaliveOptions>> = Object.freeze({
  intervalMs: 30_000,
  timeoutMs: 60_000,
});

/** A service class (one instance per connection) or a shared instance. */
export type ServiceSpec = (new () => object) | object;

/** Options of {@link connectTransport}. Every limit has a documented default. */
export interface ConnectionOptions {
  /** What this side exposes as its root: a class (instance per connection) or an instance. */
  service?: ServiceSpec;
  /** Who the peer is, set by the server layer after authentication. */
  credentials?: unknown;
  /** Default per-call timeout in ms; `0` disables. Default 30 000. */
  timeout?: number;
  /**
   * Largest encoded message in bytes, both directions, out-of-line parts included.
   * Default 16 MiB plus 64 KiB for the envelope (16,842,752), so that a 16 MiB byte array
   * can be an argument or a result.
   */
  maxMessageBytes?: number;
  /** Deepest nesting of containers in a message. Default 64. */
  maxDepth?: number;
  /**
   * Most element units in one message from the peer, checked before it is decoded: each
   * value costs 1, an array 4, a binary value, timestamp or big integer 8, a map 16 (a
   * typed array or `Uint8Array` is one binary value). A message over it closes the
   * connection with `ProtocolError` (`ERR_LIMIT_EXCEEDED`). Default 1,048,576.
   */
  maxElements?: number;
  /**
   * Most calls pending in each direction. A request of the peer counts until it has both
   * settled and been finished by the peer; past the limit it is refused on its own with
   * `LimitExceededError`. Default 10 000.
   */
  maxPendingCalls?: number;
  /**
   * Most calls of the peer pipelined one on another (a call on the pending result of a
   * call on the pending result of ...); a deeper one fails with `LimitExceededError`.
   * Default 1 024.
   */
  maxPipelineDepth?: number;
  /** Most live references in each table (exports, imports). Default 100 000. */
  maxLiveReferences?: number;
  /** Expose own (instance) properties of by-reference objects. Default `false`. */
  allowPublicAttrs?: boolean;
  /** Let the peer assign public properties. Default `false`. */
  allowSetAttrs?: boolean;
  /** Let the peer delete public own properties. Default `false`. */
  allowDeleteAttrs?: boolean;
  /** Call `Symbol.dispose` of an exported object when the peer releases it. Default `false`. */
  disposeOnRelease?: boolean;
  /** Send stack traces of thrown errors to the peer. Default `false`. */
  includeRemoteStack?: boolean;
  /** Error classes rebuilt by name when they arrive (keyway's own are always included). */
  errorClasses?: readonly ErrorClass[];
  /** Items per batch when the peer iterates one of our iterables. Default 256. */
  iterationBatchSize?: number;
  /**
   * Bytes of each byte stream of the peer that may be in flight towards us (requested
   * and not yet read): the read-ahead window of a `ReadableStream` that arrived.
   * Default 4 MiB.
   */
  streamWindowBytes?: number;
  /** Milliseconds to wait for the peer's protocol hello. Default 10 000. */
  helloTimeout?: number;
  /**
   * A budget shared with other connections (a server's `SharedBudget`): the peer's requests
   * being served, live references and the peer's unfinished calls are also charged there.
   * Over it, the peer's call is rejected with `LimitExceededError` (`ERR_LIMIT_EXCEEDED`)
   * and the connection stays open. Default none (only this connection's limits apply).
   */
  budget?: ResourceBudget;
  /**
   * Who the peer is, for the budget's per-identity share (a key fingerprint, a user name).
   * Default the transport's `remoteAddress`, else `''`.
   */
  budgetKey?: string;
  /**
   * Probe a quiet peer and close the connection when it stays silent (a frozen process, a
   * dead link that TCP has not noticed), or `false`. Default `false` here;
   * `@keyway/server`'s `connect()` and servers default to {@link DEFAULT_KEEPALIVE}.
   */
  keepalive?: KeepaliveOptions | false;
  /**
   * Called once when the connection has closed, with the error if it failed (what
   * `closed` settles with), after the service's `onDisconnect`; only for a connection that
   * opened (one that fails to open rejects `connectTransport` instead). For a server that
   * watches many connections: one function serves them all, where `closed.then(...)` keeps
   * a promise and a closure per connection for as long as it lives. An exception thrown
   * here is rethrown on its own, as an uncaught one.
   */
  onClose?: (connection: Connection, error: Error | undefined) => void;
}

/** Defaults of {@link ConnectionOptions}. */
export const DEFAULT_CONNECTION_OPTIONS = Object.freeze({
  timeout: 30_000,
  maxMessageBytes: DEFAULT_CODEC_MAX_MESSAGE_BYTES,
  maxDepth: DEFAULT_MAX_DEPTH,
  maxElements: DEFAULT_MAX_ELEMENTS,
  maxPendingCalls: 10_000,
  maxPipelineDepth: 1_024,
  maxLiveReferences: 100_000,
  includeRemoteStack: false,
  iterationBatchSize: 256,
  streamWindowBytes: DEFAULT_STREAM_WINDOW_BYTES,
  helloTimeout: 10_000,
  keepalive: false,
  ...DEFAULT_ACCESS_POLICY,
});

const BUILTIN_ERRORS: readonly ErrorClass[] = [
  KeywayError,
  AccessDeniedError,
  ConnectionClosedError,
  TimeoutError,
  ProtocolError,
  MessageTooLargeError,
  LimitExceededError,
];

function errorClassMap(extra: readonly ErrorClass[]): Map<string, ErrorClass> {
  const map = new Map<string, ErrorClass>();
  for (const cls of [...BUILTIN_ERRORS, ...extra]) {
    if (typeof cls !== 'function') throw new TypeError('errorClasses must hold classes');
    map.set(cls.name, cls);
  }
  return map;
}

// Only read once made: every connection without error classes of its own shares it.
let builtinErrors: ReadonlyMap<string, ErrorClass> | undefined;
const builtinErrorClasses = (): ReadonlyMap<string, ErrorClass> =>
  (builtinErrors ??= errorClassMap([]));

function positive(
  name: string,
  value: number | undefined,
  fallback: number,
  allowZero = false,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value) || value < (allowZero ? 0 : 1))
    throw new RangeError(`${name} must be a number ${allowZero ? '>= 0' : '>= 1'}`);
  return value;
}

/** Room for the envelope of a stream answer (ids, tags, chunk headers) in a message. */
const STREAM_ANSWER_OVERHEAD = 1024;

/** A session's settings with the codec's limits: what `settingsFrom` resolves. */
type ResolvedSettings = SessionSettings & { maxMessageBytes: number; maxElements: number };

/**
 * The settings last resolved: a server resolves the same options for every connection,
 * and those connections then share one settings object instead of holding a copy each.
 */
let lastSettings: ResolvedSettings | undefined;

function shareSettings(settings: ResolvedSettings): ResolvedSettings {
  const last = lastSettings;
  if (last !== undefined) {
    const keys = Object.keys(settings) as (keyof ResolvedSettings)[];
    if (
      keys.length === Object.keys(last).length &&
      keys.every((key) => Object.is(settings[key], last[key]))
    )
      return last;
  }
  lastSettings = settings;
  return settings;
}

function settingsFrom(options: ConnectionOptions): ResolvedSettings {
  const d = DEFAULT_CONNECTION_OPTIONS;
  const errorClasses =
    options.errorClasses === undefined || options.errorClasses.length === 0
      ? builtinErrorClasses()
      : errorClassMap(options.errorClasses);
  const maxMessageBytes = positive('maxMessageBytes', options.maxMessageBytes, d.maxMessageBytes);
  return {
    timeout: positive('timeout', options.timeout, d.timeout, true),
    maxMessageBytes,
    maxDepth: Math.max(8, positive('maxDepth', options.maxDepth, d.maxDepth)),
    maxElements: positive('maxElements', options.maxElements, d.maxElements),
    maxPendingCalls: positive('maxPendingCalls', options.maxPendingCalls, d.maxPendingCalls),
    maxPipelineDepth: positive('maxPipelineDepth', options.maxPipelineDepth, d.maxPipelineDepth),
    maxLiveReferences: positive(
      'maxLiveReferences',
      options.maxLiveReferences,
      d.maxLiveReferences,
    ),
    allowPublicAttrs: options.allowPublicAttrs ?? d.allowPublicAttrs,
    allowSetAttrs: options.allowSetAttrs ?? d.allowSetAttrs,
    allowDeleteAttrs: options.allowDeleteAttrs ?? d.allowDeleteAttrs,
    disposeOnRelease: options.disposeOnRelease ?? d.disposeOnRelease,
    includeRemoteStack: options.includeRemoteStack ?? d.includeRemoteStack,
    iterationBatchSize: positive(
      'iterationBatchSize',
      options.iterationBatchSize,
      d.iterationBatchSize,
    ),
    streamWindowBytes: positive(
      'streamWindowBytes',
      options.streamWindowBytes,
      d.streamWindowBytes,
    ),
    // An answer must fit in a message, whatever the peer's credit.
    streamChunkBytes: Math.max(
      1,
      Math.min(STREAM_CHUNK_BYTES, Math.floor(maxMessageBytes / 2) - STREAM_ANSWER_OVERHEAD),
    ),
    errorClasses,
    keepalive: keepaliveFrom(options.keepalive),
  };
}

function openBudget(options: ConnectionOptions, transport: Transport) {
  const { budget, budgetKey } = options;
  if (budget === undefined) return UNLIMITED_ACCOUNT;
  if (typeof budget !== 'object' || budget === null || typeof budget.open !== 'function')
    throw new TypeError('budget must have an open(key) method');
  if (budgetKey !== undefined && typeof budgetKey !== 'string')
    throw new TypeError('budgetKey must be a string');
  return budget.open(budgetKey ?? transport.remoteAddress ?? '');
}

function keepaliveFrom(
  option: KeepaliveOptions | false | undefined,
): KeepaliveSettings | undefined {
  if (option === undefined || option === false) return undefined;
  if (typeof option !== 'object' || option === null)
    throw new TypeError('keepalive must be an object { intervalMs, timeoutMs } or false');
  const intervalMs = positive(
    'keepalive.intervalMs',
    option.intervalMs,
    DEFAULT_KEEPALIVE.intervalMs,
  );
  const timeoutMs = positive(
    'keepalive.timeoutMs',
    option.timeoutMs,
    option.intervalMs === undefined ? DEFAULT_KEEPALIVE.timeoutMs : 2 * intervalMs,
  );
  if (timeoutMs <= intervalMs)
    throw new RangeError('keepalive.timeoutMs must be greater than keepalive.intervalMs');
  // Connections with the default periods share one frozen object.
  if (intervalMs === DEFAULT_KEEPALIVE.intervalMs && timeoutMs === DEFAULT_KEEPALIVE.timeoutMs)
    return DEFAULT_KEEPALIVE;
  return { intervalMs, timeoutMs };
}

/** Counters of a connection's tables, for tests and monitoring. */
export interface ConnectionStats {
  /** Our objects the peer holds references to (the root not counted). */
  exports: number;
  /** The peer's objects we hold stubs for. */
  imports: number;
  /** Our calls waiting for a reply. */
  questions: number;
  /** The peer's calls not yet finished. */
  answers: number;
  /** The peer's requests being served right now (not yet settled). */
  serving: number;
  /** Requests this side has sent (calls, gets, iteration batches...). */
  requestsSent: number;
  /** Messages this side has sent, of every kind. */
  messagesSent: number;
}

/**
 * One RPC connection, the same on both sides. Create it with {@link connectTransport}.
 */
export class Connection {
  readonly #session: Session;
  readonly #transport: Transport;
  readonly #driver: Driver;
  /** Made when first asked for: a server that watches with `onClose` never makes one. */
  #closed: Promise<Error | undefined> | undefined;
  #resolveClosed: ((error: Error | undefined) => void) | undefined;
  /** Whether the connection has closed (the end `closed` reports), and with what. */
  #ended = false;
  #endError: Error | undefined;
  /** The `onClose` option, once the connection has opened. */
  #onClose: ConnectionOptions['onClose'];
  #credentials: unknown;
  #service: object | undefined;

  static {
    // connectTransport() is the only way in; nothing of the engine shows in the typings.
    openConnection = async (transport, options) => {
      const connection = new Connection(transport, options);
      await connection.#open(options);
      return connection;
    };
    transportClosed = (connection, error) => connection.#onTransportClosed(error);
  }

  private constructor(transport: Transport, options: ConnectionOptions) {
    const settings = shareSettings(settingsFrom(options));
    if (options.onClose !== undefined && typeof options.onClose !== 'function')
      throw new TypeError('onClose must be a function');
    // Opened last: nothing above may throw once the account exists.
    const budget = openBudget(options, transport);
    this.#transport = transport;
    this.#credentials = options.credentials;
    // The settings carry the codec's limits: no object of its own for them.
    const codec = new Codec(settings);
    this.#driver = new Driver(this, transport);
    this.#session = new Session(codec, this.#driver, settings, budget);
    this.#driver.session = this.#session;
    this.#session.attach(this);
  }

  /** The peer's root service as a stub; cast it with `Remote<T>`. */
  get root(): Stub {
    return this.#session.rootStub.proxy;
  }

  /** Who the peer is, as established by the server layer (`undefined` without one). */
  get credentials(): unknown {
    return this.#credentials;
  }

  /** Where the peer is, as the transport reports it. */
  get remoteAddress(): string | undefined {
    return this.#transport.remoteAddress;
  }

  /** Settles (never rejects) when the connection has closed, with the error if it failed. */
  get closed(): Promise<Error | undefined> {
    if (this.#closed === undefined) {
      if (this.#ended) this.#closed = Promise.resolve(this.#endError);
      else
        this.#closed = new Promise((resolve) => {
          this.#resolveClosed = resolve;
        });
    }
    return this.#closed;
  }

  /** Whether the connection has closed. */
  get isClosed(): boolean {
    return this.#session.closed;
  }

  /** The local root object this side exposes. */
  get service(): object | undefined {
    return this.#service;
  }

  /**
   * Closes the connection; every pending call rejects with `ConnectionClosedError`.
   * @returns A promise that settles once closed.
   */
  close(): Promise<void> {
    if (!this.#session.closed) {
      this.#session.closed_(undefined);
      this.#transport.close();
    }
    return this.closed.then(() => undefined);
  }

  /**
   * Waits until no request of the peer is being served, for a graceful shutdown: stop
   * accepting connections, `await connection.drain()`, then `close()`.
   * @returns A promise that resolves when the count of calls being served reaches zero
   *   (or the connection closed).
   */
  drain(): Promise<void> {
    return this.#session.drain();
  }

  /** Closes the connection (`await using connection = await connectTransport(...)`). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /**
   * Measures one round trip to the peer.
   * @param options `timeout` in ms (default the connection's call `timeout`; 0 waits for
   *   ever).
   * @returns The round-trip time in milliseconds.
   * @throws {RangeError} When `timeout` is negative or not a number (thrown at once).
   * @throws {TimeoutError} When no answer came within the timeout.
   * @throws {ConnectionClosedError} When the connection is closed or closes meanwhile.
   */
  ping(options: PingOptions = {}): Promise<number> {
    const timeout = positive('timeout', options.timeout, this.#session.settings.timeout, true);
    return this.#session.ping(timeout);
  }

  /** Sizes of this connection's tables. */
  stats(): ConnectionStats {
    return this.#session.stats();
  }

  async #open(options: ConnectionOptions): Promise<void> {
    const session = this.#session;
    const helloTimeout = positive(
      'helloTimeout',
      options.helloTimeout,
      DEFAULT_CONNECTION_OPTIONS.helloTimeout,
    );
    // Send our hello and wait for the peer's before the transport delivers anything: a
    // transport may hand over, synchronously inside start(), the peer's hello that arrived
    // while the layer below was still authenticating.
    const hello = session.start();
    this.#transport.start(this.#driver);
    let timer: TimerHandle | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new TimeoutError('the peer did not send a protocol hello in time')),
        helloTimeout,
      );
    });
    try {
      await Promise.race([hello, deadline]);
    } catch (error) {
      session.fail(error as Error);
      throw error;
    } finally {
      clearTimeout(timer);
    }
    const spec = options.service ?? EMPTY_SERVICE;
    const root = typeof spec === 'function' ? new (spec as new () => object)() : spec;
    this.#service = root;
    const onConnect = (root as Partial<Service>).onConnect;
    if (typeof onConnect === 'function') {
      try {
        await onConnect.call(root, this);
      } catch (error) {
        const failure = new KeywayError('ERR_ON_CONNECT', 'onConnect failed', { cause: error });
        // The peer is told why (an ABORT): a deliberate refusal with its own code and text,
        // any other failure only as ERR_ON_CONNECT, so no internal detail leaks.
        const refusal = error instanceof AccessDeniedError ? error : failure;
        session.fail(new ProtocolError(refusal.message, { code: refusal.code, cause: failure }));
        throw failure;
      }
    }
    if (session.closed) throw new ConnectionClosedError('connection closed during onConnect');
    session.ready(root);
    this.#onClose = options.onClose;
  }

  #onTransportClosed(error: Error | undefined): void {
    this.#session.closed_(error);
    this.#driver.stop();
    const root = this.#service;
    const onDisconnect = (root as Partial<Service> | undefined)?.onDisconnect;
    if (root !== undefined && typeof onDisconnect === 'function') {
      try {
        const result = onDisconnect.call(root, this);
        if (result instanceof Promise) result.catch(() => {});
      } catch {
        // A failing hook must not stop the close from completing.
      }
    }
    if (this.#ended) return;
    // A close the session decided (a protocol violation, the keepalive) reports its own
    // reason, whatever the transport makes of it.
    const reason = this.#session.closeError ?? error;
    this.#ended = true;
    this.#endError = reason;
    this.#resolveClosed?.(reason);
    this.#resolveClosed = undefined;
    const onClose = this.#onClose;
    this.#onClose = undefined;
    if (onClose === undefined) return;
    try {
      onClose(this, reason);
    } catch (thrown) {
      // The close itself is done; the watcher's failure surfaces as its own.
      queueMicrotask(() => {
        throw thrown;
      });
    }
  }
}

// How long lone finishes and releases wait to ride on a request before going alone.
const HOUSEKEEPING_DELAY_MS = 25;
const EMPTY_SERVICE = Object.freeze(new Service());

/**
 * The driver of one connection: the session's I/O and the transport's receiver in one
 * object whose methods are shared through its prototype, where a closure per callback
 * would cost each idle connection a few hundred bytes more.
 */
class Driver implements SessionIO, TransportReceiver, Timed {
  readonly #connection: Connection;
  readonly #transport: Transport;
  session!: Session;
  dueAt = Number.POSITIVE_INFINITY;
  dueSlot = -1;
  #flushImmediate = false;
  #flushTimer: TimerHandle | undefined;

  constructor(connection: Connection, transport: Transport) {
    this.#connection = connection;
    this.#transport = transport;
  }

  send(bytes: Uint8Array): void {
    this.#transport.send(bytes);
  }

  sendParts(pieces: Uint8Array[]): void {
    sendPieces(this.#transport, pieces);
  }

  close(error: Error | undefined): void {
    this.#transport.close(error);
  }

  now(): number {
    return performance.now();
  }

  armTimer(deadline: number): void {
    schedule(this, deadline);
  }

  due(now: number): void {
    this.session.expire(now);
  }

  scheduleFlush(urgent: boolean): void {
    if (urgent) {
      if (this.#flushImmediate) return;
      this.#flushImmediate = true;
      nextTurn(() => {
        this.#flushImmediate = false;
        this.session.flush();
      });
      return;
    }
    if (this.#flushTimer !== undefined) return;
    this.#flushTimer = setTimeout(() => {
      this.#flushTimer = undefined;
      this.session.flush();
    }, HOUSEKEEPING_DELAY_MS);
    unrefTimer(this.#flushTimer);
  }

  onMessage(data: Uint8Array): void {
    this.session.receive(data);
  }

  onMessageParts(head: Uint8Array, parts: Uint8Array[]): void {
    this.session.receive(head, parts);
  }

  onClose(error?: Error): void {
    transportClosed(this.#connection, error);
  }

  /** The transport closed: no deadline or flush runs any more. */
  stop(): void {
    unschedule(this);
    if (this.#flushTimer !== undefined) clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
  }
}

/**
 * Runs the RPC protocol over a message transport. Symmetric: both sides call it, each
 * exposing its own `service` and reaching the other's as `connection.root`.
 * @param transport A connected transport (memory pair, Duplex, MessagePort, secure channel).
 * @param options The local service, limits and policy.
 * @returns The connection, once both sides agreed on the protocol version and the local
 *   service's `onConnect` has run.
 * @throws {ProtocolError} On a protocol version mismatch (`ERR_PROTOCOL_VERSION`).
 * @example
 * const [a, b] = memoryTransportPair();
 * const [server, client] = await Promise.all([
 *   connectTransport(a, { service: Calculator }),
 *   connectTransport(b),
 * ]);
 * const calc = client.root as Remote<Calculator>;
 * await calc.add(1, 2); // 3
 */
export async function connectTransport(
  transport: Transport,
  options: ConnectionOptions = {},
): Promise<Connection> {
  if (
    typeof transport !== 'object' ||
    transport === null ||
    typeof transport.send !== 'function' ||
    typeof transport.start !== 'function' ||
    typeof transport.close !== 'function'
  )
    throw new TypeError('connectTransport(transport): transport must have send, start and close');
  return openConnection(transport, options);
}

function stateOrThrow(stub: unknown, what: string) {
  const state = stubStateOf(stub);
  if (state === undefined) throw new TypeError(`${what}: not a remote stub`);
  return state;
}

/**
 * Releases a remote reference now instead of waiting for garbage collection. Calls
 * already sent through it complete first. Using the stub afterwards fails.
 * @param ref A stub received from the peer.
 * @throws {TypeError} When `ref` is not a remote stub.
 */
export function release(ref: unknown): void {
  const state = stateOrThrow(ref, 'release(ref)');
  state.host.release(state);
}

/**
 * The same stub with per-call options for the calls made through it.
 * @param stub A remote stub (object, path or call result).
 * @param options `timeout` in ms and/or an `AbortSignal`.
 * @returns A stub of the same type.
 * @example
 * await withOptions(api, { timeout: 500, signal }).slowQuery();
 */
export function withOptions<T>(stub: T, options: CallOptions): T {
  const state = stateOrThrow(stub, 'withOptions(stub)');
  if (options.timeout !== undefined) positive('timeout', options.timeout, 0, true);
  return state.withOptions(options) as T;
}

/**
 * Assigns a public property of a remote object (the owner must allow it).
 * @param path A path stub such as `root.settings.level`.
 * @param value The new value.
 */
export function setRemote(path: unknown, value: unknown): Promise<void> {
  const state = stateOrThrow(path, 'setRemote(path)');
  return (state.host as Session).mutate(state, Operation.Set, [value]).then(() => undefined);
}

/**
 * Deletes a public own property of a remote object (the owner must allow it).
 * @param path A path stub such as `root.cache.entry`.
 */
export function deleteRemote(path: unknown): Promise<void> {
  const state = stateOrThrow(path, 'deleteRemote(path)');
  return (state.host as Session).mutate(state, Operation.Delete, null).then(() => undefined);
}

/**
 * Names the members of a remote object that this side may reach (methods, getters, and
 * fields when the owner exposes them), as the owner's access gate decides; for
 * completion in a shell, like RPyC's `dir()` on a netref.
 * @param stub A remote object or path stub such as `conn.root`.
 * @returns The exposed names, sorted.
 * @example
 * await listRemote(conn.root); // ['add', 'open', ...]
 */
export function listRemote(stub: unknown): Promise<string[]> {
  const state = stateOrThrow(stub, 'listRemote(stub)');
  return (state.host as Session).mutate(state, Operation.List, null) as Promise<string[]>;
}

/**
 * Whether `value` is a stub for a remote object.
 * @param value Anything.
 */
export function isRemote(value: unknown): boolean {
  return stubStateOf(value) !== undefined;
}
