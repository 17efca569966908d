/**
 * Remote stubs (docs/protocol.md §5): a `Proxy` standing for a remote
 * object, a property path on it, or the pending result of a call. Property access builds
 * a path without any message; calling sends one request and returns a new stub for the
 * result, so chains are pipelined. Only path and result stubs are thenable: a stub for a
 * remote object itself answers `undefined` for `then`, so `await` never probes the peer.
 */

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

  constructor(
    host: StubHost,
    kind: number,
    id: number,
    question: Question | undefined,
    path: readonly string[],
    options: CallOptions | undefined,
    base?: StubState,
  ) {
    this.host = host;
    this.base = base;
    this.kind = kind;
    this.id = id;
    this.question = question;
    this.path = path;
    this.options = options;
    this.proxy = new Proxy(RemoteStub, this);
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

/** The state behind a stub, or `undefined` when `value` is not a stub. */
export function stubStateOf(value: unknown): StubState | undefined {
  if (typeof value !== 'function') return undefined;
  const state = (value as unknown as Record<symbol, unknown>)[STATE];
  return state instanceof StubState ? state : undefined;
}
