/**
 * Remote stubs (docs/protocol.md §5): a `Proxy` standing for a remote
 * object, a property path on it, or the pending result of a call. Property access builds
 * a path without any message; calling sends one request and returns a new stub for the
 * result, so chains are pipelined. Only path and result stubs are thenable: a stub for a
 * remote object itself answers `undefined` for `then`, so `await` never probes the peer.
 *
 * A call result is made cheap for the common case, a caller that only awaits it: its
 * `Proxy` shares one handler, and its `StubState` is made on first use as a stub (a
 * member read or a call on the pending result, passing it by reference, `withOptions`,
 * release, iteration).
 */
import type { RefHost } from './serialize.js';

/** Per-call options, attached to a stub with `withOptions`. */
export interface CallOptions {
  /** Milliseconds before the call fails with `TimeoutError`; `0` for none. */
  timeout?: number;
  /** Cancels the call, locally and on the remote side. */
  signal?: AbortSignal;
}

/** What stubs ask of the session that owns them. */
export interface StubHost {
  call(state: StubState, args: unknown[]): unknown;
  promiseOf(state: StubState): Promise<unknown>;
  iterate(state: StubState): AsyncIterator<unknown>;
  release(state: StubState): void;
  describe(state: StubState): string;
}

/** Stub kinds. */
export const STUB_IMPORT = 0;
export const STUB_ANSWER = 1;

/** Caller-side record of one request: its result, settled at most once. */
export class Question {
  readonly qid: number;
  settled = false;
  ok = false;
  value: unknown;
  deadline = 0;
  /** Keeps the stub the call went through alive until the call settles. */
  hold: StubState | undefined;
  abortCleanup: (() => void) | undefined;
  /** Reads the value of a RESOLVE in place of `resultFromWire` (a byte stream's read). */
  decodeAnswer: ((raw: unknown, host: RefHost) => unknown) | undefined;
  #promise: Promise<unknown> | undefined;
  #resolve: ((value: unknown) => void) | undefined;
  #reject: ((error: unknown) => void) | undefined;

  constructor(qid: number, hold: StubState | undefined) {
    this.qid = qid;
    this.hold = hold;
  }

  /** The result as a promise, created on first use so unobserved failures stay quiet. */
  promise(): Promise<unknown> {
    if (this.#promise === undefined) {
      if (this.settled) {
        this.#promise = this.ok ? Promise.resolve(this.value) : Promise.reject(this.value);
      } else {
        this.#promise = new Promise((resolve, reject) => {
          this.#resolve = resolve;
          this.#reject = reject;
        });
      }
    }
    return this.#promise;
  }

  settle(ok: boolean, value: unknown): boolean {
    if (this.settled) return false;
    this.settled = true;
    this.ok = ok;
    this.value = value;
    if (this.abortCleanup !== undefined) {
      this.abortCleanup();
      this.abortCleanup = undefined;
    }
    if (ok) this.#resolve?.(value);
    else this.#reject?.(value);
    return true;
  }
}

const STATE = Symbol('keyway.stub');
// Node's util.inspect.custom, by its registered name, so the engine imports no Node module.
const INSPECT = Symbol.for('nodejs.util.inspect.custom');
const CHILD_CACHE_LIMIT = 64;
// One shared target: an arrow function, so stubs are callable and have no `prototype`;
// util.inspect shows proxies by their target, hence its name.
const RemoteStub = () => {};

/** A remote stub as seen by TypeScript before `Remote<T>` gives it a shape. */
export type Stub = object;

/** The state of one stub; also its Proxy handler (the traps are its methods). */
export class StubState implements ProxyHandler<typeof RemoteStub> {
  readonly host: StubHost;
  readonly kind: number;
  readonly id: number;
  readonly question: Question | undefined;
  readonly path: readonly string[];
  readonly options: CallOptions | undefined;
  /** For a path below an object stub: the object stub, kept alive while this one lives. */
  readonly base: StubState | undefined;
  readonly proxy: Stub;
  inflight = 0;
  released = false;
  releaseWanted = false;
  #children: Map<string, Stub> | undefined;

  /**
   * @param proxy The proxy this state stands behind, when it exists already (a call
   *   result whose state is made on first use); else a proxy is made with this state as
   *   its handler.
   */
  constructor(
    host: StubHost,
    kind: number,
    id: number,
    question: Question | undefined,
    path: readonly string[],
    options: CallOptions | undefined,
    base?: StubState,
    proxy?: Stub,
  ) {
    this.host = host;
    this.base = base;
    this.kind = kind;
    this.id = id;
    this.question = question;
    this.path = path;
    this.options = options;
    this.proxy = proxy ?? new Proxy(RemoteStub, this);
  }

  /** Whether awaiting this stub means anything (a path or a call result). */
  get thenable(): boolean {
    return this.kind === STUB_ANSWER || this.path.length > 0;
  }

