/**
 * The RPC session: a sans-IO state machine (docs/design.md §3; the wire in docs/protocol.md). It
 * is fed decoded bytes with `receive()` and the passing of time with `expire()`, and it
 * asks its driver (`connection.ts`) to send bytes, arm the one deadline timer, schedule a
 * housekeeping flush and close. It owns the four tables of a connection: questions (our
 * calls in flight, `asking.ts`), answers (the peer's calls, kept until the peer finishes
 * them so they can be pipelined on, `serving.ts`), exports (our objects the peer holds,
 * refcounted) and imports (the peer's objects we hold, one stub each, released by GC or
 * explicitly, the releases batched by `housekeeping.ts`). This file is the protocol state
 * machine itself: hello, dispatch of each message kind, references, close.
 */
import { type AccessPolicy, Operation } from './access-gate.js';
import { Asking, EMPTY_PATH } from './asking.js';
import {
  type BudgetAccount,
  BudgetKind,
  overBudget,
  returnReferences,
  UNLIMITED_ACCOUNT,
} from './budget.js';
import { ByteSource, remoteByteStream } from './byte-stream.js';
import type { Codec } from './codec.js';
import type { Connection } from './connection.js';
import { ConnectionClosedError, type LimitExceededError, ProtocolError } from './errors.js';
import { ExportTable } from './export-table.js';
import { Housekeeping } from './housekeeping.js';
import { ImportTable } from './import-table.js';
import { remoteIterator } from './iteration.js';
import { type KeepaliveSettings, Liveness } from './liveness.js';
import {
  MSG_ABORT,
  MSG_CANCEL,
  MSG_HELLO,
  MSG_HOUSEKEEPING,
  MSG_PING,
  MSG_PONG,
  MSG_REJECT,
  MSG_REQUEST,
  MSG_RESOLVE,
} from './message-kinds.js';
import { joinPieces } from './message-parts.js';
import {
  type ErrorClass,
  NOT_STUB,
  type RefHost,
  TAG_ANSWER,
  TAG_EXPORT,
  TAG_IMPORT,
  toWire,
} from './serialize.js';
import { Serving } from './serving.js';
import {
  type Question,
  resultStub,
  STUB_ANSWER,
  STUB_IMPORT,
  type StubHost,
  StubState,
  stubStateOf,
} from './stub.js';

/** Version of the wire protocol spoken by this build. */
export const PROTOCOL_VERSION = 1;
const PROTOCOL_NAME = 'keyway-rpc';

/**
 * Limits and policy of one session, all resolved to values. Sessions with the same
 * options may share one settings object: nothing here belongs to one connection.
 */
export interface SessionSettings extends AccessPolicy {
  timeout: number;
  maxDepth: number;
  maxPendingCalls: number;
  maxPipelineDepth: number;
  maxLiveReferences: number;
  includeRemoteStack: boolean;
  errorClasses: ReadonlyMap<string, ErrorClass>;
  iterationBatchSize: number;
  /** Bytes of each stream of the peer we let be in flight (our read-ahead window). */
  streamWindowBytes: number;
  /** Most bytes we send in one answer to a read of one of our streams. */
  streamChunkBytes: number;
  /** Probing of a quiet peer; `undefined` when off. */
  keepalive?: KeepaliveSettings | undefined;
}

/** What the session needs from its driver. */
export interface SessionIO {
  send(bytes: Uint8Array): void;
  /**
   * Optional: sends the pieces of one message with out-of-line parts (their concatenation
   * is the message) without joining them; without it they are joined for `send`.
   */
  sendParts?(pieces: Uint8Array[]): void;
  close(error: Error | undefined): void;
  armTimer(deadline: number): void;
  /** The current time in milliseconds (the driver's clock; tests may fake it). */
  now(): number;
  /** Flush soon: `urgent` on the next turn of the event loop, else within a short delay. */
  scheduleFlush(urgent: boolean): void;
}

