/**
 * The RPC session: a sans-IO state machine (DESIGN.md §3; wire in docs/protocol.md). It
 * is fed decoded bytes with `receive()` and the passing of time with `expire()`, and it
 * asks its driver (`connection.ts`) to send bytes, arm the one deadline timer, schedule a
 * housekeeping flush and close. It owns the four tables of a connection: questions (our
 * calls in flight), answers (the peer's calls, kept until the peer finishes them so they
 * can be pipelined on), exports (our objects the peer holds, refcounted) and imports
 * (the peer's objects we hold, one stub each, released by GC or explicitly).
 */
import { type AccessPolicy, access, Operation } from './access-gate.js';
import { Answer } from './answer.js';
import { enterCall } from './call-context.js';
import type { Codec } from './codec.js';
import type { Connection } from './connection.js';
import {
  AccessDeniedError,
  ConnectionClosedError,
  KeywayError,
  LimitExceededError,
  ProtocolError,
  TimeoutError,
} from './errors.js';
import { ExportTable } from './export-table.js';
import { ImportTable } from './import-table.js';
import { clampBatch, IteratorHandle, isIteratorHandle, remoteIterator } from './iteration.js';
import {
  type ErrorClass,
  errorFromWire,
  errorToWire,
  fromWire,
  NOT_STUB,
  type RefHost,
  stringPath,
  TAG_ANSWER,
  TAG_EXPORT,
  TAG_IMPORT,
  toWire,
} from './serialize.js';
import {
  type CallOptions,
  Question,
  STUB_ANSWER,
  STUB_IMPORT,
  type StubHost,
  StubState,
  stubStateOf,
} from './stub.js';

/** Version of the wire protocol spoken by this build. */
export const PROTOCOL_VERSION = 1;
const PROTOCOL_NAME = 'keyway-rpc';

// Message kinds (docs/protocol.md).
const MSG_HELLO = 0;
const MSG_REQUEST = 1;
const MSG_RESOLVE = 2;
const MSG_REJECT = 3;
const MSG_HOUSEKEEPING = 4;
const MSG_CANCEL = 5;
const MSG_PING = 6;
const MSG_PONG = 7;
const MSG_ABORT = 8;

// Request targets.
const TARGET_EXPORT = 0;
const TARGET_ANSWER = 1;

/** Limits and policy of one session, all resolved to values. */
export interface SessionSettings extends AccessPolicy {
  timeout: number;
  maxDepth: number;
  maxPendingCalls: number;
  maxLiveReferences: number;
  includeRemoteStack: boolean;
  errorClasses: ReadonlyMap<string, ErrorClass>;
  iterationBatchSize: number;
}

/** What the session needs from its driver. */
export interface SessionIO {
  send(bytes: Uint8Array): void;
  close(error: Error | undefined): void;
  armTimer(deadline: number): void;
  /** The current time in milliseconds (the driver's clock; tests may fake it). */
  now(): number;
  /** Flush soon: `urgent` on the next turn of the event loop, else within a short delay. */
  scheduleFlush(urgent: boolean): void;
}

/** Queued finishes that force a flush on the next turn instead of waiting to piggyback. */
const URGENT_HOUSEKEEPING = 128;

/** The RPC state machine of one connection. */
export class Session implements RefHost, StubHost {
  readonly settings: SessionSettings;
  readonly includeRemoteStack: boolean;
  readonly errorClasses: ReadonlyMap<string, ErrorClass>;
  readonly #codec: Codec;
  readonly #io: SessionIO;
  #connection!: Connection;
  /** 0 waiting for hello, 1 hello received (buffering until ready), 2 ready, 3 closed. */
  #state = 0;
  #closeError: Error | undefined;
  #buffered: unknown[][] = [];
  #helloWaiters: { resolve: () => void; reject: (e: Error) => void } | undefined;

  #nextQid = 1;
  readonly #questions = new Map<number, Question>();
  readonly #answers = new Map<number, Answer>();

  readonly #exports: ExportTable;
  readonly #imports: ImportTable;
  readonly rootStub: StubState;

  #finishes: number[] = [];
  #releases: number[] = [];
  #flushScheduled = false;
  #armedDeadline = Number.POSITIVE_INFINITY;
  #pings = new Map<number, (ms: number) => void>();
  #nextPing = 1;
  #messagesSent = 0;
  /** Peer requests not yet settled, and who waits for that count to reach zero. */
  #serving = 0;
  #drainWaiters: (() => void)[] = [];
  #pendingArgs: Promise<unknown>[] | undefined;