  /** A stub for `name` below this one (cached for object stubs). */
  child(name: string): Stub {
    const cacheable = this.path.length === 0 && this.kind === STUB_IMPORT;
    if (cacheable) {
      const hit = this.#children?.get(name);
      if (hit !== undefined) return hit;
    }
    const state = new StubState(
      this.host,
      this.kind,
      this.id,
      this.question,
      [...this.path, name],
      this.options,
      this.base ?? this,
    );
    if (cacheable) {
      this.#children ??= new Map();
      if (this.#children.size < CHILD_CACHE_LIMIT) this.#children.set(name, state.proxy);
    }
    return state.proxy;
  }

  /** The same stub with per-call options. */
  withOptions(options: CallOptions): Stub {
    return new StubState(
      this.host,
      this.kind,
      this.id,
      this.question,
      this.path,
      { ...this.options, ...options },
      this.base ?? this,
    ).proxy;
  }

  get(_target: unknown, key: string | symbol): unknown {
    if (typeof key === 'symbol') {
      if (key === STATE) return this;
      if (key === Symbol.asyncIterator) return () => this.host.iterate(this);
      if (key === Symbol.dispose) return () => this.host.release(this);
      if (key === Symbol.asyncDispose) return async () => this.host.release(this);
      if (key === INSPECT) return () => this.host.describe(this);
      if (key === Symbol.toStringTag) return 'RemoteStub';
      if (key === Symbol.toPrimitive) return () => this.host.describe(this);
      return undefined;
    }
    if (key === 'then') {
      if (!this.thenable) return undefined;
      return (onOk?: (v: unknown) => unknown, onErr?: (e: unknown) => unknown) =>
        this.host.promiseOf(this).then(onOk, onErr);
    }
    if (this.thenable && key === 'catch')
      return (onErr?: (e: unknown) => unknown) => this.host.promiseOf(this).catch(onErr);
    if (this.thenable && key === 'finally')
      return (onFinally?: () => void) => this.host.promiseOf(this).finally(onFinally);
    // Object.prototype names are never exposed by an owner, so they are answered here:
    // String(stub) and JSON.stringify(stub) stay local and never send anything.
    if (key === 'toString') return () => this.host.describe(this);
    if (key === 'toJSON' || key === 'valueOf') return undefined;
    return this.child(key);
  }

  apply(_target: unknown, _this: unknown, args: unknown[]): unknown {
    return this.host.call(this, args);
  }

  set(): boolean {
    throw new TypeError('remote stubs are read-only; use setRemote()');
  }

  deleteProperty(): boolean {
    throw new TypeError('remote stubs are read-only; use deleteRemote()');
  }

  defineProperty(): boolean {
    throw new TypeError('remote stubs are read-only');
  }

  setPrototypeOf(): boolean {
    return false;
  }

  has(): boolean {
    return false;
  }

  ownKeys(): (string | symbol)[] {
    return [];
  }

  getOwnPropertyDescriptor(): undefined {
    return undefined;
  }
}

/** What the target of a call result's proxy gives back, asked for its state or not. */
type ResultTarget = (
  want?: typeof WANT_STATE | typeof PEEK_STATE,
) => Question | StubState | undefined;
const WANT_STATE = 1;
const PEEK_STATE = 2;
const PEEK: unique symbol = Symbol('keyway.peek');

const readOnly = (): never => {
  throw new TypeError('remote stubs are read-only');
};

/**
 * The handler every call result shares. Its target is a closure holding the question (and,
 * once made, the state): `await` is answered from the question alone; anything else a
 * stub does is handed to the state, made on first use.
 */
const RESULT_TRAPS: ProxyHandler<ResultTarget> = {
  get(target, key) {
    if (key === 'then') {
      const question = target() as Question;
      return (onOk?: (v: unknown) => unknown, onErr?: (e: unknown) => unknown) =>
        question.promise().then(onOk, onErr);
    }
    if (key === PEEK) return target(PEEK_STATE) ?? false;
    return (target(WANT_STATE) as StubState).get(target, key);
  },
  apply(target, _this, args) {
    const state = target(WANT_STATE) as StubState;
    return state.host.call(state, args);
  },
  set(): boolean {
    throw new TypeError('remote stubs are read-only; use setRemote()');
  },
  deleteProperty(): boolean {
    throw new TypeError('remote stubs are read-only; use deleteRemote()');
  },
  defineProperty: readOnly,
  setPrototypeOf: () => false,
  has: () => false,
  ownKeys: () => [],
  getOwnPropertyDescriptor: () => undefined,
};

/**
 * The stub for the pending result of a call: thenable for the question's outcome, and a
 * full stub (pipelining, passing by reference) once used as one.
 * @param host The session that asked the question.
 * @param question The call's question.
 * @param options The per-call options of the stub the call went through.
 */
export function resultStub(
  host: StubHost,
  question: Question,
  options: CallOptions | undefined,
): Stub {
  let state: StubState | undefined;
  // Named like the shared target of other stubs: util.inspect shows a proxy by its target.
  const RemoteStub: ResultTarget = (want) => {
    if (want === undefined) return question;
    if (want === PEEK_STATE) return state;
    state ??= new StubState(host, STUB_ANSWER, 0, question, NO_PATH, options, undefined, proxy);
    return state;
  };
  const proxy: Stub = new Proxy(RemoteStub, RESULT_TRAPS);
  return proxy;
}

const NO_PATH: readonly string[] = Object.freeze([]);

/**
 * Internal, for tests: whether `value`, a call result, has its state made yet (it was
 * used as a stub). Other stubs always have theirs.
 */
export function stubStateMade(value: unknown): boolean {
  if (typeof value !== 'function') return false;
  const peeked = (value as unknown as Record<symbol, unknown>)[PEEK];
  // A call result answers `false` until its state is made; other stubs know nothing of it.
  return peeked !== false && stubStateOf(value) !== undefined;
}

/** The state behind a stub, or `undefined` when `value` is not a stub. */
export function stubStateOf(value: unknown): StubState | undefined {
  if (typeof value !== 'function') return undefined;
  const state = (value as unknown as Record<symbol, unknown>)[STATE];
  return state instanceof StubState ? state : undefined;
}