/** The RPC state machine of one connection. */
export class Session implements RefHost, StubHost {
  readonly settings: SessionSettings;
  /** This connection's account in the server's budget (unlimited without one). */
  readonly budget: BudgetAccount;
  readonly includeRemoteStack: boolean;
  readonly errorClasses: ReadonlyMap<string, ErrorClass>;
  readonly #codec: Codec;
  readonly #io: SessionIO;
  /** 0 waiting for hello, 1 hello received (buffering until ready), 2 ready, 3 closed. */
  #state = 0;
  #closeError: Error | undefined;
  // Requests that arrive between the hello and onConnect's end; made only if any do.
  #buffered: unknown[][] | undefined;
  #bufferedSizes: number[] | undefined;
  /** Set when the budget refused a reference in the message being decoded. */
  #importRefusal: LimitExceededError | undefined;
  #helloWaiters: { resolve: () => void; reject: (e: Error) => void } | undefined;

  readonly #exports: ExportTable;
  readonly #imports: ImportTable;
  /** The peer's root (import 0), made when first used: a server seldom calls its client. */
  #rootStub: StubState | undefined;
  readonly #housekeeping: Housekeeping;
  /** Our calls to the peer, made with the first: a server seldom calls its client. */
  #asking: Asking | undefined;
  readonly #serving: Serving;

  readonly #liveness: Liveness;
  #messagesSent = 0;

  constructor(
    codec: Codec,
    io: SessionIO,
    settings: SessionSettings,
    budget: BudgetAccount = UNLIMITED_ACCOUNT,
  ) {
    this.#codec = codec;
    this.#io = io;
    this.settings = settings;
    this.budget = budget;
    this.includeRemoteStack = settings.includeRemoteStack;
    this.errorClasses = settings.errorClasses;
    this.#exports = new ExportTable(settings.maxLiveReferences, budget);
    this.#housekeeping = new Housekeeping(this, io);
    this.#serving = new Serving(this, settings, this.#exports);
    this.#liveness = new Liveness(this, io, settings.keepalive);
    this.#imports = new ImportTable(settings.maxLiveReferences, this.#housekeeping, budget);
  }