  constructor(codec: Codec, io: SessionIO, settings: SessionSettings) {
    this.#codec = codec;
    this.#io = io;
    this.settings = settings;
    this.includeRemoteStack = settings.includeRemoteStack;
    this.errorClasses = settings.errorClasses;
    this.#exports = new ExportTable(settings.maxLiveReferences);
    this.rootStub = new StubState(this, STUB_IMPORT, 0, undefined, [], undefined);
    // The peer's root is import 0 for good: receiving it again yields this same stub.
    this.#imports = new ImportTable(settings.maxLiveReferences, this.rootStub.proxy, (id, count) =>
      this.#queueRelease(id, count),
    );
  }

  /** Attaches the facade (the session is built before it). */
  attach(connection: Connection): void {
    this.#connection = connection;
  }

  get closed(): boolean {
    return this.#state === 3;
  }

  /** Sends our hello; resolves when the peer's hello arrives and matches. */
  start(): Promise<void> {
    const ready = new Promise<void>((resolve, reject) => {
      this.#helloWaiters = { resolve, reject };
    });
    this.#sendMessage([MSG_HELLO, PROTOCOL_NAME, PROTOCOL_VERSION]);
    return ready;
  }

  /** Installs the local root and starts answering the peer. */
  ready(root: object): void {
    this.#exports.setRoot(root);
    if (this.#state !== 1) return;
    this.#state = 2;
    const buffered = this.#buffered;
    this.#buffered = [];
    try {
      for (const message of buffered) {
        if (this.#state !== 2) break;
        this.#dispatch(message);
      }
    } catch (error) {
      this.fail(
        error instanceof ProtocolError ? error : new ProtocolError('bad message', { cause: error }),
      );
    }
  }

  // ---------------------------------------------------------------- incoming bytes

  /** Feeds one message from the transport. Violations close the session. */
  receive(bytes: Uint8Array): void {
    if (this.#state === 3) return;
    try {
      const message = this.#codec.decode(bytes);
      if (!Array.isArray(message) || typeof message[0] !== 'number')
        throw new ProtocolError('message is not a tagged array');
      if (this.#state === 0) {
        this.#onHello(message);
      } else if (this.#state === 1) {
        // Requests wait for onConnect; replies flow, so onConnect may call the peer.
        if (message[0] !== MSG_REQUEST && message[0] !== MSG_CANCEL) this.#dispatch(message);
        else if (this.#buffered.length >= this.settings.maxPendingCalls)
          throw new ProtocolError('too many messages before the session was ready');
        else this.#buffered.push(message);
      } else {
        this.#dispatch(message);
      }
    } catch (error) {
      this.fail(
        error instanceof ProtocolError ? error : new ProtocolError('bad message', { cause: error }),
      );
    }
  }

  #onHello(message: unknown[]): void {
    if (message[0] === MSG_ABORT) {
      this.#dispatch(message);
      return;
    }
    if (message[0] !== MSG_HELLO || message[1] !== PROTOCOL_NAME)
      throw new ProtocolError('the peer does not speak the keyway RPC protocol');
    const version = message[2];
    if (version !== PROTOCOL_VERSION) {
      const error = new ProtocolError(
        `protocol version mismatch: this side speaks ${PROTOCOL_VERSION}, the peer ${String(version)}`,
        { code: 'ERR_PROTOCOL_VERSION' },
      );
      // fail() tells the peer why (ABORT with this code) before closing.
      throw error;
    }
    this.#state = 1;
    this.#helloWaiters?.resolve();
    this.#helloWaiters = undefined;
  }

  #dispatch(m: unknown[]): void {
    switch (m[0]) {
      case MSG_REQUEST:
        this.#onRequest(m);
        if (m.length > 8) this.#onHousekeeping(m[8], m[9]);
        return;
      case MSG_RESOLVE:
      case MSG_REJECT:
        this.#onReply(m);
        return;
      case MSG_HOUSEKEEPING:
        this.#onHousekeeping(m[1], m[2]);
        return;
      case MSG_CANCEL: {
        const qid = m[1];
        const answer = typeof qid === 'number' ? this.#answers.get(qid) : undefined;
        if (answer !== undefined) {
          this.#answers.delete(answer.qid);
          answer.cancel();
          if (answer.state === 0) {
            // A cancelled call no longer counts as served, whatever the method does next;
            // calls pipelined on it fail now instead of waiting for it.
            this.#doneServing();
            answer.settle(2, new KeywayError('ERR_CANCELLED', 'the caller cancelled the call'));
          }
        }
        return;
      }
      case MSG_PING:
        this.#sendMessage([MSG_PONG, m[1]]);
        return;
      case MSG_PONG: {
        const waiter = typeof m[1] === 'number' ? this.#pings.get(m[1]) : undefined;
        if (waiter !== undefined) {
          this.#pings.delete(m[1] as number);
          waiter(0);
        }
        return;
      }
      case MSG_ABORT: {
        const code = typeof m[1] === 'string' ? m[1] : 'ERR_PROTOCOL';
        const text = typeof m[2] === 'string' ? m[2] : 'the peer aborted the session';
        this.fail(new ProtocolError(`the peer aborted: ${text}`, { code }));
        return;
      }
      case MSG_HELLO:
        throw new ProtocolError('hello sent twice');
      default:
        throw new ProtocolError('unknown message kind');
    }
  }

  // ---------------------------------------------------------------- serving the peer

  #onRequest(m: unknown[]): void {
    const [, qid, op, targetKind, targetId, rawPath, rawArgs] = m;
    if (typeof qid !== 'number' || !Number.isSafeInteger(qid) || this.#answers.has(qid))
      throw new ProtocolError('bad or duplicate request id');
    if (typeof op !== 'number' || op < 0 || op > Operation.List || !Number.isInteger(op))
      throw new ProtocolError('unknown operation');
    if (typeof targetId !== 'number') throw new ProtocolError('bad target');
    if (this.#answers.size >= this.settings.maxPendingCalls)
      throw new ProtocolError(`more than ${this.settings.maxPendingCalls} unfinished requests`, {
        code: 'ERR_LIMIT_EXCEEDED',
      });
    const path = rawPath === null ? EMPTY_PATH : stringPath(rawPath);
    const answer = new Answer(qid, this.#connection);
    this.#serving++;
    this.#answers.set(qid, answer);

    this.#pendingArgs = undefined;
    let args: unknown[];
    if (rawArgs === null || rawArgs === undefined) args = EMPTY_ARGS;
    else if (Array.isArray(rawArgs)) {
      args = new Array(rawArgs.length);
      for (let i = 0; i < rawArgs.length; i++) args[i] = fromWire(rawArgs[i], this);
    } else throw new ProtocolError('bad arguments');
    const waits = this.#pendingArgs as Promise<unknown>[] | undefined;
    this.#pendingArgs = undefined;

    const operation = op as Operation;
    if (targetKind === TARGET_EXPORT) {
      const value = this.#exports.get(targetId);
      if (value === undefined) {
        this.#settleAnswer(
          answer,
          2,
          new KeywayError('ERR_UNKNOWN_REFERENCE', 'the object was released or never existed'),
        );
        return;
      }
      if (waits === undefined) {
        this.#perform(answer, operation, value, path, args);
        return;
      }
      void Promise.all(waits).then(
        (values) => this.#perform(answer, operation, value, path, substitute(args, waits, values)),
        (error: unknown) => this.#settleAnswer(answer, 2, error),
      );
      return;
    }
    if (targetKind === TARGET_ANSWER) {
      if (targetId >= qid) throw new ProtocolError('a request may only pipeline on an earlier one');
      const base = this.#answers.get(targetId);
      if (base === undefined) {
        this.#settleAnswer(
          answer,
          2,
          new KeywayError('ERR_UNKNOWN_REFERENCE', 'pipelined on a finished or unknown call'),
        );
        return;
      }
      const run = () => {
        if (base.state === 2) return this.#settleAnswer(answer, 2, base.value);
        if (waits === undefined) return this.#perform(answer, operation, base.value, path, args);
        void Promise.all(waits).then(
          (values) =>
            this.#perform(answer, operation, base.value, path, substitute(args, waits, values)),
          (error: unknown) => this.#settleAnswer(answer, 2, error),
        );
      };
      if (base.state === 0) {
        base.waiters ??= [];
        base.waiters.push(run);
      } else run();
      return;
    }
    throw new ProtocolError('bad target kind');
  }

  #perform(
    answer: Answer,
    op: Operation,
    target: unknown,
    path: readonly string[],
    args: unknown[],
  ): void {
    if (answer.cancelled) return;
    let result: unknown;
    const previous = enterCall(answer);
    try {
      result = this.#operate(op, target, path, args);
    } catch (error) {
      enterCall(previous);
      this.#settleAnswer(answer, 2, error);
      return;
    }
    enterCall(previous);
    const stub = stubStateOf(result);
    if (result instanceof Promise || stub?.thenable === true) {
      (result as PromiseLike<unknown>).then(
        (value) => {
          this.#settleAnswer(answer, 1, value);
        },
        (error: unknown) => {
          this.#settleAnswer(answer, 2, error);
        },
      );
      return;
    }
    this.#settleAnswer(answer, 1, result);
  }

  /** Follows `path` through the gate and performs `op`; forwards into stubs. */
  #operate(op: Operation, target: unknown, path: readonly string[], args: unknown[]): unknown {
    const policy = this.settings;
    const steps =
      op === Operation.Get || op === Operation.Iterate || op === Operation.List
        ? path.length
        : Math.max(0, path.length - 1);
    if (path.length === 0 && (op === Operation.Set || op === Operation.Delete))
      throw new AccessDeniedError('this operation needs a member name');
    let holder = target;
    for (let i = 0; i < steps; i++) {
      const stub = stubStateOf(holder);
      if (stub !== undefined) return forward(stub, op, path.slice(i), args);
      holder = access(Operation.Get, holder, path[i], policy);
      // An async getter in the middle of a path: continue once it settles.
      if (holder instanceof Promise && i + 1 < path.length) {
        const rest = path.slice(i + 1);
        return holder.then((value) => this.#operate(op, value, rest, args));
      }
    }
    const stub = stubStateOf(holder);
    if (stub !== undefined) return forward(stub, op, path.slice(steps), args);
    switch (op) {
      case Operation.Get:
        return holder;
      case Operation.Iterate:
        return this.#iterateLocal(holder, args);
      case Operation.List:
        return access(op, holder, undefined, policy);
      case Operation.Call:
        return access(op, holder, path.length === 0 ? undefined : path[steps], policy, args);
      default:
        return access(op, holder, path[steps], policy, args);
    }
  }

  #iterateLocal(holder: unknown, args: unknown[]): Promise<unknown> {
    const batch = clampBatch(args[0], this.settings.iterationBatchSize);
    let handle: IteratorHandle;
    let fresh = false;
    if (isIteratorHandle(holder)) handle = holder;
    else {
      const iterator = access(Operation.Iterate, holder, undefined, this.settings);
      if ((typeof iterator !== 'object' && typeof iterator !== 'function') || iterator === null)
        throw new TypeError('the iterator method did not return an iterator');
      handle = new IteratorHandle(iterator as Iterator<unknown>);
      fresh = true;
    }
    return handle._pull(batch).then(({ items, done }) => {
      if (fresh && done) return { items, done, handle: null };
      return fresh ? { items, done, handle } : { items, done };
    });
  }

  #settleAnswer(answer: Answer, state: number, value: unknown): void {
    if (answer.state === 0) this.#doneServing();
    answer.settle(state, value);
    if (answer.cancelled || this.#state === 3) return;
    this.#exports.begin();
    try {
      if (state === 1) {
        this.#sendMessage([
          MSG_RESOLVE,
          answer.qid,
          toWire(value, this, this.settings.maxDepth - 2),
        ]);
      } else {
        this.#sendMessage([
          MSG_REJECT,
          answer.qid,
          errorToWire(value, this, this.settings.maxDepth - 2),
        ]);
      }
      this.#exports.commit();
    } catch (error) {
      this.#exports.rollback();
      // The result could not be sent (unsupported value, too large, a cause that fails to
      // encode): the caller learns why instead of waiting for its timeout.
      if (this.#state === 3) return;
      answer.state = 2;
      answer.value = error;
      try {
        this.#sendMessage([MSG_REJECT, answer.qid, errorToWire(error, this, 0)]);
      } catch {
        // Only a closing transport fails a small message; the close settles the caller.
      }
    }
  }

  #onHousekeeping(finishes: unknown, releases: unknown): void {
    if (Array.isArray(finishes))
      for (const qid of finishes) if (typeof qid === 'number') this.#answers.delete(qid);
    if (Array.isArray(releases)) {
      for (let i = 0; i + 1 < releases.length; i += 2) {
        const id = releases[i];
        const count = releases[i + 1];
        if (typeof id === 'number' && typeof count === 'number') this.#releaseExport(id, count);
      }
    }
  }

  #releaseExport(id: number, count: number): void {
    const dropped = this.#exports.release(id, count);
    if (dropped !== undefined) this.#disposeExport(dropped);
  }

  #disposeExport(value: object): void {
    if (!isIteratorHandle(value) && !this.settings.disposeOnRelease) return;
    try {
      const result = isIteratorHandle(value)
        ? value._close()
        : access(Operation.Dispose, value, undefined, this.settings);
      if (result instanceof Promise) result.catch(() => {});
    } catch {
      // A failing dispose of the owner's object is the owner's concern, not the peer's.
    }
  }

  // ---------------------------------------------------------------- RefHost

  encodeStub(value: unknown): unknown {
    const state = stubStateOf(value);
    if (state === undefined) return NOT_STUB;
    if (state.host !== this) return [TAG_EXPORT, this.exportRef(state.proxy)];
    if (state.kind === STUB_ANSWER) {
      const q = state.question!;
      if (q.settled) {
        if (!q.ok) throw new TypeError('cannot send the result of a failed call');
        const resolved = stubStateOf(q.value);
        if (state.path.length === 0) return toWire(q.value, this, this.settings.maxDepth);
        if (resolved !== undefined) return this.encodeStub(resolved.child(state.path[0]!));
        throw new TypeError('await the property before sending it');
      }
      return state.path.length === 0
        ? [TAG_ANSWER, q.qid]
        : [TAG_ANSWER, q.qid, state.path as string[]];
    }
    if (state.released) throw new ConnectionClosedError('the stub was released');
    return state.path.length === 0
      ? [TAG_IMPORT, state.id]
      : [TAG_IMPORT, state.id, state.path as string[]];
  }

  exportRef(value: object): number {
    return this.#exports.add(value);
  }

  importRef(id: number): unknown {
    const live = this.#imports.take(id);
    if (live !== undefined) return live;
    const state = new StubState(this, STUB_IMPORT, id, undefined, EMPTY_PATH, undefined);
    this.#imports.add(id, state.proxy);
    return state.proxy;
  }

  localRef(id: number, path: readonly string[] | undefined): unknown {
    const value = this.#exports.get(id);
    if (value === undefined) throw new ProtocolError('reference to an object that is not exported');
    if (path === undefined || path.length === 0) return value;
    // The path goes through the gate on the peer's behalf; a refusal fails the request
    // that carried it, not the connection.
    let resolved: unknown;
    try {
      resolved = this.#operate(Operation.Get, value, path, EMPTY_ARGS);
    } catch (error) {
      resolved = Promise.reject(error);
    }
    if (resolved instanceof Promise) {
      resolved.catch(() => {});
      this.#pendingArgs ??= [];
      this.#pendingArgs.push(resolved);
    }
    return resolved;
  }

  answerRef(qid: number, path: readonly string[] | undefined): unknown {
    const answer = this.#answers.get(qid);
    if (answer === undefined) throw new ProtocolError('reference to an unknown call result');
    const value =
      path === undefined || path.length === 0
        ? answer.whenSettled()
        : answer.whenSettled().then((v) => {
            const r = this.#operate(Operation.Get, v, path, EMPTY_ARGS);
            return r;
          });
    value.catch(() => {});
    this.#pendingArgs ??= [];
    this.#pendingArgs.push(value);
    return value;
  }

  // ---------------------------------------------------------------- our calls

  /** Sends a request on behalf of a stub; returns the question. */
  request(
    state: StubState,
    op: Operation,
    args: readonly unknown[] | null,
    path?: readonly string[],
  ): Question {
    const options = state.options;
    if (this.#state === 3) return failed(this.#closedError());
    if (state.released) return failed(new ConnectionClosedError('the stub was released'));
    let targetKind = TARGET_EXPORT;
    let targetId = state.id;
    const fullPath = path ?? state.path;
    if (state.kind === STUB_ANSWER) {
      const q = state.question!;
      if (q.settled) return this.#requestOnSettled(q, op, args, fullPath, options);
      targetKind = TARGET_ANSWER;
      targetId = q.qid;
    }
    if (options?.signal?.aborted === true) return failed(options.signal.reason);
    if (this.#questions.size >= this.settings.maxPendingCalls)
      return failed(
        new LimitExceededError(`more than ${this.settings.maxPendingCalls} calls pending`),
      );
    const qid = this.#nextQid++;
    const holder = state.base ?? state;
    const question = new Question(qid, holder);
    let wireArgs: unknown[] | null = null;
    this.#exports.begin();
    try {
      if (args !== null) {
        wireArgs = new Array(args.length);
        for (let i = 0; i < args.length; i++)
          wireArgs[i] = toWire(args[i], this, this.settings.maxDepth - 3);
      }
    } catch (error) {
      this.#exports.rollback();
      question.settle(false, error);
      return question;
    }
    const timeout = options?.timeout ?? this.settings.timeout;
    const message: unknown[] = [
      MSG_REQUEST,
      qid,
      op,
      targetKind,
      targetId,
      fullPath.length === 0 ? null : fullPath,
      wireArgs,
      timeout,
    ];
    const finishes = this.#finishes;
    const releases = this.#releases;
    if (finishes.length > 0 || releases.length > 0) {
      message.push(finishes, releases);
      this.#finishes = [];
      this.#releases = [];
    }
    this.#questions.set(qid, question);
    holder.inflight++;
    if (timeout > 0 && Number.isFinite(timeout)) {
      question.deadline = this.#io.now() + timeout;
      if (question.deadline < this.#armedDeadline) {
        this.#armedDeadline = question.deadline;
        this.#io.armTimer(question.deadline);
      }
    }
    const signal = options?.signal;
    if (signal !== undefined) {
      const onAbort = () => this.#cancelQuestion(question, signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      question.abortCleanup = () => signal.removeEventListener('abort', onAbort);
    }
    try {
      this.#sendMessage(message);
      this.#exports.commit();
    } catch (error) {
      this.#exports.rollback();
      // The housekeeping that was to ride along waits for the next message instead.
      if (message.length > 8) {
        this.#finishes.push(...finishes);
        this.#releases.push(...releases);
        this.#scheduleFlush();
      }
      this.#questions.delete(qid);
      this.#settleQuestion(question, false, error);
    }
    return question;
  }

  #requestOnSettled(
    q: Question,
    op: Operation,
    args: readonly unknown[] | null,
    path: readonly string[],
    options: CallOptions | undefined,
  ): Question {
    if (!q.ok) return failed(q.value);
    // The call already resolved: follow the path locally through values, then into a stub.
    let holder: unknown = q.value;
    for (let i = 0; i < path.length; i++) {
      const stub = stubStateOf(holder);
      if (stub !== undefined) {
        const rest = [...stub.path, ...path.slice(i)];
        const target = options ? stubStateOf(stub.withOptions(options))! : stub;
        // A reference that came home may be a stub of another connection.
        return (target.host as Session).request(target, op, args, rest);
      }
      const step = path[i]!;
      if (
        typeof holder !== 'object' ||
        holder === null ||
        step === '__proto__' ||
        !Object.hasOwn(holder, step)
      )
        return failed(new AccessDeniedError(`no property "${step}" in the call result`));
      holder = (holder as Record<string, unknown>)[step];
    }
    const stub = stubStateOf(holder);
    if (stub !== undefined) {
      const target = options ? stubStateOf(stub.withOptions(options))! : stub;
      return (target.host as Session).request(target, op, args, stub.path);
    }
    if (op === Operation.Get) {
      const done = new Question(0, undefined);
      done.settle(true, holder);
      return done;
    }
    return failed(
      new TypeError(
        `the call result is not a remote ${op === Operation.Call ? 'function' : 'object'}`,
      ),
    );
  }

  #onReply(m: unknown[]): void {
    const qid = m[1];
    if (typeof qid !== 'number') throw new ProtocolError('bad reply id');
    const question = this.#questions.get(qid);
    if (question === undefined) {
      // A late reply to a call we gave up on: decode it so references get released by GC.
      if (m[0] === MSG_RESOLVE) fromWire(m[2], this);
      return;
    }
    this.#questions.delete(qid);
    this.#finishes.push(qid);
    this.#scheduleFlush();
    let ok = m[0] === MSG_RESOLVE;
    let value: unknown;
    try {
      value = ok ? fromWire(m[2], this) : errorFromWire(m[2], this, true);
    } catch (error) {
      ok = false;
      value = error;
      this.#settleQuestion(question, ok, value);
      throw error;
    }
    this.#settleQuestion(question, ok, value);
  }

  #settleQuestion(question: Question, ok: boolean, value: unknown): void {
    const hold = question.hold;
    question.settle(ok, value);
    if (hold !== undefined) {
      hold.inflight--;
      question.hold = undefined;
      if (hold.inflight === 0 && hold.releaseWanted) this.release(hold);
    }
  }

  #cancelQuestion(question: Question, reason: unknown): void {
    if (question.settled || !this.#questions.has(question.qid)) return;
    this.#questions.delete(question.qid);
    if (this.#state !== 3) {
      try {
        this.#sendMessage([MSG_CANCEL, question.qid]);
      } catch {
        // The connection is going away; the local rejection below is what matters.
      }
    }
    this.#settleQuestion(question, false, reason);
  }

  /** Rejects every call whose deadline passed; returns the next deadline. */
  expire(now: number): void {
    this.#armedDeadline = Number.POSITIVE_INFINITY;
    let next = Number.POSITIVE_INFINITY;
    const expired: Question[] = [];
    for (const question of this.#questions.values()) {
      if (question.deadline === 0) continue;
      if (question.deadline <= now) expired.push(question);
      else if (question.deadline < next) next = question.deadline;
    }
    for (const question of expired)
      this.#cancelQuestion(question, new TimeoutError('the call timed out'));
    if (next !== Number.POSITIVE_INFINITY) {
      this.#armedDeadline = next;
      this.#io.armTimer(next);
    }
  }

  // ---------------------------------------------------------------- StubHost

  call(state: StubState, args: unknown[]): unknown {
    const question = this.request(state, Operation.Call, args);
    return new StubState(this, STUB_ANSWER, 0, question, EMPTY_PATH, state.options).proxy;
  }

  promiseOf(state: StubState): Promise<unknown> {
    if (state.kind === STUB_ANSWER && state.path.length === 0) return state.question!.promise();
    // Every await of a property path reads it afresh: a cached promise would go stale.
    return this.request(state, Operation.Get, null).promise();
  }

  /** Sends a set or delete for a path stub. */
  mutate(state: StubState, op: Operation, args: unknown[] | null): Promise<unknown> {
    return this.request(state, op, args).promise();
  }

  iterate(state: StubState): AsyncIterator<unknown> {
    return remoteIterator(this, state, this.settings.iterationBatchSize);
  }

  release(state: StubState): void {
    if (state.kind === STUB_ANSWER) {
      const q = state.question!;
      const inner = q.settled && q.ok ? stubStateOf(q.value) : undefined;
      if (inner !== undefined && state.path.length === 0) this.release(inner);
      return;
    }
    // A stub made by withOptions() stands for the same reference as its base.
    if (state.base !== undefined && state.path.length === 0) {
      this.release(state.base);
      return;
    }
    if (state.path.length > 0 || state.released || state.id === 0 || state.host !== this) return;
    if (state.inflight > 0) {
      state.releaseWanted = true;
      return;
    }
    state.released = true;
    this.#imports.drop(state.id, state.proxy);
  }

  describe(state: StubState): string {
    const path = state.path.length === 0 ? '' : `.${state.path.join('.')}`;
    const base = state.kind === STUB_ANSWER ? `result#${state.question!.qid}` : `ref#${state.id}`;
    return `[RemoteStub ${base}${path}]`;
  }

  #queueRelease(id: number, count: number): void {
    if (this.#state === 3) return;
    this.#releases.push(id, count);
    this.#scheduleFlush();
  }

  // ---------------------------------------------------------------- housekeeping, io

  #scheduleFlush(): void {
    // Finishes and releases ride on the next request; a lone one waits a little for one.
    const urgent = this.#finishes.length + this.#releases.length >= URGENT_HOUSEKEEPING;
    if (this.#flushScheduled && !urgent) return;
    this.#flushScheduled = true;
    this.#io.scheduleFlush(urgent);
  }

  /** Sends queued finishes and releases that no request carried. */
  flush(): void {
    this.#flushScheduled = false;
    if (this.#state === 3 || (this.#finishes.length === 0 && this.#releases.length === 0)) return;
    const message = [MSG_HOUSEKEEPING, this.#finishes, this.#releases];
    this.#finishes = [];
    this.#releases = [];
    try {
      this.#sendMessage(message);
    } catch {
      // Closing; the peer drops its tables anyway.
    }
  }

  #doneServing(): void {
    if (this.#state === 3) return;
    this.#serving--;
    if (this.#serving === 0 && this.#drainWaiters.length > 0) {
      const waiters = this.#drainWaiters;
      this.#drainWaiters = [];
      for (const w of waiters) w();
    }
  }

  /** Resolves once no request of the peer is being served (at once if none is). */
  drain(): Promise<void> {
    if (this.#serving === 0 || this.#state === 3) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  ping(): Promise<number> {
    if (this.#state === 3) return Promise.reject(this.#closedError());
    const id = this.#nextPing++;
    const started = this.#io.now();
    return new Promise((resolve) => {
      this.#pings.set(id, () => resolve(this.#io.now() - started));
      this.#sendMessage([MSG_PING, id]);
    });
  }

  #sendMessage(message: unknown[]): void {
    this.#messagesSent++;
    this.#io.send(this.#codec.encode(message));
  }

  #closedError(): ConnectionClosedError {
    return new ConnectionClosedError('connection closed', { cause: this.#closeError });
  }

  /** Closes the session because of `error` (a protocol violation or local decision). */
  fail(error: Error): void {
    if (this.#state === 3) return;
    if (error instanceof ProtocolError && !error.message.startsWith('the peer aborted')) {
      try {
        this.#sendMessage([MSG_ABORT, error.code, error.message]);
      } catch {
        // Best effort: the transport is closed next anyway.
      }
    }
    this.closed_(error);
    this.#io.close(error);
  }

  /** The transport closed (or we close it): settle everything at once. */
  closed_(error: Error | undefined): void {
    if (this.#state === 3) return;
    this.#state = 3;
    this.#closeError = error;
    this.#helloWaiters?.reject(
      error ?? new ConnectionClosedError('connection closed during the protocol handshake'),
    );
    this.#helloWaiters = undefined;
    const closedError = this.#closedError();
    const questions = [...this.#questions.values()];
    this.#questions.clear();
    for (const q of questions) this.#settleQuestion(q, false, closedError);
    for (const answer of this.#answers.values()) answer.cancel();
    this.#answers.clear();
    this.#serving = 0;
    const drained = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const w of drained) w();
    for (const value of this.#exports.clear()) this.#disposeExport(value);
    this.#imports.clear();
    this.#pings.clear();
    this.#buffered = [];
  }

  /** Numbers for tests and monitoring. */
  stats(): {
    exports: number;
    imports: number;
    questions: number;
    answers: number;
    serving: number;
    requestsSent: number;
    messagesSent: number;
  } {
    return {
      serving: this.#serving,
      requestsSent: this.#nextQid - 1,
      messagesSent: this.#messagesSent,
      exports: this.#exports.size,
      imports: this.#imports.size,
      questions: this.#questions.size,
      answers: this.#answers.size,
    };
  }
}

const EMPTY_PATH: readonly string[] = Object.freeze([]);
const EMPTY_ARGS: unknown[] = [];

function failed(error: unknown): Question {
  const question = new Question(0, undefined);
  question.settle(false, error);
  return question;
}

function substitute(args: unknown[], waits: Promise<unknown>[], values: unknown[]): unknown[] {
  return args.map((a) => {
    const i = waits.indexOf(a as Promise<unknown>);
    return i >= 0 ? values[i] : a;
  });
}

/** Performs an operation of the peer on a stub of another connection (a forwarded reference). */
function forward(
  stub: StubState,
  op: Operation,
  path: readonly string[],
  args: unknown[],
): unknown {
  const host = stub.host as Session;
  const fullPath = [...stub.path, ...path];
  if (op === Operation.Call) return host.request(stub, op, args, fullPath).promise();
  return host.request(stub, op, op === Operation.Get ? null : args, fullPath).promise();
}