  #asker(): Asking {
    this.#asking ??= new Asking(this, this.#io, this.settings, this.#exports, this.#housekeeping);
    return this.#asking;
  }

  /** The stub for the peer's root; import 0 for good: receiving it again yields this one. */
  get rootStub(): StubState {
    this.#rootStub ??= new StubState(this, STUB_IMPORT, 0, undefined, EMPTY_PATH, undefined);
    return this.#rootStub;
  }

  /** Attaches the facade (the session is built before it). */
  attach(connection: Connection): void {
    this.#serving.attach(connection);
  }

  get closed(): boolean {
    return this.#state === 3;
  }

  /** Sends our hello; resolves when the peer's hello arrives and matches. */
  start(): Promise<void> {
    const ready = new Promise<void>((resolve, reject) => {
      this.#helloWaiters = { resolve, reject };
    });
    this.send([MSG_HELLO, PROTOCOL_NAME, PROTOCOL_VERSION]);
    return ready;
  }

  /** Installs the local root and starts answering the peer. */
  ready(root: object): void {
    this.#exports.setRoot(root);
    if (this.#state !== 1) return;
    this.#state = 2;
    const buffered = this.#buffered;
    const sizes = this.#bufferedSizes;
    this.#buffered = undefined;
    this.#bufferedSizes = undefined;
    if (buffered === undefined || sizes === undefined) return;
    try {
      for (let i = 0; i < buffered.length; i++) {
        if (this.#state !== 2) break;
        this.#dispatch(buffered[i]!, sizes[i]!);
      }
    } catch (error) {
      this.fail(
        error instanceof ProtocolError ? error : new ProtocolError('bad message', { cause: error }),
      );
    }
  }

  // ---------------------------------------------------------------- incoming bytes

  /** Feeds one message from the transport. Violations close the session. */
  receive(bytes: Uint8Array, parts?: Uint8Array[]): void {
    if (this.#state === 3) return;
    this.#liveness.heard();
    try {
      const message = this.#codec.decode(bytes, parts);
      const size = this.#codec.decodedSize;
      if (!Array.isArray(message) || typeof message[0] !== 'number')
        throw new ProtocolError('message is not a tagged array');
      if (this.#state === 0) {
        this.#onHello(message);
      } else if (this.#state === 1) {
        // Requests wait for onConnect; replies flow, so onConnect may call the peer.
        if (message[0] !== MSG_REQUEST && message[0] !== MSG_CANCEL) this.#dispatch(message, size);
        else if ((this.#buffered?.length ?? 0) >= this.settings.maxPendingCalls)
          throw new ProtocolError('too many messages before the session was ready');
        else {
          this.#buffered ??= [];
          this.#bufferedSizes ??= [];
          this.#buffered.push(message);
          this.#bufferedSizes.push(size);
        }
      } else {
        this.#dispatch(message, size);
      }
    } catch (error) {
      this.fail(
        error instanceof ProtocolError ? error : new ProtocolError('bad message', { cause: error }),
      );
    }
  }

  #onHello(message: unknown[]): void {
    if (message[0] === MSG_ABORT) {
      this.#dispatch(message, 0);
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
    this.#liveness.start();
    this.#helloWaiters?.resolve();
    this.#helloWaiters = undefined;
  }

  /** Handles one message; `size` is its estimated decoded size (`Codec.decodedSize`). */
  #dispatch(m: unknown[], size: number): void {
    this.#importRefusal = undefined;
    switch (m[0]) {
      case MSG_REQUEST:
        // What rides on a request was queued before it was made: applied first, the
        // answers it finishes no longer count against the limits this request is held to
        // (maxPendingCalls and the budget).
        if (m.length > 8) this.#serving.housekeeping(m[8], m[9]);
        this.#serving.request(m, size);
        return;
      case MSG_RESOLVE:
      case MSG_REJECT:
        this.#asker().reply(m);
        return;
      case MSG_HOUSEKEEPING:
        this.#serving.housekeeping(m[1], m[2]);
        // Sent alone, it had no request to ride on: the peer is quiet for now.
        this.#serving.compact();
        return;
      case MSG_CANCEL:
        this.#serving.cancel(m[1]);
        return;
      case MSG_PING:
        this.send([MSG_PONG, m[1]]);
        return;
      case MSG_PONG:
        this.#liveness.pong(m[1]);
        return;
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
    if (id === 0) return this.rootStub.proxy;
    const live = this.#imports.take(id);
    if (live !== undefined) return live;
    if (this.#importRefusal === undefined) {
      const state = new StubState(this, STUB_IMPORT, id, undefined, EMPTY_PATH, undefined);
      if (this.#imports.add(id, state.proxy)) return state.proxy;
      this.#importRefusal = overBudget(BudgetKind.References);
    }
    // Over budget: the peer counted this reference as ours, so it gets it back at once, and
    // whoever decodes this message fails it with takeImportRefusal().
    this.#housekeeping.release(id, 1);
    return undefined;
  }

  /**
   * The error when the budget refused a reference in the value just decoded (which then
   * holds `undefined` in its place and must not be used), else `undefined`.
   */
  takeImportRefusal(): LimitExceededError | undefined {
    const refusal = this.#importRefusal;
    this.#importRefusal = undefined;
    return refusal;
  }

  /** Gives back the references in `raw` (a refused request's arguments) unread. */
  returnReferences(raw: unknown): void {
    returnReferences(raw, (id) => this.#housekeeping.release(id, 1));
  }

  exportStream(stream: ReadableStream<unknown>): number {
    const source = new ByteSource(stream);
    try {
      return this.#exports.add(source);
    } catch (error) {
      // Refused (too many exports): the stream is cancelled, not left locked and unread.
      source._close();
      throw error;
    }
  }

  importStream(id: number): unknown {
    const state = stubStateOf(this.importRef(id))!;
    return remoteByteStream(
      this,
      state,
      this.settings.streamWindowBytes,
      this.settings.streamChunkBytes,
    );
  }

  localRef(id: number, path: readonly string[] | undefined): unknown {
    return this.#serving.localRef(id, path);
  }

  answerRef(qid: number, path: readonly string[] | undefined): unknown {
    return this.#serving.answerRef(qid, path);
  }

  discardRef(value: unknown): void {
    const state = stubStateOf(value);
    if (state === undefined || state.host !== this || state.kind !== STUB_IMPORT) return;
    if (state.path.length > 0) return;
    if (this.#imports.giveBack(state.id, state.proxy)) state.released = true;
  }

  // ---------------------------------------------------------------- StubHost

  /** Sends a request on behalf of a stub; returns the question. */
  request(
    state: StubState,
    op: Operation,
    args: readonly unknown[] | null,
    path?: readonly string[],
  ): Question {
    return this.#asker().request(state, op, args, path);
  }

  /** Gives up a request in flight (the peer is told); it fails locally with `reason`. */
  cancelRequest(question: Question, reason: unknown): void {
    this.#asking?.cancel(question, reason);
  }

  call(state: StubState, args: unknown[]): unknown {
    const question = this.#asker().request(state, Operation.Call, args);
    return resultStub(this, question, state.options);
  }

  promiseOf(state: StubState): Promise<unknown> {
    if (state.kind === STUB_ANSWER && state.path.length === 0) return state.question!.promise();
    // Every await of a property path reads it afresh: a cached promise would go stale.
    return this.#asker().request(state, Operation.Get, null).promise();
  }

  /** Sends a set or delete for a path stub. */
  mutate(state: StubState, op: Operation, args: unknown[] | null): Promise<unknown> {
    return this.#asker().request(state, op, args).promise();
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

  // ---------------------------------------------------------------- time, io, lifecycle

  /**
   * Rejects every call and ping whose deadline passed, probes or closes a silent peer,
   * and arms the timer for the next deadline.
   */
  expire(now: number): void {
    this.#asking?.expire(now);
    if (this.#state !== 3) this.#liveness.expire(now);
  }

  /** Sends queued finishes and releases that no request carried. */
  flush(): void {
    this.#housekeeping.flush();
    this.#asking?.compact();
  }

  /** Resolves once no request of the peer is being served (at once if none is). */
  drain(): Promise<void> {
    return this.#serving.drain();
  }

  /**
   * Measures one round trip to the peer.
   * @param timeout Milliseconds to wait for the answer; 0 waits for ever.
   */
  ping(timeout: number): Promise<number> {
    if (this.#state === 3) return Promise.reject(this.closedError());
    return this.#liveness.ping(timeout);
  }

  /** Encodes and sends one message (for this session's asking, serving and housekeeping). */
  send(message: unknown[]): void {
    this.#messagesSent++;
    const encoded = this.#codec.encodeParts(message);
    if (encoded instanceof Uint8Array) this.#io.send(encoded);
    else if (this.#io.sendParts !== undefined) this.#io.sendParts(encoded);
    else this.#io.send(joinPieces(encoded));
  }

  /** Why the session closed (`undefined` while open or after a clean close). */
  get closeError(): Error | undefined {
    return this.#closeError;
  }

  /** The error calls fail with once the session is closed. */
  closedError(): ConnectionClosedError {
    return new ConnectionClosedError('connection closed', { cause: this.#closeError });
  }

  /** Closes the session because of `error` (a protocol violation or local decision). */
  fail(error: Error): void {
    if (this.#state === 3) return;
    if (error instanceof ProtocolError && !error.message.startsWith('the peer aborted')) {
      try {
        this.send([MSG_ABORT, error.code, error.message]);
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
    this.#asking?.close(this.closedError());
    this.#serving.close();
    this.#imports.clear();
    this.#liveness.close(this.closedError());
    this.#buffered = undefined;
    this.#bufferedSizes = undefined;
    this.budget.close();
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
      serving: this.#serving.serving,
      requestsSent: this.#asking?.sent ?? 0,
      messagesSent: this.#messagesSent,
      exports: this.#exports.size,
      imports: this.#imports.size,
      questions: this.#asking?.pending ?? 0,
      answers: this.#serving.answers,
    };
  }
}
